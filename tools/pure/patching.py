"""Structured field patching: typed, invertible operations over a JSON record addressed by dotted paths.

`apply_patch` returns the patched copy and the operations that undo it, so any edit an agent makes to a
record can be reverted exactly, values and key order alike. Paths name object keys ("meta.source"); list
elements are values rather than addresses, which keeps every operation invertible. Templates name fields
by the same dotted paths, looked up as keys in the record, never as Python attributes or indexes.
"""

from __future__ import annotations

import copy
import json
import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, JsonValue, TypeAdapter, ValidationError, model_validator

from tools.files import write_json
from tools.registry import InputPath, OutputName, ToolError, Workspace, tool
from tools.safety import MAX_JSON_DEPTH, UnsafeInputError, check_media_file, json_depth

MAX_JSON_BYTES = 10 * 1024 * 1024
MAX_FIELD_CHARS = 100_000  # bounds the work one find/replace can do on one field
# Format specs a template may use: alignment, sign, width and precision of at most 3 digits, a type.
# Wider specs would let a template allocate gigabytes ("{x:>9999999999}").
_SPEC = re.compile(r"^[<>=^]?[+\- ]?#?0?\d{0,3}[,_]?(\.\d{1,3})?[bcdeEfFgGnosxX%]?$")


def split_path(path: str) -> list[str]:
    """A dotted path's segments; empty and dunder segments ("__class__", "__proto__") are refused."""
    parts = path.split(".")
    if any(not part for part in parts):
        raise ValueError(f"path {path!r} has an empty segment")
    for part in parts:
        if part.startswith("__") or part.endswith("__"):
            raise ValueError(f"path {path!r}: dunder segment {part!r} is refused")
    return parts


def _check_path(path: str) -> str:
    split_path(path)
    return path


def suffixed(*suffixes: str) -> AfterValidator:
    """A validator for output names that must end in one of `suffixes` (case-insensitive)."""

    def check(name: str) -> str:
        if Path(name).suffix.lower() not in suffixes:
            raise ValueError(f"{name!r} needs one of the suffixes {sorted(suffixes)}")
        return name

    return AfterValidator(check)


DottedPath = Annotated[str, Field(min_length=1, max_length=300, description="Dotted key path, e.g. 'meta.source'."),
                       AfterValidator(_check_path)]
Key = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^.]+$", description="One key, no dots."),
                AfterValidator(_check_path)]
JsonName = Annotated[OutputName, suffixed(".json")]
Position = Annotated[int | None, Field(ge=0, description="Key index for a new key in its object; default last.")]


def template_fields(template: str) -> list[tuple[str, str | None, str]]:
    """(literal, field path or None, format spec) per chunk; positional fields, conversions, index or
    attribute access and wide or nested format specs are refused."""
    try:
        chunks = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"template {template!r} is malformed: {exc}") from None
    out = []
    for literal, field, spec, conversion in chunks:
        if field is not None:
            if field == "" or field.isdigit():
                raise ValueError(f"template {template!r}: positional fields are refused; name a field")
            if "[" in field or "]" in field:
                raise ValueError(f"template {template!r}: index access {{{field}}} is refused; use a dotted path")
            try:
                split_path(field)
            except ValueError as exc:
                raise ValueError(f"template {template!r}: attribute access refused: {exc}") from None
            if conversion:
                raise ValueError(f"template {template!r}: conversion !{conversion} is refused")
            if spec and not _SPEC.match(spec):
                raise ValueError(f"template {template!r}: format spec {spec!r} is refused")
        out.append((literal, field, spec or ""))
    return out


def _check_template(template: str) -> str:
    template_fields(template)
    return template


Template = Annotated[str, Field(max_length=2000, description="Text with {dotted.path} fields, e.g. "
                                "'{question} Options: {options}'; lists render comma-separated."),
                     AfterValidator(_check_template)]


class RenameField(BaseModel):
    op: Literal["rename"] = "rename"
    path: DottedPath
    to: Key = Field(description="New key name, in the same object; its position is kept.")


class MoveField(BaseModel):
    op: Literal["move"] = "move"
    path: DottedPath
    to: DottedPath = Field(description="Destination path; missing objects on the way are created.")
    position: Position = None


class SetField(BaseModel):
    op: Literal["set"] = "set"
    path: DottedPath
    value: JsonValue = Field(description="JSON value to store (replacing any value there).")
    position: Position = None


