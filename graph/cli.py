"""`benchagent`: build a benchmark, resume a killed build, inspect a pool."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sqlite3
import sys
import time
import traceback
from contextlib import closing
from pathlib import Path
from typing import Any

from langgraph.types import Command, StateSnapshot
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agents.llm import DeciderUnavailable, check_models
from agents.refresh import RefreshError
from agents.resources import pool_path
from graph import eval_cli
from graph.assess_cli import HANDLERS as ASSESS
from graph.assess_cli import AssessError
from graph.assess_cli import add_parsers as add_assess_parsers
from graph.builder import build_graph
from graph.checkpoints import sqlite_saver
from graph.lifecycle import default_run_dir, finish
from graph.review_cli import ReviewError
from graph.review_cli import add_parser as add_review_parser
from graph.review_cli import run as run_review
from graph.review_cli import verdicts as review_verdicts
from graph.run_dirs import CHECKPOINTS, RunDirError, RunLocked, check_run_dir, hold_run
from state.context import OFFLINE, Context
from state.graph_state import MAX_REQUIREMENT_CHARS
from tools.exports import FORMATS, ExportError, export, export_all
from tools.llm import ROLES, LLMError, models_for
from tools.pool import DEMO_POOL, Pool, PoolError
from tools.run_store import ITEMS, RUN, SUMMARY, RunStore

THREAD = {"configurable": {"thread_id": "build"}}
REVIEW = "review.json"
EXIT = {"done": 0, "short": 3, "refused": 2}

console = Console(stderr=True, soft_wrap=True)  # paths and commands stay whole, to copy and paste


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
    build.add_argument("--llm", default=OFFLINE, help="'offline' (default), or the model for every role: NAME "
                       "(OPENAI_BASE_URL's endpoint), NAME=BASE_URL, local:PATH.gguf or local:smollm2")
    for role in ROLES:
        build.add_argument(f"--llm-{role}", default=None, metavar="MODEL",
                           help=f"the {role}'s model, overriding --llm ('offline' keeps the role offline)")
    build.add_argument("--max-cost", type=float, default=None, metavar="USD",
                       help="stop cleanly once LLM calls cost this much (price table: tools/llm/prices.py)")
    build.add_argument("--llm-concurrency", type=int, default=4, metavar="N", help="LLM calls in flight per endpoint")
    build.add_argument("--concurrency", type=int, default=None, metavar="N",
                       help="samples built at once (default: --llm-concurrency, the endpoint's limit)")
    build.add_argument("--review", action="store_true",
                       help="pause after planning for you to approve, edit or reject the spec (then: resume)")
    build.add_argument("--snr", type=float, default=None, help="background noise SNR in dB for spoken items")
    build.add_argument("--no-speech-check", dest="speech_check", action="store_false",
                       help="skip the offline speech-recognition round trip on spoken items (faster)")
    resume = sub.add_parser("resume", help="continue a build that stopped, was killed or awaits review")
    resume.add_argument("run_dir")
    answer = resume.add_mutually_exclusive_group()
    answer.add_argument("--approve", action="store_true", help="approve the plan awaiting review")
    answer.add_argument("--edit", metavar="FILE", help="answer the review with an edited plan: a JSON file like "
                        "DIR/review.json with subtasks and quotas changed")
    answer.add_argument("--reject", metavar="COMMENT", help="send the plan back to Design with this comment")
    answer.add_argument("--replace-rejected", action="store_true",
                        help="rebuild the items rejected in benchagent review, from rows not used yet")
    pool = sub.add_parser("pool", help="pool tools")
    pool_sub = pool.add_subparsers(dest="pool_command", required=True)
    inspect = pool_sub.add_parser("inspect", help="list a pool's datasets and their cards")
    inspect.add_argument("path", nargs="?", default=str(DEMO_POOL))
    inspect.add_argument("--json", action="store_true", help="print the cards as JSON")
    add_assess_parsers(sub)
    eval_cli.add_parser(sub)
    add_review_parser(sub)
    refresh = sub.add_parser("refresh", help="build the next version of a benchmark: same subtasks and counts, "
                             "no source row an earlier version used")
    refresh.add_argument("run_dir", help="the finished benchmark to refresh")
    refresh.add_argument("--out", required=True, help="the new version's run directory (new or empty)")
    refresh.add_argument("--seed", type=int, default=None, help="default: the earlier version's seed + 1")
    export = sub.add_parser("export", help="write a finished run as a Hugging Face dataset, lm-eval or Inspect task")
    export.add_argument("run_dir")
    export.add_argument("--format", required=True, choices=[*FORMATS, "all"], help="the format to write")
    export.add_argument("--out", metavar="DIR", help="where to write it (default RUN_DIR/exports/FORMAT); "
                        "not with --format all")
    return parser


def _context(**fields: Any) -> Context:
    """The run's context, with out-of-range values named as the options that set them."""
    try:
        return Context(**fields)
    except ValidationError as exc:
        raise UsageError("; ".join(_option_error(e) for e in exc.errors())) from None


