"""The registry of tools, pure and LLM: typed parameters, a result that records its provenance, and a
LangChain wrapper for each, so an LLM orchestrator calls exactly what the offline path calls.

An LLM tool (tools.written) makes one structured call through the workspace's LLM client and validates
the answer; its provenance adds the model, the prompt's hash (the cache key) and the tokens spent.

A tool reads only inside its workspace's read roots (the pool and the run directory) and writes only
into the run's media folder, under a sanitised name; paths in parameters are marked `InputPath` or
`OutputName` so the registry can confine them and record them in the provenance.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, get_args

from pydantic import AfterValidator, BaseModel, Field, ValidationError
from pydantic.fields import FieldInfo

from state.models import Provenance
from tools.run_store import safe_name
from tools.safety import UnsafeInputError, confine

InputPath = Annotated[str, Field(json_schema_extra={"input_path": True},
                                 description="File relative to the run directory or the pool root.")]
OutputName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$",
                                  description="File name to write in the run's media folder.")]


def output_name(*suffixes: str) -> Any:
    """An OutputName that must end in one of `suffixes`, checked before any work is done."""

    def check(name: str) -> str:
        if Path(name).suffix.lower() not in suffixes:
            raise ValueError(f"{name} must end in {' or '.join(suffixes)}")
        return name

    described = Field(description=f"File name to write in the run's media folder, ending in {', '.join(suffixes)}.")
    return Annotated[OutputName, AfterValidator(check), described]

# Modules whose import registers their tools; loaded on first use, so importing the registry is cheap.
TOOL_MODULES = (*(f"tools.pure.{name}" for name in (
    "speech", "audio", "mixing", "tts_online", "image_tools", "convert", "metadata", "decompose", "patching",
    "websearch", "asr", "piper_tts",
)), *(f"tools.written.{name}" for name in ("questions", "accounts", "dialogue", "rewrite", "faults", "vision")))
LLM_ROLE = "orchestrator"  # LLM tools run under the executor, so they use the orchestrator's model


class ToolError(ValueError):
    """A tool could not do what was asked; the message says why and, where it can, what to do."""


class ToolResult(BaseModel):
    outputs: list[str] = Field(default_factory=list, description="Files written, relative to the run dir.")
    values: dict[str, Any] = Field(default_factory=dict, description="What the tool measured or produced.")
    provenance: Provenance


@dataclass(frozen=True)
class Workspace:
    """Where tools may read and write, and the seed their randomness derives from."""

    run_dir: Path
    read_roots: tuple[Path, ...] = ()
    seed: int = 0
    llm: Any = dataclasses.field(default=None, compare=False, repr=False)  # an LLMClient, for LLM tools only

    def input(self, rel: str) -> Path:
        """The first existing file `rel` names under the run directory or a read root."""
        errors = []
        for root in (self.run_dir, *self.read_roots):
            try:
                path = confine(root, rel)
            except UnsafeInputError as exc:
                errors.append(str(exc))
                continue
            if path.is_file():
                return path
        raise ToolError(errors[0] if errors else f"{rel} does not exist in the run or the pool")

    def output(self, name: str) -> Path:
        media = self.run_dir / "media"
        media.mkdir(parents=True, exist_ok=True)
        return media / safe_name(name, 120)

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.run_dir.resolve()).as_posix()


# A pure tool is fn(params, workspace); an LLM tool is fn(params, workspace, ask) with ask(messages, schema).
ToolFn = Callable[..., tuple[list[Path], dict[str, Any]]]
Ask = Callable[[Sequence[tuple[str, Any]], type[BaseModel]], Any]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    version: str
    description: str
    params: type[BaseModel]
    fn: ToolFn
    llm: bool = False  # needs the workspace's LLM client


TOOLS: dict[str, ToolSpec] = {}


def tool(name: str, params: type[BaseModel], description: str, version: str = "1",
         llm: bool = False) -> Callable[[ToolFn], ToolFn]:
    """Register `fn(params, workspace) -> (files written, values)` under `name`; with llm=True,
    `fn(params, workspace, ask)`, where `ask(messages, schema)` is the tool's one structured LLM call."""

    def wrap(fn: ToolFn) -> ToolFn:
        if name in TOOLS:
            raise ValueError(f"tool {name!r} is registered twice")
        TOOLS[name] = ToolSpec(name, version, description, params, fn, llm)
        return fn

    return wrap


