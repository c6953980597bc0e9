"""`benchagent judge`, `consistency` and `report`: how good a built benchmark is, by an LLM judge's six
metrics and by whether it ranks models in the order expected of them, and all of it on one HTML page."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from agents.judge import ITEM_METRICS, judge_all, stratified
from state.models import BenchmarkSpec, Item
from tools.evaluation.consistency import ConsistencyError, consistency
from tools.files import write_json
from tools.llm import parse_model
from tools.report import ReportError, write_report
from tools.run_store import RUN, SPEC, RunStore, safe_name

console = Console(stderr=True, soft_wrap=True)


class AssessError(ValueError):
    """Bad input to judge or consistency; the message names the problem and the fix."""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    judge = sub.add_parser("judge", help="score a benchmark with an LLM judge's six metrics (0-100)")
    judge.add_argument("run_dir")
    judge.add_argument("--model", action="append", required=True, metavar="MODEL",
                       help="a judge (NAME, NAME=BASE_URL or local:...); repeat for several, their agreement reported")
    judge.add_argument("--n", type=int, default=20, help="items sampled, stratified by subtask (default 20)")
    judge.add_argument("--seed", type=int, default=0)
    check = sub.add_parser("consistency", help="do models expected to be stronger score higher? (tau and rho)")
    check.add_argument("run_dir")
    check.add_argument("--order", required=True, help="evaluated models, weakest first, comma-separated")
    report = sub.add_parser("report", help="write DIR/report.html: spec, items with media, checks, evals, judge")
    report.add_argument("run_dir")


def _run(run_dir: str) -> tuple[Path, RunStore]:
    root = Path(run_dir).expanduser().resolve()
    if not (root / RUN).is_file() or not (root / SPEC).is_file():
        raise AssessError(f"{root} is not a finished run (no {RUN} or {SPEC}); build one with benchagent build")
    return root, RunStore(root)


def judge_run(args: argparse.Namespace) -> int:
    root, store = _run(args.run_dir)
    if args.n < 1:
        raise AssessError(f"--n must be at least 1, got {args.n}")
    try:
        for model in args.model:
            parse_model(model)
        spec = BenchmarkSpec.model_validate_json((root / SPEC).read_text(encoding="utf-8"))
        items = [Item.model_validate(r) for r in store.items()]
    except (ValueError, ValidationError) as exc:
        raise AssessError(str(exc).splitlines()[0]) from None
    if not items:
        raise AssessError(f"{root} holds no items to judge")
    result = judge_all(store.requirement, spec.subtasks, stratified(items, args.n, args.seed), args.model, root)
    out = root / "judge" / f"{safe_name('+'.join(parse_model(m).name for m in args.model), 120)}.json"
    write_json(out, result)
    table = Table(title=f"Judged {len(result['sample'])} items of {root} (0-100)")
    for col in ("metric", *(parse_model(m).name for m in args.model),
                *(["combined", "exact agreement"] if len(args.model) > 1 else [])):
        table.add_column(col)
    for key in ("uia", *ITEM_METRICS):
        row = [key.upper(), *(_cell(result["judges"][m]["metrics"][key]) for m in args.model)]
        if len(args.model) > 1:
            agreed = (result["agreement"].get(key) or {}).get("exact")
            row += [_cell(result["metrics"][key]), "-" if agreed is None else f"{agreed:.0%}"]
        table.add_row(*row)
    console.print(table)
    unjudged = sum(len(r["unjudged"]) for r in result["judges"].values())
    if unjudged:
        console.print(f"[yellow]{unjudged} answer(s) stayed malformed after repairs; listed under 'unjudged'[/yellow]")
    console.print(f"written to {out}")
    return 0


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def consistency_run(args: argparse.Namespace) -> int:
    root, _ = _run(args.run_dir)
    order = [m.strip() for m in args.order.split(",") if m.strip()]
    accuracies = {}
    for path in sorted((root / "eval").glob("*.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
            accuracies[result["model"]] = {"overall": result["micro"]["accuracy"],
                                           **{s: v["accuracy"] for s, v in result["per_subtask"].items()}}
        except (ValueError, KeyError, TypeError):
            continue  # not an eval result (or another file kept there)
    try:
        found = consistency(order, accuracies)
    except ConsistencyError as exc:
        raise AssessError(str(exc)) from None
    write_json(root / "eval" / "consistency.json", found)
    table = Table(title=f"Ranking consistency of {root} ({' < '.join(order)})")
    for col in ("subtask", "Kendall tau", "Spearman rho"):
        table.add_column(col)
    for name, row in [("overall", found["overall"]), *found["per_subtask"].items()]:
        table.add_row(name, *(_cell(row[k]) if row[k] is None else f"{row[k]:+.2f}"
                              for k in ("kendall_tau", "spearman_rho")))
    console.print(table)
    if found["inverted_neighbours"]:
        console.print(f"[yellow]out of the expected order: {', '.join(found['inverted_neighbours'])}[/yellow]")
    return 0


def report_run(args: argparse.Namespace) -> int:
    root = Path(args.run_dir).expanduser().resolve()
    try:
        console.print(f"written to {write_report(root)}")
    except ReportError as exc:
        raise AssessError(str(exc)) from None
    return 0


HANDLERS = {"judge": judge_run, "consistency": consistency_run, "report": report_run}