def _option_error(error: dict[str, Any]) -> str:
    field = str(error["loc"][0]) if error["loc"] else "context"
    option = {"snr_db": "--snr", "size": "--size", "seed": "--seed", "llm": "--llm", "max_cost": "--max-cost",
              "llm_concurrency": "--llm-concurrency"}.get(field, f"--{field.replace('_', '-')}")
    return f"{option} {error.get('input')!r}: {error['msg'].lower()}"


def _check_llm(ctx: Context) -> None:
    """Before anything is written: models that cannot run would leave a run that cannot resume."""
    check_models(ctx)
    hosted = [s.name for s in models_for(ctx.llm, ctx.llm_roles).values()
              if s.name != OFFLINE and not s.local and not s.base_url]
    if hosted and not os.environ.get("OPENAI_API_KEY") and not os.environ.get("OPENAI_BASE_URL"):
        raise UsageError(f"--llm {hosted[0]} needs OPENAI_API_KEY in the environment (or OPENAI_BASE_URL, or "
                         "NAME=BASE_URL, for a local server); or use --llm offline")


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
    snapshot = graph.get_state(THREAD)
    request = _review_request(snapshot)
    return {**snapshot.values, "review": request} if request is not None else snapshot.values


def _review_request(snapshot: StateSnapshot) -> dict[str, Any] | None:
    """What the review interrupt shows, when the run is paused at it."""
    return next((i.value for t in snapshot.tasks for i in t.interrupts), None)


def _run(run_dir: Path, payload: dict | Command | None, ctx: Context, already: int = 0) -> int:
    resume_hint = f"accepted items are kept; continue with: benchagent resume {run_dir}"
    try:
        with closing(sqlite3.connect(run_dir / CHECKPOINTS, check_same_thread=False)) as conn:
            graph = build_graph(checkpointer=sqlite_saver(conn), confine_paths=False)
            state = _stream(graph, payload, ctx, already)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/yellow]; {resume_hint}")
        return 130
    except DeciderUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    except LLMError as exc:  # the endpoint stayed down: the run stops where it is
        console.print(f"[red]error:[/red] {exc}; {resume_hint}")
        return 1
    except (OSError, sqlite3.OperationalError) as exc:
        console.print(f"[red]error:[/red] {_os_problem(exc, run_dir)}; {resume_hint}")
        return 1
    except Exception:  # noqa: BLE001 - the user gets a message and a log, never a traceback
        try:
            (run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
            where = f"details in {run_dir / 'error.log'}"
        except OSError:
            where = "no log could be written"
        console.print(f"[red]internal error[/red]; {where}. {resume_hint.capitalize()}")
        return 1
    return _report(state, run_dir)


def _os_problem(exc: OSError | sqlite3.OperationalError, run_dir: Path) -> str:
    """Plain words for a failed write; SQLite reports a full disk or a read-only file in its own terms."""
    where = getattr(exc, "filename", None) or run_dir
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT) or "full" in str(exc):
        return f"no space left on the device holding {run_dir}; free space"
    if code == errno.EROFS or "readonly" in str(exc):
        return f"{where} is on a read-only file system; pass an --out on a writable one"
    return f"cannot write {where} ({getattr(exc, 'strerror', None) or exc})"