def registry() -> dict[str, ToolSpec]:
    for module in TOOL_MODULES:
        importlib.import_module(module)
    return TOOLS


def _marks_input(annotation: Any) -> bool:
    """Whether a type is InputPath, possibly inside Optional[...] or list[...]."""
    if any(isinstance(m, FieldInfo) and isinstance(m.json_schema_extra, dict) and m.json_schema_extra.get("input_path")
           for m in getattr(annotation, "__metadata__", ())):
        return True
    return any(_marks_input(arg) for arg in get_args(annotation))


def _input_fields(params: BaseModel) -> list[str]:
    """Every InputPath value in the parameters, nested models and lists included, Nones skipped."""
    out: list[str] = []
    for name, field in type(params).model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        value = getattr(params, name)
        values = value if isinstance(value, list) else [value]
        if extra.get("input_path") or _marks_input(field.annotation):
            out += [v for v in values if isinstance(v, str)]
        out += [p for v in values if isinstance(v, BaseModel) for p in _input_fields(v)]
    return out


def call(name: str, params: dict[str, Any] | BaseModel, ws: Workspace) -> ToolResult:
    """Validate, run and record one tool call. Unknown tools and bad parameters raise ToolError."""
    spec = registry().get(name)
    if spec is None:
        raise ToolError(f"unknown tool {name!r}; known: {', '.join(sorted(TOOLS))}")
    try:
        typed = spec.params.model_validate(params.model_dump() if isinstance(params, BaseModel) else params)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ToolError(f"bad parameters for {name}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    record = None
    if spec.llm:
        files, values, record = _run_llm(spec, typed, ws)
    else:
        files, values = spec.fn(typed, ws)
    outputs = [ws.relative(p) for p in files]
    return ToolResult(outputs=outputs, values=values, provenance=Provenance(
        tool=name, version=spec.version, params=typed.model_dump(mode="json"), inputs=_input_fields(typed),
        outputs=outputs, llm=record))


def _run_llm(spec: ToolSpec, params: BaseModel, ws: Workspace) -> tuple[list[Path], dict[str, Any], dict[str, Any]]:
    """Run an LLM tool with its one call recorded. Unusable output is this tool's failure (ToolError); a spent
    budget, a refused key or an endpoint that stays down are the build's, so those LLMErrors propagate."""
    if ws.llm is None:
        raise ToolError(f"{spec.name} needs an LLM; run with --llm MODEL (e.g. --llm local:smollm2)")
    from tools.llm import LLMOutputError  # here: the client layer is slow to import and pure tools never need it

    infos = []

    def ask(messages: Sequence[tuple[str, Any]], schema: type[BaseModel]) -> Any:
        if infos:
            raise ToolError(f"{spec.name} asked the LLM twice; an LLM tool makes one call, so its record is whole")
        answer, info = ws.llm.call(LLM_ROLE, spec.name, messages, schema)
        infos.append(info)
        return answer

    try:
        files, values = spec.fn(params, ws, ask)
    except LLMOutputError as exc:
        raise ToolError(f"{spec.name} got no usable answer: {exc}") from None
    return files, values, asdict(infos[0])


def langchain_tools(ws: Workspace) -> list:
    """Every registered tool as a LangChain StructuredTool bound to the workspace."""
    from langchain_core.tools import StructuredTool

    def bind(spec: ToolSpec):
        def run(**kwargs: Any) -> dict[str, Any]:
            try:
                return call(spec.name, kwargs, ws).model_dump(mode="json")
            except (ToolError, UnsafeInputError) as exc:
                return {"error": str(exc)}

        return StructuredTool.from_function(func=run, name=spec.name, description=spec.description,
                                            args_schema=spec.params)

    return [bind(spec) for spec in registry().values()]
