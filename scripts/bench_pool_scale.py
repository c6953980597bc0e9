"""Per-item cost of a spoken-reply build against the size of the dialogue dataset it draws from.

Writes synthetic dialogue pools (folder layout, varied replies of everyday length) of 200 and 20,000
dialogues and builds the same small benchmark from each through the real graph:
    .venv/bin/python scripts/bench_pool_scale.py [--items 12] [--sizes 200 20000]

Per item: the median orchestrator -> executor -> verifier round of the run's trace after the first, one
sample a round (a
median, so a busy machine's stalls do not count). The first cycle also pays what is built once per build
(the candidate order, the answer index): the one-off cost is the first cycle less that median. Opening
the pool (reading rows, the card) is apart, and a small build first takes what one process pays once
(imports, the speech engine's start). The response_choices step alone, timed on 50 rows after the
build, shows the distractor draw without speech.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from agents.resources import pool_for
from graph.builder import build_graph
from state.context import Context
from state.models import Step
from tools.plans.steps import Draft, StepEnv, run_step
from tools.pool import Pool
from tools.run_store import RunStore

PER_ITEM_NODES = ("orchestrator", "executor", "verifier")
REQUIREMENT = "follow spoken dialogues and pick the next reply"
CARD = {"name": "city-dialogues", "task": "Dialogue response generation", "task_type": "dialogue",
        "skill": "Conversational Response", "domain": ["Everyday life"], "license": "CC0-1.0",
        "description": "Everyday conversations between two named speakers (3-5 turns); the answer is the natural "
                       "next line, spoken by the speaker whose turn it is."}

NAMES = ["Ana", "Ben", "Leo", "Mia", "Sara", "Tom", "Julia", "Omar", "Priya", "Kenji", "Lena", "Marco"]
OPENERS = ["Sure,", "Honestly,", "Well,", "Oh,", "Right,", "Actually,", "Okay,", "To be fair,", "Sadly,", "Great,"]
SUBJECTS = ["I", "we", "my sister", "the landlord", "our neighbour", "the new manager", "my cousin", "the twins"]
VERBS = ["can pick up", "forgot to book", "will bring", "already paid for", "still need to fix", "could borrow",
         "promised to return", "would rather skip", "just cancelled", "might repaint"]
OBJECTS = ["the blue bicycle", "two tickets for the concert", "the broken kitchen tap", "a birthday cake",
           "the spare keys", "the rental van", "a table near the window", "the old sofa", "some fresh bread",
           "the train passes", "the garden hose", "a bottle of olive oil"]
WHEN = ["before noon", "on Saturday morning", "after the meeting", "by the end of the week", "tonight",
        "next Tuesday", "around six", "once the rain stops", "first thing tomorrow", "during the break"]
TAILS = ["", "", " if that works for you", " so don't worry about it", ", unless the shop is closed",
         " and then we can relax", ", but I'll text you first", " because the other one is too small"]
ASKS = ["Did you sort out {o}?", "What happened with {o}?", "Can you help me with {o}?", "Who is dealing with {o}?",
        "Is {o} still on the list?", "Have you heard anything about {o}?"]
FILLERS = ["Not yet, it slipped my mind.", "I asked around yesterday.", "It's been a long week, sorry.",
           "Let me check my calendar.", "That depends on the weather.", "I think so, but I'm not sure."]


def _reply(rng: random.Random) -> str:
    return (f"{rng.choice(OPENERS)} {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
            f"{rng.choice(WHEN)}{rng.choice(TAILS)}.")


def _dialogue(k: int, rng: random.Random) -> dict:
    a, b = rng.sample(NAMES, 2)
    turns = [{"speaker": a, "text": rng.choice(ASKS).format(o=rng.choice(OBJECTS))},
             {"speaker": b, "text": rng.choice(FILLERS)}]
    if rng.random() < 0.5:
        turns.append({"speaker": a, "text": rng.choice(ASKS).format(o=rng.choice(OBJECTS))})
    return {"id": f"dlg_{k:05d}", "dialogue": turns, "response": _reply(rng)}


def write_pool(root: Path, n: int, seed: int = 0) -> Path:
    """A pool holding one dialogue dataset of `n` rows."""
    rng, folder = random.Random(seed), root / f"pool-{n}" / "city-dialogues"
    folder.mkdir(parents=True)
    with open(folder / "data.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(_dialogue(k, rng)) + "\n" for k in range(n))
    (folder / "card.json").write_text(json.dumps(CARD), encoding="utf-8")
    return folder.parent


def cycles(trace: Path) -> list[float]:
    """Seconds of each orchestrator -> executor -> verifier cycle that drafted an item, in order."""
    out: list[list] = []
    for rec in map(json.loads, trace.read_text(encoding="utf-8").splitlines()):
        if rec["node"] == "orchestrator":
            out.append([rec["seconds"], False])
        elif rec["node"] in PER_ITEM_NODES and out:
            out[-1][0] += rec["seconds"]
            out[-1][1] |= rec["node"] == "executor"
    return [seconds for seconds, drafted in out if drafted]


def step_seconds(pool: Pool, run: Path, rows: int = 50) -> float:
    """Mean seconds of the response_choices step alone over the dataset's first `rows` rows."""
    card, store = pool.cards()[0], RunStore(run)
    start = time.perf_counter()
    for row in pool.rows(card.id)[:rows]:
        env = StepEnv(pool=pool, card=card, row=row, store=store, item_id=row.sample_id, seed=0)
        run_step(Step(tool="response_choices"), Draft(question="Which reply comes next?"), env)
    return (time.perf_counter() - start) / rows


