"""Field patching: every operation, its exact inverse (values and key order), refusals and the tool."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from tools.pure.patching import apply_patch, invert, render
from tools.registry import ToolError, Workspace, call


def same(a: Any, b: Any) -> bool:
    """Equal including key order, as the JSON written to disk would be."""
    return json.dumps(a) == json.dumps(b)


def check_roundtrip(record: dict, ops: list[dict]) -> dict:
    """Apply `ops`, check the inverse restores `record` exactly and the input was left alone."""
    before = copy.deepcopy(record)
    new, inverse = apply_patch(record, ops)
    assert same(record, before), "apply_patch modified its input"
    back, again = apply_patch(new, inverse)
    assert same(back, record)
    assert same(apply_patch(back, again)[0], new)  # the inverse's inverse redoes the patch
    return new


@pytest.fixture()
def record() -> dict:
    return {"id": "q1", "question": "  What colour is the sky?", "options": ["blue", "green", "red"],
            "answer": "A", "meta": {"source": "pool/x", "score": 0.8125, "tags": ["sky"]}}


def test_rename_keeps_position(record: dict) -> None:
    new = check_roundtrip(record, [{"op": "rename", "path": "question", "to": "prompt"},
                                   {"op": "rename", "path": "meta.source", "to": "origin"}])
    assert list(new) == ["id", "prompt", "options", "answer", "meta"] and list(new["meta"])[0] == "origin"


def test_move_into_a_new_nested_path_and_back(record: dict) -> None:
    new = check_roundtrip(record, [{"op": "move", "path": "answer", "to": "gold.label.letter"}])
    assert "answer" not in new and new["gold"] == {"label": {"letter": "A"}}
    assert invert(record, [{"op": "move", "path": "answer", "to": "gold.label.letter"}])[-1].path == "gold"
    moved = check_roundtrip(record, [{"op": "move", "path": "meta.tags", "to": "tags", "position": 0}])
    assert list(moved)[0] == "tags" and "tags" not in moved["meta"]


def test_fill_from_a_template(record: dict) -> None:
    ops = [{"op": "fill", "path": "prompt", "template": "{question} Options: {options}"},
           {"op": "fill", "path": "meta.note", "template": "from {meta.source} ({meta.score:.2f}) {missing_ok}"}]
    with pytest.raises(ToolError, match="missing_ok does not exist"):
        apply_patch(record, ops)
    ops[1]["template"] = "from {meta.source} ({meta.score:.2f})"
    new = check_roundtrip(record, ops)
    assert new["prompt"] == "  What colour is the sky? Options: blue, green, red"
    assert new["meta"]["note"] == "from pool/x (0.81)"


def test_set_replaces_in_place_or_adds_at_a_position(record: dict) -> None:
    new = check_roundtrip(record, [{"op": "set", "path": "answer", "value": {"letter": "A"}},
                                   {"op": "set", "path": "split", "value": "test", "position": 1},
                                   {"op": "set", "path": "x.y.z", "value": [1, None, True]}])
    assert list(new)[:2] == ["id", "split"] and new["answer"] == {"letter": "A"} and new["x"]["y"]["z"][2] is True


def test_set_values_are_copied(record: dict) -> None:
    value = {"k": 1}
    new, _ = apply_patch(record, [{"op": "set", "path": "extra", "value": value},
                                        {"op": "rename", "path": "extra.k", "to": "j"}])
    assert value == {"k": 1} and new["extra"] == {"j": 1}


def test_remove_and_restore_in_place(record: dict) -> None:
    new = check_roundtrip(record, [{"op": "remove", "path": "options"}, {"op": "remove", "path": "meta.score"}])
    assert "options" not in new and new["meta"] == {"source": "pool/x", "tags": ["sky"]}
    assert invert(record, [{"op": "remove", "path": "options"}])[0].position == 2


@pytest.mark.parametrize(
    ("op", "expected"),
    [({"find": "sky", "replace": "sea"}, "  What colour is the sea?"),
     ({"find": r"(\w+) is", "replace": r"is \1", "regex": True}, "  What is colour the sky?"),
     ({"find": "o", "replace": "0", "count": 1}, "  What c0lour is the sky?"),
     ({"find": r"^\s+", "replace": "", "regex": True}, "What colour is the sky?")],
)
def test_replace_segment(record: dict, op: dict, expected: str) -> None:
    new = check_roundtrip(record, [{"op": "replace_segment", "path": "question", **op}])
    assert new["question"] == expected


def test_replace_segment_edits_each_text_of_a_list(record: dict) -> None:
    new = check_roundtrip(record, [{"op": "replace_segment", "path": "options", "find": "e", "replace": "E"}])
    assert new["options"] == ["bluE", "grEEn", "rEd"]
    with pytest.raises(ToolError, match="is a float, not text"):
        apply_patch(record, [{"op": "replace_segment", "path": "meta.score", "find": "8"}])


@pytest.mark.parametrize(
    ("op", "match"),
    [({"op": "set", "path": "meta.__class__", "value": 1}, "dunder segment '__class__'"),
     ({"op": "remove", "path": "__proto__.x"}, "dunder segment"),
     ({"op": "rename", "path": "id", "to": "__init__"}, "dunder segment"),
     ({"op": "rename", "path": "id", "to": "a.b"}, "should match pattern"),
     ({"op": "fill", "path": "p", "template": "{question.__class__}"}, "attribute access refused"),
     ({"op": "fill", "path": "p", "template": "{options[0]}"}, "index access"),
     ({"op": "fill", "path": "p", "template": "{} {0}"}, "positional fields"),
     ({"op": "fill", "path": "p", "template": "{question!r}"}, "conversion"),
     ({"op": "fill", "path": "p", "template": "{question:>999999999}"}, "format spec"),
     ({"op": "fill", "path": "p", "template": "{question:{answer}}"}, "format spec"),
     ({"op": "fill", "path": "p", "template": "{question"}, "malformed"),
     ({"op": "replace_segment", "path": "question", "find": "(", "regex": True}, "not a valid regular"),
     ({"op": "set", "path": "a..b", "value": 1}, "empty segment"),
     ({"op": "explode", "path": "id"}, "does not match any of the expected tags")],
)
def test_refusals_name_the_problem(record: dict, op: dict, match: str) -> None:
    with pytest.raises(ToolError, match=match):
        apply_patch(record, [op])


@pytest.mark.parametrize(
    ("op", "match"),
    [({"op": "remove", "path": "nothere"}, "nothere does not exist"),
     ({"op": "rename", "path": "id", "to": "answer"}, "'answer' already exists"),
     ({"op": "move", "path": "meta", "to": "meta.inner"}, "into itself"),
     ({"op": "move", "path": "id", "to": "answer"}, "destination answer already exists"),
     ({"op": "set", "path": "options.first", "value": 1}, "options is a list, not an object"),
     ({"op": "fill", "path": "p", "template": "{meta.score:d}"}, "cannot format meta.score")],
)
def test_failures_leave_nothing_applied(record: dict, op: dict, match: str) -> None:
    before = copy.deepcopy(record)
    with pytest.raises(ToolError, match=match):
        apply_patch(record, [{"op": "set", "path": "touched", "value": 1}, op])
    assert same(record, before)


def test_render_refuses_templates_before_reading_the_record() -> None:
    with pytest.raises(ValueError, match="attribute access"):
        render("{x.__globals__}", {"x": "s"})
    assert render("{a} & {b.c}{n}", {"a": 1.5, "b": {"c": True}, "n": None}) == "1.5 & true"


# --- property check: random records, random operation sequences, exact inverses --------------------

KEYS = ["a", "b", "c", "q", "opts"]


def random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.choice(["int", "str", "list", "dict", "null"] if depth < 3 else ["int", "str", "null"])
    if kind == "dict":
        return {k: random_value(rng, depth + 1) for k in rng.sample(KEYS, rng.randint(0, 4))}
    if kind == "list":
        return [rng.choice(["x", "yy", "a b", "Zz"]) for _ in range(rng.randint(0, 3))]
    return {"int": rng.randint(-5, 99), "str": rng.choice(["a b a", "Ab", " x ", ""]), "null": None}[kind]


def paths(record: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in record.items():
        out.append(prefix + key)
        if isinstance(value, dict):
            out += paths(value, prefix + key + ".")
    return out


def random_op(rng: random.Random, record: dict) -> dict:
    existing = paths(record) or ["a"]
    path = rng.choice(existing)
    fresh = rng.choice(["new", f"{rng.choice(existing)}.new", "n1.n2", rng.choice(existing)])
    kind = rng.choice(["rename", "move", "set", "fill", "remove", "replace_segment"])
    if kind == "rename":
        return {"op": kind, "path": path, "to": rng.choice([*KEYS, "renamed"])}
    if kind == "move":
        return {"op": kind, "path": path, "to": fresh, "position": rng.choice([None, 0, 1])}
    if kind == "set":
        return {"op": kind, "path": rng.choice([path, fresh]), "value": random_value(rng, 1),
                "position": rng.choice([None, 0, 2])}
    if kind == "fill":
        return {"op": kind, "path": fresh, "template": f"<{{{rng.choice(existing)}}}>"}
    if kind == "remove":
        return {"op": kind, "path": path}
    return {"op": kind, "path": path, "find": rng.choice(["a", "x", r"\s+"]), "replace": "_",
            "regex": rng.random() < 0.5}


def test_random_patches_invert_exactly() -> None:
    rng = random.Random(20240601)
    applied = 0
    for _ in range(600):
        record = random_value(rng, 0) if rng.random() < 0.2 else {k: random_value(rng, 1) for k in KEYS[:4]}
        if not isinstance(record, dict):
            continue
        ops, state = [], record
        for _ in range(rng.randint(1, 6)):
            op = random_op(rng, state)
            try:
                state = apply_patch(state, [op])[0]
            except ToolError:
                continue
            ops.append(op)
        if ops:
            check_roundtrip(record, ops)
            applied += len(ops)
    assert applied > 1000


# --- the registered tool ---------------------------------------------------------------------------

@pytest.fixture()
def ws(tmp_path: Path, record: dict) -> Workspace:
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "item.json").write_text(json.dumps(record, indent=2))
    (pool / "list.json").write_text("[1, 2]")
    (pool / "bad.json").write_text("{nope")
    return Workspace(run_dir=tmp_path / "run", read_roots=(pool,))


def test_patch_record_tool_writes_the_patch_and_its_inverse(ws: Workspace, record: dict) -> None:
    ops = [{"op": "fill", "path": "prompt", "template": "{question} Options: {options}"},
           {"op": "move", "path": "answer", "to": "gold.letter"}]
    result = call("patch_record", {"record": "item.json", "ops": ops, "out": "patched.json"}, ws)
    assert result.outputs == ["media/patched.json"] and result.provenance.inputs == ["item.json"]
    patched = json.loads((ws.run_dir / "media/patched.json").read_text())
    assert patched["gold"] == {"letter": "A"}
    undo = call("patch_record", {"record": "media/patched.json", "ops": result.values["inverse"], "out": "back.json"},
                ws)
    assert same(json.loads((ws.run_dir / undo.outputs[0]).read_text()), record)
    again = call("patch_record", {"record": "item.json", "ops": ops, "out": "again.json"}, ws)
    assert (ws.run_dir / again.outputs[0]).read_bytes() == (ws.run_dir / "media/patched.json").read_bytes()


@pytest.mark.parametrize(
    ("params", "match"),
    [({"record": "list.json"}, "not an object"), ({"record": "bad.json"}, "not valid JSON"),
     ({"record": "../item.json"}, "leaves its root"), ({"out": "x.txt"}, "suffixes"),
     ({"ops": [{"op": "remove", "path": "__dict__"}]}, "bad parameters for patch_record: ops.0.remove.path")],
)
def test_patch_record_refusals(ws: Workspace, params: dict, match: str) -> None:
    params = {"record": "item.json", "ops": [{"op": "remove", "path": "id"}], "out": "p.json", **params}
    with pytest.raises(ToolError, match=match):
        call("patch_record", params, ws)


def test_deeply_nested_records_are_refused(ws: Workspace) -> None:
    (ws.read_roots[0] / "deep.json").write_text('{"a": ' + "[" * 900 + "]" * 900 + "}")
    with pytest.raises(ToolError, match="nests deeper than 64 levels"):
        call("patch_record", {"record": "deep.json", "ops": [{"op": "remove", "path": "a"}], "out": "p.json"}, ws)


def test_oversized_records_are_refused_before_parsing(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tools.pure.patching.MAX_JSON_BYTES", 50)
    with pytest.raises(ToolError, match="over the 50-byte cap"):
        call("patch_record", {"record": "item.json", "ops": [{"op": "remove", "path": "id"}], "out": "p.json"}, ws)
