"""`benchagent review`: a person accepts or rejects a sample of items, stratified by subtask; the verdicts
are saved as they are given (a review can stop and go on), and the acceptance rate is reported with a
Wilson 95% interval. `benchagent resume DIR --replace-rejected` then rebuilds what was rejected."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from agents.judge import stratified
from state.models import Item
from tools.evaluation.stats import wilson
from tools.files import write_json
from tools.run_store import RUN, RunStore
from tools.text import LETTERS

console = Console(stderr=True, soft_wrap=True)
REVIEW_DIR = "item_review"  # beside review.json, the plan a person approves before the build
VERDICTS = "verdicts.jsonl"


class ReviewError(ValueError):
    """Bad input to review; the message names the problem and the fix."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    review = sub.add_parser("review", help="accept or reject a sample of items by hand; report the acceptance rate")
    review.add_argument("run_dir")
    review.add_argument("--n", type=int, default=50, help="items to review, stratified by subtask (default 50)")
    review.add_argument("--seed", type=int, default=0)


def verdicts(root: Path) -> dict[str, dict]:
    """Item id -> the person's verdict, as saved so far."""
    path = root / REVIEW_DIR / VERDICTS
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    return {v["item"]: v for v in map(json.loads, lines) if v.get("item")}


def _show(item: Item, root: Path, k: int, n: int) -> None:
    console.rule(f"{k}/{n}  {item.subtask}  {item.id}")
    console.print(item.question, markup=False)
    for i, choice in enumerate(item.choices or []):
        console.print(f"  {LETTERS[i]}. {choice}", markup=False)
    console.print(f"answer: {item.answer}" + (f" ({item.answer_text})" if item.choices else ""), markup=False)
    for rel in item.image:
        console.print(f"image: {root / rel}", markup=False)
    for rel in item.audio:
        console.print(f"audio: {root / rel}  (play it with any audio player)", markup=False)


def review(root: Path, n: int, seed: int, ask: Callable[[str], str] | None = None) -> dict:
    """Ask for a verdict on each sampled item not yet reviewed (on the terminal unless `ask` is given);
    return the report, also written to disk."""
    ask = ask or input
    store = RunStore(root)
    items = [Item.model_validate(r) for r in store.items()]
    if not items:
        raise ReviewError(f"{root} holds no items to review")
    done = verdicts(root)
    sample = stratified(items, n, seed)
    todo = [i for i in sample if i.id not in done]
    log = root / REVIEW_DIR / VERDICTS
    log.parent.mkdir(exist_ok=True)
    for k, item in enumerate(todo, len(sample) - len(todo) + 1):
        _show(item, root, k, len(sample))
        answer = ""
        while answer not in ("a", "r", "q"):
            answer = ask("accept (a), reject (r) or quit (q)? ").strip().lower()[:1]
        if answer == "q":
            break
        note = ask("why? ").strip() if answer == "r" else ""
        verdict = {"item": item.id, "subtask": item.subtask, "accepted": answer == "a", "note": note}
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(verdict) + "\n")
        done[item.id] = verdict
    return report(root, done)


def report(root: Path, done: dict[str, dict]) -> dict:
    accepted = sum(v["accepted"] for v in done.values())
    out = {"reviewed": len(done), "accepted": accepted,
           "rejected": sorted(i for i, v in done.items() if not v["accepted"])}
    if done:
        low, high = wilson(accepted, len(done))
        out.update(rate=round(accepted / len(done), 4), ci95=[round(low, 4), round(high, 4)])
    write_json(root / REVIEW_DIR / "summary.json", out)
    return out


def run(args: argparse.Namespace) -> int:
    root = Path(args.run_dir).expanduser().resolve()
    if not (root / RUN).is_file():
        raise ReviewError(f"{root} is not a run directory (no {RUN}); build one with benchagent build")
    if args.n < 1:
        raise ReviewError(f"--n must be at least 1, got {args.n}")
    try:
        result = review(root, args.n, args.seed)
    except EOFError:  # input ended: what was given is saved
        result = report(root, verdicts(root))
    if result["reviewed"]:
        low, high = result["ci95"]
        console.print(f"accepted {result['accepted']} of {result['reviewed']} reviewed ({result['rate']:.0%}, "
                      f"95% interval {low:.0%}-{high:.0%})")
    if result["rejected"]:
        console.print(f"rebuild the {len(result['rejected'])} rejected with: benchagent resume {root} "
                      "--replace-rejected")
    return 0