def _report(state: dict[str, Any], run_dir: Path) -> int:
    if "review" in state:
        return _ask_review(state["review"], run_dir)
    status = state.get("status", "refused")
    summary = state.get("summary") or {}
    for entry in summary.get("coverage", []):  # what was asked, first: served or not, and why
        clause = escape(repr(entry["clause"]))
        console.print(f"[green]served[/green] {clause} by {escape(', '.join(entry['subtasks']))}" if entry["served"]
                      else f"[red]not served[/red] {clause}: {escape(entry['why'])}", highlight=False)
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


def _ask_review(request: dict[str, Any], run_dir: Path) -> int:
    """The plan waits for a person: show it, save it for editing, say how to answer."""
    (run_dir / REVIEW).write_text(json.dumps({"subtasks": request["subtasks"], "quotas": request["quotas"]},
                                             indent=2) + "\n", encoding="utf-8")
    table = Table(title=f"Plan awaiting review in {run_dir}")
    for col in ("grounding", "items"):
        table.add_column(col)
    for grounding, items in request["quotas"].items():
        table.add_row(grounding, str(items))
    console.print(table)
    for sub in request["subtasks"]:
        console.print(f"- {sub['id']}: {sub['name']} ({sub['recipe']}): {sub['description']}")
    console.print(f"review: approve with: benchagent resume {run_dir} --approve; edit {run_dir / REVIEW} and run: "
                  f"benchagent resume {run_dir} --edit {run_dir / REVIEW}; or send it back: "
                  f"benchagent resume {run_dir} --reject \"why\"")
    return 0