def measure(pool: Path, out: Path, items: int) -> tuple[float, float, float, int]:
    """(seconds to open the pool, per-item seconds, one-off seconds, items accepted) for one build."""
    # One sample a round, so that each round's trace is one item's work.
    ctx = Context(size=items, pool=str(pool), out_dir=str(out), speech_check=False, concurrency=1)
    start = time.perf_counter()
    pool_for(ctx)
    opened = time.perf_counter() - start
    graph = build_graph(confine_paths=False)
    result = graph.invoke({"requirement": REQUIREMENT}, context=ctx)
    if result["status"] != "done":
        raise SystemExit(f"build on {pool} ended {result['status']}")
    drafted = cycles(out / "trace.jsonl")
    if len(drafted) < 2:
        raise SystemExit(f"build on {pool} drafted {len(drafted)} item(s); ask for more --items")
    per_item = statistics.median(drafted[1:])
    accepted = json.loads((out / "summary.json").read_text(encoding="utf-8"))["accepted"]
    return opened, per_item, drafted[0] - per_item, accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=12)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 20_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BENCHAGENT_CACHE"] = str(Path(tmp) / "cache")  # cards of these pools stay in the temp folder
        measure(write_pool(Path(tmp), 40), Path(tmp) / "warm-up", 2)
        per_item, step = {}, {}
        for n in args.sizes:
            root = write_pool(Path(tmp), n)
            opened, per_item[n], once, accepted = measure(root, Path(tmp) / f"out-{n}", args.items)
            step[n] = step_seconds(pool_for(Context(pool=str(root))), Path(tmp) / f"steps-{n}")
            print(f"{n:6d} dialogues: {per_item[n] * 1000:8.1f} ms per item ({accepted} accepted), one-off per build "
                  f"{once * 1000:8.1f} ms, pool opened in {opened:5.2f} s; response_choices alone "
                  f"{step[n] * 1000:7.2f} ms per item")
        small, large = min(args.sizes), max(args.sizes)
        print(f"per-item ratio {large} / {small} dialogues: {per_item[large] / per_item[small]:.2f} "
              f"(response_choices alone {step[large] / step[small]:.2f})")


if __name__ == "__main__":
    main()
