"""Metadata editing: set/remove, normalisation, history, and the edit_metadata tool on JSON files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from state.models import Provenance
from tools.pure.metadata import NormaliseOp, RecordOp, edit, normalise, record_history, snake_case
from tools.pure.patching import RemoveField, SetField
from tools.registry import ToolError, Workspace, call


@pytest.mark.parametrize(
    ("key", "expected"),
    [("questionText", "question_text"), ("Question Text", "question_text"), ("question-text", "question_text"),
     ("HTTPStatusCode", "http_status_code"), ("already_snake", "already_snake"), ("  Source  URL ", "source_url"),
     ("imageID2", "image_id2"), ("__private__", "private"), ("Größe", "größe")],
)
def test_snake_case(key: str, expected: str) -> None:
    assert snake_case(key) == expected


def test_normalise_renames_strips_and_sorts_declared_lists() -> None:
    meta = {"sourceURL": " http://x ", "Tags": ["b", " a", "c"], "Nested Info": {"subKey": [" z", 1, None, True]},
            "order": [3, 1, 2]}
    out = normalise(meta, sort_lists=["tags", "nested_info.sub_key"])
    assert out == {"source_url": "http://x", "tags": ["a", "b", "c"], "nested_info": {"sub_key": [None, True, 1, "z"]},
                   "order": [3, 1, 2]}
    assert list(out) == ["source_url", "tags", "nested_info", "order"]
    assert meta["Tags"] == ["b", " a", "c"]  # the input is left alone
    assert normalise(meta, snake_case_keys=False, strip_strings=False) == meta


@pytest.mark.parametrize(
    ("meta", "sort", "match"),
    [({"fooBar": 1, "foo_bar": 2}, [], "'fooBar' and 'foo_bar' both normalise to 'foo_bar'"),
     ({"!!": 1}, [], "no letters or digits"),
     ({"tags": "a"}, ["tags"], "tags is a str, not a list"),
     ({"tags": []}, ["labels"], "labels does not exist")],
)
def test_normalise_refuses_losing_values(meta: dict, sort: list, match: str) -> None:
    with pytest.raises(ToolError, match=match):
        normalise(meta, sort_lists=sort)


def test_record_history_appends_provenance() -> None:
    entry = Provenance(tool="blur_image", version="1", params={"sigma": 2.0}, inputs=["a.png"], outputs=["b.png"])
    once = record_history({"k": 1}, entry)
    twice = record_history(once, entry.model_copy(update={"tool": "jpeg_image"}))
    assert [h["tool"] for h in twice["history"]] == ["blur_image", "jpeg_image"] and len(once["history"]) == 1
    assert Provenance.model_validate(twice["history"][0]) == entry
    with pytest.raises(ToolError, match="not a history list"):
        record_history({"history": "none"}, entry)


def test_edit_applies_operations_in_order_without_touching_the_input() -> None:
    meta = {"Difficulty": " hard ", "old": 1}
    entry = Provenance(tool="edit_metadata", version="1")
    ops = [SetField(path="Extra.Note", value=" checked "), RemoveField(path="old"), NormaliseOp(),
           RecordOp(entry=entry, key="trail")]
    out = edit(meta, ops)
    assert out == {"difficulty": "hard", "extra": {"note": "checked"}, "trail": [entry.model_dump(mode="json")]}
    assert meta == {"Difficulty": " hard ", "old": 1}


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    pool = tmp_path / "pool"
    pool.mkdir()
    item = {"id": "x1", "question": "Q?", "metadata": {"sourceDataset": " demo ", "Tags": ["b", "a"]}}
    (pool / "item.json").write_text(json.dumps(item))
    (pool / "meta.json").write_text(json.dumps({"A Key": 1}))
    return Workspace(run_dir=tmp_path / "run", read_roots=(pool,))


def test_edit_metadata_tool_on_an_item(ws: Workspace) -> None:
    ops = [{"op": "normalise", "sort_lists": ["tags"]}, {"op": "set", "path": "split", "value": "test"},
           {"op": "record", "entry": {"tool": "patch_record", "version": "1", "params": {"n": 1}}}]
    result = call("edit_metadata", {"source": "item.json", "at": "metadata", "ops": ops, "out": "item2.json"}, ws)
    item = json.loads((ws.run_dir / result.outputs[0]).read_text())
    assert item["id"] == "x1" and list(item) == ["id", "question", "metadata"]
    assert item["metadata"]["source_dataset"] == "demo" and item["metadata"]["tags"] == ["a", "b"]
    assert item["metadata"]["history"][0]["tool"] == "patch_record"
    assert result.values["keys"] == ["source_dataset", "tags", "split", "history"]
    again = call("edit_metadata", {"source": "item.json", "at": "metadata", "ops": ops, "out": "item3.json"}, ws)
    assert (ws.run_dir / again.outputs[0]).read_bytes() == (ws.run_dir / result.outputs[0]).read_bytes()


def test_edit_metadata_tool_on_a_bare_file(ws: Workspace) -> None:
    result = call("edit_metadata", {"source": "meta.json", "ops": [{"op": "normalise"}], "out": "m.json"}, ws)
    assert json.loads((ws.run_dir / result.outputs[0]).read_text()) == {"a_key": 1}


@pytest.mark.parametrize(
    ("params", "match"),
    [({"at": "question"}, "question is a str, not a metadata object"), ({"at": "nothing"}, "nothing does not exist"),
     ({"at": "__class__"}, "dunder"), ({"source": "../item.json"}, "leaves its root"),
     ({"ops": [{"op": "remove", "path": "missing"}]}, "missing does not exist"),
     ({"ops": [{"op": "shout"}]}, "bad parameters for edit_metadata: ops.0"), ({"ops": []}, "at least 1")],
)
def test_edit_metadata_refusals(ws: Workspace, params: dict, match: str) -> None:
    params = {"source": "item.json", "at": "metadata", "ops": [{"op": "normalise"}], "out": "o.json", **params}
    with pytest.raises(ToolError, match=match):
        call("edit_metadata", params, ws)
