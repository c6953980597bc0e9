"""The pure-tool registry: validation, confinement, provenance, and the LangChain wrappers."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from tools.registry import TOOLS, InputPath, OutputName, ToolError, Workspace, call, langchain_tools, tool


class _UpperParams(BaseModel):
    source: InputPath
    out: OutputName
    repeat: int = 1


@pytest.fixture()
def upper_tool():
    @tool("test_upper", _UpperParams, "Upper-case a text file.")
    def upper(p: _UpperParams, ws: Workspace):
        text = ws.input(p.source).read_text().upper() * p.repeat
        target = ws.output(p.out)
        target.write_text(text)
        return [target], {"chars": len(text)}

    yield "test_upper"
    TOOLS.pop("test_upper")


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "a.txt").write_text("hello")
    (tmp_path / "secret.txt").write_text("secret")
    (pool / "link.txt").symlink_to(tmp_path / "secret.txt")
    return Workspace(run_dir=tmp_path / "run", read_roots=(pool,))


def test_call_records_provenance(upper_tool: str, ws: Workspace) -> None:
    result = call(upper_tool, {"source": "a.txt", "out": "b.txt", "repeat": 2}, ws)
    assert (ws.run_dir / "media" / "b.txt").read_text() == "HELLOHELLO"
    assert result.values == {"chars": 10} and result.outputs == ["media/b.txt"]
    assert result.provenance.inputs == ["a.txt"] and result.provenance.params["repeat"] == 2
    assert result.provenance.tool == "test_upper" and result.provenance.outputs == ["media/b.txt"]


@pytest.mark.parametrize(("source", "reason"), [("../secret.txt", "leaves its root"), ("/etc/passwd", "absolute"),
                                                ("link.txt", "leaves its root"), ("nothere.txt", "does not exist")])
def test_inputs_are_confined(upper_tool: str, ws: Workspace, source: str, reason: str) -> None:
    with pytest.raises(ToolError, match=reason):
        call(upper_tool, {"source": source, "out": "b.txt"}, ws)


def test_bad_names_and_parameters_are_refused(upper_tool: str, ws: Workspace) -> None:
    with pytest.raises(ToolError, match="unknown tool 'rm'"):
        call("rm", {}, ws)
    with pytest.raises(ToolError, match="bad parameters for test_upper: out"):
        call(upper_tool, {"source": "a.txt", "out": "../../evil.txt"}, ws)
    with pytest.raises(ToolError, match="bad parameters for test_upper: repeat"):
        call(upper_tool, {"source": "a.txt", "out": "b.txt", "repeat": "many"}, ws)


def test_langchain_wrapper_calls_the_same_tool_and_reports_errors(upper_tool: str, ws: Workspace) -> None:
    wrapped = {t.name: t for t in langchain_tools(ws)}[upper_tool]
    assert set(wrapped.args) == {"source", "out", "repeat"}
    ok = wrapped.invoke({"source": "a.txt", "out": "c.txt"})
    assert ok["outputs"] == ["media/c.txt"] and ok["provenance"]["tool"] == upper_tool
    refused = wrapped.invoke({"source": "../secret.txt", "out": "d.txt"})
    assert "leaves its root" in refused["error"]


class _Part(BaseModel):
    source: InputPath


class _NestedParams(BaseModel):
    base: InputPath
    extra: InputPath | None = None
    parts: list[_Part] = []


def test_provenance_lists_nested_and_optional_inputs() -> None:
    from tools.registry import _input_fields

    params = _NestedParams(base="a.wav", extra="n.wav", parts=[_Part(source="p1.wav"), _Part(source="p2.wav")])
    assert _input_fields(params) == ["a.wav", "n.wav", "p1.wav", "p2.wav"]
    assert _input_fields(_NestedParams(base="a.wav")) == ["a.wav"]


def test_every_registered_tool_converts_to_an_openai_tool_schema(tmp_path: Path) -> None:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    from tools.registry import registry

    wrapped = langchain_tools(Workspace(run_dir=tmp_path))
    assert {t.name for t in wrapped} == set(registry()) and len(wrapped) >= 30
    for t in wrapped:
        schema = convert_to_openai_tool(t)["function"]
        assert schema["description"] and schema["parameters"]["type"] == "object", t.name
