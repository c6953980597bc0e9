"""Exports of a finished run into the formats people load: a Hugging Face dataset folder (hf), an
lm-evaluation-harness task folder (lm-eval) and an Inspect task (inspect)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tools.exports import hf, inspect_task, lm_eval
from tools.exports.reading import ExportError, Run, read_run, replace_folder

FORMATS = ("hf", "lm-eval", "inspect")
_WRITERS: dict[str, Callable[[Run, Path], None]] = {"hf": hf.write, "lm-eval": lm_eval.write,
                                                     "inspect": inspect_task.write}
EXPORTS = "exports"

__all__ = ["FORMATS", "ExportError", "export", "export_all"]


def export(run_dir: Path, fmt: str, out: Path | None = None) -> Path:
    """Write the run in format `fmt` to `out` (default RUN/exports/FMT), replacing an earlier export there."""
    if fmt not in _WRITERS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    run = read_run(Path(run_dir))
    target = Path(out) if out is not None else run.root / EXPORTS / fmt
    if run.root.is_relative_to(target.expanduser().resolve()):
        raise ExportError(f"{target} holds the run itself; export to a folder outside it, or leave --out out")
    return replace_folder(target, lambda folder: _WRITERS[fmt](run, folder))


def export_all(run_dir: Path) -> dict[str, str]:
    """Every format to its default folder: format -> folder, or "error: ..." where one failed."""
    results = {}
    for fmt in FORMATS:
        try:
            results[fmt] = str(export(run_dir, fmt))
        except (ExportError, OSError, ValueError) as exc:
            results[fmt] = f"error: {exc}"
    return results
