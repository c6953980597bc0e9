"""`benchagent`: build a benchmark, resume a killed build, inspect a pool."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import traceback
from contextlib import closing
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agents.llm import DeciderUnavailable
from graph.builder import build_graph
from graph.checkpoints import sqlite_saver
from graph.lifecycle import default_run_dir
from state.context import OFFLINE, Context
from tools.pool import DEMO_POOL, Pool, PoolError
from tools.run_store import RUN, SUMMARY, RunStore

CHECKPOINTS = "checkpoints.sqlite"
THREAD = {"configurable": {"thread_id": "build"}}
EXIT = {"done": 0, "short": 3, "failed": 1}

console = Console(stderr=True)


class UsageError(Exception):
    """Bad input: the message names the problem and the fix."""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"size must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchagent", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build a benchmark from a requirement")
    build.add_argument("requirement", help="what the benchmark should test, in plain words")
    build.add_argument("--pool", default="", help="dataset pool folder (default: the bundled demo pool)")
    build.add_argument("--size", type=_positive, default=24, help="number of items (default 24)")
    build.add_argument("--out", default="", help="run directory (default runs/<name>-<time>)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--llm", default=OFFLINE, help="'offline' (default) or a chat model name")
    build.add_argument("--snr", type=float, default=None, help="background noise SNR in dB for spoken items")
    build.add_argument("--no-speech-check", dest="speech_check", action="store_false",
                       help="skip the offline speech-recognition round trip on spoken items (faster)")
    resume = sub.add_parser("resume", help="continue a build that stopped or was killed")
    resume.add_argument("run_dir")
    pool = sub.add_parser("pool", help="pool tools")
    pool_sub = pool.add_subparsers(dest="pool_command", required=True)
    inspect = pool_sub.add_parser("inspect", help="list a pool's datasets and their cards")
    inspect.add_argument("path", nargs="?", default=str(DEMO_POOL))
    inspect.add_argument("--json", action="store_true", help="print the cards as JSON")
    return parser


def _check_llm(model: str) -> None:
    if model != OFFLINE and not os.environ.get("OPENAI_API_KEY"):
        raise UsageError(f"--llm {model} needs OPENAI_API_KEY (and OPENAI_BASE_URL for a local server) in "
                         "the environment; or use --llm offline")


def _stream(graph, payload: dict | None, ctx: Context, already: int) -> dict[str, Any]:
    """Run the graph with a live view: planner events as lines, items as a progress bar."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("planning", total=ctx.size, completed=already)
        for mode, chunk in graph.stream(payload, THREAD, context=ctx, stream_mode=["updates", "custom"]):
            if mode == "custom" and chunk.get("event") == "accepted":
                progress.update(task, advance=1, description=f"accepted {chunk['item']}"[:60])
            elif mode == "custom" and chunk.get("event") == "rejected":
                progress.update(task, description=f"rejected: {chunk['reason']}"[:60])
            elif mode == "updates":
                for update in chunk.values():
                    for event in (update or {}).get("events", []) if isinstance(update, dict) else []:
                        progress.console.print(f"[dim]{event}[/dim]")
        progress.update(task, description="finished")
    return graph.get_state(THREAD).values


def _run(run_dir: Path, payload: dict | None, ctx: Context) -> int:
    with closing(sqlite3.connect(run_dir / CHECKPOINTS, check_same_thread=False)) as conn:
        graph = build_graph(checkpointer=sqlite_saver(conn))
        try:
            state = _stream(graph, payload, ctx, already=len(RunStore(run_dir).items()))
        except KeyboardInterrupt:
            console.print(f"[yellow]interrupted; continue with: benchagent resume {run_dir}[/yellow]")
            return 130
        except DeciderUnavailable as exc:
            console.print(f"[red]error:[/red] {exc}")
            return 2
        except Exception:  # noqa: BLE001 - the user gets a message and a log, never a traceback
            (run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
            console.print(f"[red]internal error[/red]; details in {run_dir / 'error.log'}. Accepted items are "
                          f"kept; continue with: benchagent resume {run_dir}")
            return 1
    return _report(state, run_dir)


def _report(state: dict[str, Any], run_dir: Path) -> int:
    status = state.get("status", "failed")
    summary = state.get("summary") or {}
    if summary.get("per_subtask"):
        table = Table(title=f"Benchmark in {run_dir}")
        for col in ("subtask", "target", "accepted", "rejected"):
            table.add_column(col)
        for name, row in summary["per_subtask"].items():
            table.add_row(name, str(row["target"]), str(row["accepted"]), str(row["rejected"]))
        console.print(table)
    colour = {"done": "green", "short": "yellow"}.get(status, "red")
    console.print(f"[{colour}]{status}[/{colour}]: {state.get('message', '')}")
    return EXIT.get(status, 1)


def build(args: argparse.Namespace) -> int:
    if not args.requirement.strip():
        raise UsageError("the requirement is empty; describe what the benchmark should test, e.g. "
                         "benchagent build \"recognise car brands in photos\"")
    _check_llm(args.llm)
    pool = Path(args.pool).expanduser().resolve() if args.pool else DEMO_POOL
    opened = Pool(pool)
    for problem in opened.problems:
        console.print(f"[yellow]skipped:[/yellow] {problem}")
    run_dir = Path(args.out or default_run_dir(args.requirement)).resolve()
    if (run_dir / RUN).exists():
        raise UsageError(f"{run_dir} already holds a run; continue it with: benchagent resume {run_dir}, "
                         "or pass another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(llm=args.llm, size=args.size, seed=args.seed, pool=str(pool), out_dir=str(run_dir),
                  snr_db=args.snr, speech_check=args.speech_check)
    console.print(f"building {args.size} items into {run_dir}")
    return _run(run_dir, {"requirement": args.requirement}, ctx)


def resume(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).expanduser().resolve()
    if not (run_dir / RUN).exists():
        raise UsageError(f"{run_dir} is not a run directory (no {RUN}); start one with benchagent build")
    run = json.loads((run_dir / RUN).read_text(encoding="utf-8"))
    ctx = Context.model_validate(run["context"])
    _check_llm(ctx.llm)
    if (run_dir / SUMMARY).exists():  # written only when a run ends
        console.print(f"{run_dir} is already finished; see {run_dir / SUMMARY}")
        return 0
    with closing(sqlite3.connect(run_dir / CHECKPOINTS)) as conn:
        started = sqlite_saver(conn).get_tuple(THREAD) is not None
    console.print(f"resuming {run_dir}")
    return _run(run_dir, None if started else {"requirement": run["requirement"]}, ctx)


def inspect_pool(args: argparse.Namespace) -> int:
    pool = Pool(Path(args.path).expanduser())
    cards = pool.cards()
    if args.json:
        print(json.dumps([c.model_dump(mode="json") for c in cards], indent=2))
        return 0
    table = Table(title=f"{len(cards)} datasets in {pool.root}")
    for col in ("dataset", "rows", "answered", "answer", "labels", "modalities", "media ok/missing", "license"):
        table.add_column(col)
    for c in cards:
        media = ", ".join(f"{m.kind} {m.present}/{m.missing + m.refused}" for m in c.media) or "-"
        labels = str(len(c.label_space)) if c.label_space else "-"
        table.add_row(c.id, str(c.n_rows), str(c.n_answered), c.answer_kind, labels,
                      "+".join(c.modalities_in), media, c.license or "-")
    Console().print(table)
    for problem in pool.problems:
        console.print(f"[yellow]skipped:[/yellow] {problem}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"build": build, "resume": resume, "pool": inspect_pool}[args.command]
    try:
        return handler(args)
    except (UsageError, PoolError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