def _review_answer(args: argparse.Namespace) -> Command | None:
    if args.approve:
        return Command(resume={"action": "approve"})
    if args.reject is not None:
        return Command(resume={"action": "reject", "comment": args.reject})
    if args.edit is None:
        return None
    try:
        edit = json.loads(Path(args.edit).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--edit {args.edit}: cannot read it as JSON ({exc}); start from the run's {REVIEW}") from None
    if not isinstance(edit, dict):
        raise UsageError(f"--edit {args.edit} must hold an object with subtasks and quotas, like {REVIEW}")
    subtasks = [{k: v for k, v in s.items() if k in ("id", "name", "description")}
                for s in edit.get("subtasks", []) if isinstance(s, dict)]
    return Command(resume={"action": "edit", "subtasks": subtasks, "quotas": edit.get("quotas")})


def _make_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the run directory: {_os_problem(exc, run_dir)}") from None


def build(args: argparse.Namespace) -> int:
    requirement = args.requirement.strip()
    if not requirement:
        raise UsageError("the requirement is empty; describe what the benchmark should test, e.g. "
                         "benchagent build \"recognise car brands in photos\"")
    if len(requirement) > MAX_REQUIREMENT_CHARS:
        raise UsageError(f"the requirement is {len(requirement):,} characters, over the limit of "
                         f"{MAX_REQUIREMENT_CHARS:,}; state what to test in a paragraph")
    pool = Path(args.pool).expanduser().resolve() if args.pool else DEMO_POOL
    run_dir = Path(args.out or default_run_dir(requirement)).expanduser().resolve()
    roles = {role: model for role in ROLES if (model := getattr(args, f"llm_{role}"))}
    ctx = _context(llm=args.llm, llm_roles=roles, max_cost=args.max_cost, llm_concurrency=args.llm_concurrency,
                   concurrency=args.concurrency, review=args.review, size=args.size, seed=args.seed, pool=str(pool),
                   out_dir=str(run_dir), snr_db=args.snr, speech_check=args.speech_check)
    _check_llm(ctx)
    opened = Pool(pool)
    for problem in opened.problems:
        console.print(f"[yellow]skipped:[/yellow] {problem}")
    if (run_dir / RUN).is_file():
        with hold_run(run_dir):  # a run being written is refused naming its writer, before "use resume"
            pass
    check_run_dir(run_dir, opened.root)
    _make_dir(run_dir)
    with hold_run(run_dir):
        check_run_dir(run_dir, opened.root)  # again under the lock: a racing build may have started it
        console.print(f"building {args.size} items into {run_dir}")
        return _run(run_dir, {"requirement": requirement}, ctx)


def resume(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).expanduser().resolve()
    if not (run_dir / RUN).is_file():
        raise UsageError(f"{run_dir} is not a run directory (no {RUN}); start one with benchagent build")
    with hold_run(run_dir):
        requirement, ctx = _recorded_run(run_dir)
        _check_llm(ctx)
        if args.replace_rejected:
            return _replace_rejected(run_dir, ctx)
        if _finished(run_dir):
            console.print(f"{run_dir} is already finished; see {run_dir / SUMMARY}")
            return 0
        snapshot = _checkpoint(run_dir)
        values = snapshot.values if snapshot is not None else None
        answer = _review_answer(args)
        if answer is not None:
            if snapshot is None or _review_request(snapshot) is None:
                raise UsageError(f"{run_dir} is not waiting for a review; resume it without an answer")
            console.print(f"answering the review of {run_dir}")
            return _run(run_dir, answer, ctx, len(RunStore(run_dir).items()))
        if values is not None and values.get("status") in EXIT:  # the graph ended; its summary did not
            console.print(f"[yellow]{SUMMARY} was missing or damaged; written again from the checkpoint and "
                          "items[/yellow]")
            return _report(finish(values, ctx), run_dir)
        console.print(f"resuming {run_dir}")
        payload = None if values is not None else {"requirement": requirement}
        return _run(run_dir, payload, ctx, len(RunStore(run_dir).items()))


def _replace_rejected(run_dir: Path, ctx: Context) -> int:
    """Take the items a person rejected out of the benchmark (into rejected.jsonl, with their note) and send
    the finished build back to the orchestrator, which draws their replacements from rows not used yet."""
    rejected = {i: v for i, v in review_verdicts(run_dir).items() if not v["accepted"]}
    snapshot = _checkpoint(run_dir)
    if snapshot is None or not _finished(run_dir):
        raise UsageError(f"{run_dir} is not a finished build; finish it with benchagent resume {run_dir} first")
    store = RunStore(run_dir)
    items = store.items()
    gone = [i for i in items if i["id"] in rejected]
    if not gone:
        raise UsageError(f"no item of {run_dir} is rejected in review (or all were replaced already); "
                         f"review items with: benchagent review {run_dir}")
    store.rewrite_items([i for i in items if i["id"] not in rejected])
    progress = {k: dict(v) for k, v in snapshot.values["progress"].items()}
    for item in gone:
        grounding = item["metadata"]["grounding"]
        store.add_rejection({"grounding": grounding, "sample_id": item["source"]["sample_id"], "repairs": 0,
                             "reason": f"rejected in review: {rejected[item['id']]['note'] or 'no note'}",
                             "failed": ["human_review"]})
        progress[grounding].update(accepted=progress[grounding]["accepted"] - 1, exhausted=False)
        progress[grounding].pop("cause", None)
    console.print(f"replacing {len(gone)} item(s) rejected in review")
    update = {"progress": progress, "status": "running", "message": "", "halt": {}}
    return _run(run_dir, Command(goto="orchestrator", update=update), ctx, len(items) - len(gone))


def _damaged(run_dir: Path, what: str, why: str) -> UsageError:
    kept = len(RunStore(run_dir).items())
    return UsageError(f"{run_dir / what} is damaged ({why}), so this run cannot be resumed; its {kept} accepted "
                      f"items stay in {run_dir / ITEMS}. Start a new build with another --out")


def _recorded_run(run_dir: Path) -> tuple[str, Context]:
    """The requirement and context run.json recorded, or a refusal that says what is wrong."""
    try:
        run = json.loads((run_dir / RUN).read_bytes())
    except (ValueError, RecursionError) as exc:
        raise _damaged(run_dir, RUN, f"not valid JSON: {exc}") from None
    if not isinstance(run, dict) or not isinstance(run.get("requirement"), str) or "context" not in run:
        raise _damaged(run_dir, RUN, "no requirement or context")
    try:
        return run["requirement"], Context.model_validate(run["context"])
    except ValidationError as exc:
        raise _damaged(run_dir, RUN, "invalid context: " + "; ".join(_option_error(e) for e in exc.errors())) \
            from None


def _finished(run_dir: Path) -> bool:
    """A run with a readable summary is finished; a damaged summary is rebuilt by resuming."""
    try:
        return isinstance(json.loads((run_dir / SUMMARY).read_bytes()), dict)
    except (FileNotFoundError, ValueError, RecursionError):
        return False


def _checkpoint(run_dir: Path) -> StateSnapshot | None:
    """The run's last checkpoint, or None when there is none to continue from. A damaged
    checkpoint (unreadable, or one a full disk cut between a step and its routing, which would end
    the graph early) is set aside: planning is replayed from run.json, and the items on disk are
    kept and counted (allocation reads them)."""
    path = run_dir / CHECKPOINTS
    try:
        with closing(sqlite3.connect(path)) as conn:
            snapshot = build_graph(checkpointer=sqlite_saver(conn), confine_paths=False).get_state(THREAD)
        if not snapshot.values:
            return None
        if not snapshot.next and snapshot.values.get("status") not in EXIT:
            raise ValueError("its last step leads nowhere")
        return snapshot
    except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
        aside = path.with_name(f"{CHECKPOINTS}.damaged-{int(time.time())}")
        path.replace(aside)
        for sidecar in run_dir.glob(f"{CHECKPOINTS}-*"):  # its journal belongs to it
            sidecar.replace(aside.with_name(aside.name + sidecar.name.removeprefix(CHECKPOINTS)))
        console.print(f"[yellow]{path.name} was damaged ({exc}); set aside as {aside.name}; planning again from "
                      f"{RUN}, keeping the {len(RunStore(run_dir).items())} accepted items[/yellow]")
        return None


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


def refresh(args: argparse.Namespace) -> int:
    earlier = Path(args.run_dir).expanduser().resolve()
    if not (earlier / RUN).is_file():
        raise UsageError(f"{earlier} is not a run directory (no {RUN}); refresh a benchmark that was built")
    if not _finished(earlier):
        raise UsageError(f"{earlier} is not finished; finish it first with: benchagent resume {earlier}")
    requirement, old = _recorded_run(earlier)
    run_dir = Path(args.out).expanduser().resolve()
    ctx = _context(**{**old.model_dump(), "out_dir": str(run_dir), "refresh_of": str(earlier),
                      "seed": old.seed + 1 if args.seed is None else args.seed, "review": False})
    _check_llm(ctx)
    check_run_dir(run_dir, Pool(pool_path(ctx)).root)
    _make_dir(run_dir)
    with hold_run(run_dir):
        console.print(f"refreshing {earlier} into {run_dir} (seed {ctx.seed})")
        return _run(run_dir, {"requirement": requirement}, ctx)


def export_run(args: argparse.Namespace) -> int:
    if args.format == "all":
        if args.out:
            raise UsageError("--out takes one format; with --format all each goes to RUN_DIR/exports/FORMAT")
        results = export_all(Path(args.run_dir))
    else:
        out = Path(args.out) if args.out else None
        try:
            results = {args.format: str(export(Path(args.run_dir), args.format, out))}
        except OSError as exc:
            problem = _os_problem(exc, out or Path(args.run_dir))
            raise UsageError(f"the {args.format} export failed: {problem}") from None
    for fmt, where in results.items():
        print(f"{fmt}: {where}")
    return 2 if any(where.startswith("error:") for where in results.values()) else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"build": build, "resume": resume, "refresh": refresh, "pool": inspect_pool, "export": export_run,
               "review": run_review, "eval": eval_cli.run, **ASSESS}[args.command]
    try:
        return handler(args)
    except (UsageError, PoolError, RunDirError, RunLocked, DeciderUnavailable, ExportError, RefreshError,
            AssessError, ReviewError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
