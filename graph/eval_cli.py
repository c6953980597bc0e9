"""`benchagent eval DIR --model NAME[=BASE_URL] ... [--ablate]`: run models on a built benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agents.refresh import RefreshError, lineage
from tools.evaluation.card import update_card
from tools.evaluation.runner import EVAL, EvalError, evaluate, load_items, result_path, tasks
from tools.llm import LLMClient, ModelSpec, parse_model
from tools.run_store import CARD

console = Console(stderr=True, soft_wrap=True)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_parser(subparsers: Any) -> None:
    """Add the `eval` subcommand to benchagent's subparsers."""
    cmd = subparsers.add_parser("eval", help="run models on a built benchmark and report accuracy")
    cmd.add_argument("run_dir", metavar="DIR", help="a built benchmark (holds items.jsonl)")
    cmd.add_argument("--model", action="append", default=[], metavar="MODEL",
                     help="a model to evaluate, repeatable: NAME (OPENAI_BASE_URL's endpoint), NAME=BASE_URL, "
                          "local:PATH.gguf or local:smollm2")
    cmd.add_argument("--ablate", action="store_true",
                     help="also ask each item without its image, audio or written context")
    cmd.add_argument("--concurrency", type=_count, default=4, metavar="N", help="calls in flight per endpoint")
    cmd.add_argument("--limit", type=_count, default=None, metavar="N", help="only the first N items")
    cmd.add_argument("--versions", action="store_true",
                     help="also evaluate every earlier version DIR refreshes, and compare them side by side")


def run(args: argparse.Namespace) -> int:
    """Evaluate every --model; bad input raises graph.cli.UsageError, which main() prints (exit 2)."""
    from graph.cli import UsageError  # here, not at the top: graph.cli imports this module

    try:
        return _evaluate(args)
    except EvalError as exc:
        raise UsageError(str(exc)) from None


def _evaluate(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).expanduser().resolve()
    if not args.model:
        raise EvalError("no model to evaluate; name one or more with --model NAME, --model NAME=BASE_URL or "
                        "--model local:smollm2")
    specs = _specs(args.model)
    try:
        versions = lineage(run_dir) if args.versions else [run_dir]
    except RefreshError as exc:
        raise EvalError(str(exc)) from None
    found: dict[Path, dict[str, dict]] = {}
    for version in versions:
        items = load_items(version, args.limit)
        with LLMClient({}, version / EVAL, concurrency=args.concurrency) as client:
            for spec in specs:
                report = _with_progress(client, spec, items, version, args)
                _print(report, version, spec)
                found.setdefault(version, {})[spec.name] = report
        if args.ablate and update_card(version):
            console.print(f"the signal dependency section of {version / CARD} is updated")
    if len(versions) > 1:
        _compare(found, specs)
    return 0


def _compare(found: dict[Path, dict[str, dict]], specs: list[ModelSpec]) -> None:
    """Each model's accuracy on each version, newest first: did the model's score move, or the items?"""
    table = Table(title="Versions side by side (micro accuracy, 95% CI)")
    table.add_column("model")
    for version in found:
        table.add_column(escape(version.name))
    for spec in specs:
        table.add_row(escape(spec.name), *(_pct(found[v][spec.name]["micro"]) for v in found))
    console.print(table)


def _specs(models: list[str]) -> list[ModelSpec]:
    specs = []
    for text in models:
        try:
            specs.append(parse_model(text))
        except ValueError as exc:
            raise EvalError(f"--model {text!r}: {exc}") from None
    names = [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise EvalError(f"--model {twice[0]} is given more than once; name each model once")
    return specs


def _with_progress(client: LLMClient, spec: ModelSpec, items: list[dict], run_dir: Path,
                   args: argparse.Namespace) -> dict:
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(escape(spec.name), total=len(tasks(items, args.ablate)))
        return evaluate(client, spec, items, run_dir, ablate=args.ablate, concurrency=args.concurrency,
                        done=lambda: progress.advance(bar))


def _pct(row: dict) -> str:
    if row["accuracy"] is None:
        return "-"
    low, high = row["ci95"]
    return f"{row['accuracy']:.1%} [{low:.1%}, {high:.1%}]"


def _print(report: dict, run_dir: Path, spec: ModelSpec) -> None:
    ablation = report.get("ablation")
    table = Table(title=f"{spec.name} on {run_dir}")
    for col in ("subtask", "n", "accuracy (95% CI)", "unparseable", "errors"):
        table.add_column(col)
    if ablation is not None:
        table.add_column("blind accuracy")
        table.add_column("retained")
    for name, row in report["per_subtask"].items():
        cells = [escape(name), str(row["n"]), _pct(row), str(row["unparseable"]), str(row["errors"])]
        if ablation is not None:
            blind = ablation["per_subtask"].get(name)
            retained = blind["retained"] if blind else None
            cells += [_pct(blind) if blind else "-", "-" if retained is None else f"{retained:.0%}"]
        table.add_row(*cells)
    macro = report["macro"]
    table.add_row("micro (all items)", str(report["micro"]["n"]), _pct(report["micro"]), "", "")
    table.add_row("macro (mean of subtasks)", str(macro["groups"]), _pct(macro), "", "")
    console.print(table)
    for error in report["errors"][:5]:
        console.print(f"[yellow]not asked[/yellow] {escape(error['id'])}: {escape(error['error'])}")
    if len(report["errors"]) > 5:
        console.print(f"[yellow]... {len(report['errors']) - 5} more errors in the result file[/yellow]")
    if ablation is not None and ablation["correct_blind"]:
        console.print(f"[yellow]answered correctly blind[/yellow]: {escape(', '.join(ablation['correct_blind']))}")
    console.print(f"results: {result_path(run_dir, spec)}")