class FillField(BaseModel):
    op: Literal["fill"] = "fill"
    path: DottedPath
    template: Template
    position: Position = None


class RemoveField(BaseModel):
    op: Literal["remove"] = "remove"
    path: DottedPath


class ReplaceSegment(BaseModel):
    op: Literal["replace_segment"] = "replace_segment"
    path: DottedPath = Field(description="A text field, or a list of texts (each is edited).")
    find: str = Field(min_length=1, max_length=300, description="Substring, or regular expression if `regex`.")
    replace: str = Field("", max_length=2000, description="Replacement; with `regex`, \\1 names a group.")
    regex: bool = Field(False, description="Treat `find` as a Python regular expression.")
    count: int = Field(0, ge=0, description="Replace at most this many per text; 0 replaces all.")

    @model_validator(mode="after")
    def _compiles(self) -> ReplaceSegment:
        if self.regex:
            try:
                re.compile(self.find)
            except re.error as exc:
                raise ValueError(f"find {self.find!r} is not a valid regular expression: {exc}") from None
        return self


PatchOp = Annotated[RenameField | MoveField | SetField | FillField | RemoveField | ReplaceSegment,
                    Field(discriminator="op")]
_OP = TypeAdapter(PatchOp)


def parse_ops(ops: Sequence[PatchOp | dict[str, Any]]) -> list[PatchOp]:
    """Operations as models; plain dicts are validated, and the first problem raises ToolError."""
    typed = []
    for i, op in enumerate(ops):
        try:
            typed.append(op if isinstance(op, BaseModel) else _OP.validate_python(op))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ToolError(f"bad operation {i} at {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return typed


def get_path(record: dict[str, Any], path: str) -> Any:
    parent, key, _ = _locate(record, path)
    if key not in parent:
        raise ToolError(f"{path} does not exist")
    return parent[key]


def render(template: str, record: dict[str, Any]) -> str:
    """Fill `template` from the record: {a.b} is the value at path a.b; refused templates raise ValueError."""
    out = []
    for literal, field, spec in template_fields(template):
        out.append(literal)
        if field is not None:
            value = get_path(record, field)
            try:
                out.append(format(value, spec) if spec else _text(value))
            except (TypeError, ValueError) as exc:
                raise ToolError(f"cannot format {field} ({type(value).__name__}) with {spec!r}: {exc}") from None
    return "".join(out)


def apply_patch(record: dict[str, Any], ops: Sequence[PatchOp | dict[str, Any]]
                ) -> tuple[dict[str, Any], list[PatchOp]]:
    """The patched copy of `record` and the operations that turn it back into `record` exactly.

    The input is never modified; any failing operation raises ToolError naming it, and nothing applies.
    """
    if not isinstance(record, dict):
        raise ToolError(f"a record must be a JSON object, not {type(record).__name__}")
    new = copy.deepcopy(record)
    undo: list[list[PatchOp]] = []
    for i, op in enumerate(parse_ops(ops)):
        try:
            undo.append(_apply(new, op))
        except ToolError as exc:
            raise ToolError(f"operation {i} ({op.op} {op.path}): {exc}") from None
    return new, [inverse for step in reversed(undo) for inverse in step]


def invert(record: dict[str, Any], ops: Sequence[PatchOp | dict[str, Any]]) -> list[PatchOp]:
    """The operations that undo `ops` applied to `record` (they depend on the values `ops` overwrite)."""
    return apply_patch(record, ops)[1]


def _apply(record: dict[str, Any], op: PatchOp) -> list[PatchOp]:
    """Apply `op` in place and return the operations that restore the state before it."""
    parent, key, created = _locate(record, op.path, create=isinstance(op, SetField | FillField))
    if isinstance(op, SetField | FillField):
        value = copy.deepcopy(op.value) if isinstance(op, SetField) else render(op.template, record)
        if key in parent:
            old, parent[key] = parent[key], value
            return [SetField(path=op.path, value=old)]
        _insert(parent, key, value, op.position)
        return [RemoveField(path=created or op.path)]
    if key not in parent:
        raise ToolError(f"{op.path} does not exist")
    if isinstance(op, RenameField):
        if op.to in parent:
            raise ToolError(f"{op.to!r} already exists beside it")
        _replace_items(parent, [(op.to if k == key else k, v) for k, v in parent.items()])
        return [RenameField(path=".".join([*split_path(op.path)[:-1], op.to]), to=key)]
    index = list(parent).index(key)
    if isinstance(op, RemoveField):
        return [SetField(path=op.path, value=parent.pop(key), position=index)]
    if isinstance(op, ReplaceSegment):
        old, parent[key] = parent[key], _replace_segment(parent[key], op)
        return [SetField(path=op.path, value=old)]
    if op.to == op.path or op.to.startswith(op.path + "."):
        raise ToolError(f"cannot move {op.path} into itself ({op.to})")
    value = parent.pop(key)
    target, target_key, created = _locate(record, op.to, create=True)
    if target_key in target:
        raise ToolError(f"destination {op.to} already exists")
    _insert(target, target_key, value, op.position)
    return [MoveField(path=op.to, to=op.path, position=index), *([RemoveField(path=created)] if created else [])]


def _locate(record: dict[str, Any], path: str, create: bool = False) -> tuple[dict[str, Any], str, str | None]:
    """The object that holds the last key of `path`, that key, and the first object created on the way."""
    parts = split_path(path)
    node, created = record, None
    for depth, part in enumerate(parts[:-1], 1):
        if part not in node:
            if not create:
                raise ToolError(f"{'.'.join(parts[:depth])} does not exist")
            node[part] = {}
            created = created or ".".join(parts[:depth])
        node = node[part]
        if not isinstance(node, dict):
            raise ToolError(f"{'.'.join(parts[:depth])} is a {type(node).__name__}, not an object")
    return node, parts[-1], created


def _insert(obj: dict[str, Any], key: str, value: Any, position: int | None) -> None:
    items = list(obj.items())
    items.insert(len(items) if position is None else position, (key, value))
    _replace_items(obj, items)


def _replace_items(obj: dict[str, Any], items: list[tuple[str, Any]]) -> None:
    """Rebuild `obj` in place, so key order follows `items` and references to it stay valid."""
    obj.clear()
    obj.update(items)


def _replace_segment(value: Any, op: ReplaceSegment) -> Any:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [_replace_segment(v, op) for v in value]
    if not isinstance(value, str):
        raise ToolError(f"is a {type(value).__name__}, not text or a list of texts")
    if len(value) > MAX_FIELD_CHARS:
        raise ToolError(f"is {len(value):,} characters, over the {MAX_FIELD_CHARS:,} a replacement may scan")
    if not op.regex:
        return value.replace(op.find, op.replace, op.count or -1)
    try:
        return re.sub(op.find, op.replace, value, count=op.count)
    except re.error as exc:
        raise ToolError(f"replacement {op.replace!r} is invalid: {exc}") from None


def _text(value: Any) -> str:
    """How a field reads inside a template: text as is, lists comma-separated, other values as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return json.dumps(value, ensure_ascii=False)


def read_record(ws: Workspace, rel: str) -> dict[str, Any]:
    """A confined JSON object file, size-capped before parsing; anything else raises ToolError."""
    path = ws.input(rel)
    try:
        check_media_file(path, MAX_JSON_BYTES)
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnsafeInputError as exc:
        raise ToolError(str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ToolError(f"{rel} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ToolError(f"{rel} holds a JSON {type(data).__name__}, not an object")
    if json_depth(data) > MAX_JSON_DEPTH:
        raise ToolError(f"{rel} nests deeper than {MAX_JSON_DEPTH} levels")
    return data


def write_record(ws: Workspace, name: str, data: Any) -> Path:
    path = ws.output(name)
    write_json(path, data)
    return path


class PatchParams(BaseModel):
    record: InputPath = Field(description="JSON object file to patch.")
    ops: list[PatchOp] = Field(min_length=1, max_length=200, description="Operations, applied in order.")
    out: JsonName = Field(description="JSON file to write the patched record to.")


@tool("patch_record", PatchParams,
      "Patch a JSON record with typed operations on dotted paths (rename, move, set, fill from a template, remove, "
      "replace_segment); returns the inverse operations that restore the original exactly.")
def _patch_tool(p: PatchParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    new, inverse = apply_patch(read_record(ws, p.record), p.ops)
    return [write_record(ws, p.out, new)], {"inverse": [op.model_dump(mode="json") for op in inverse]}
