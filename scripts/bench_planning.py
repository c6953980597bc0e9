"""Planning wall time and LLM calls against the scripted OpenAI server at 1 s latency, with one call
in flight (serial) and with independent calls made concurrently.

    .venv/bin/python scripts/bench_planning.py [--latency 1.0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from openai_stub import OpenAIStub, Reply, by_schema  # noqa: E402
from support import mcq_rows, run, write_dataset  # noqa: E402

SUBJECTS = ["counting", "arithmetic", "ordering", "parity"]


def _pool(root: Path) -> Path:
    for name in SUBJECTS:
        write_dataset(root / "pool", f"{name}-mcq", mcq_rows(12, prefix=name[0]),
                      card={"description": f"Multiple choice questions about {name} numbers."})
    return root / "pool"


def _script():
    subtasks = [{"name": f"{s.title()} skill", "description": f"Items about {s}.", "clause": s, "recipe": "text-mcq",
                 "keywords": [s, "numbers"]} for s in SUBJECTS]
    judgement = {"plans": [{"recipe": "text-mcq", **{k: {"score": 5, "reason": "fits"}
                                                     for k in ("alignment", "robustness", "preservation")}}]}
    return by_schema({"DesignProposal": Reply({"subtasks": subtasks, "not_covered": []}),
                      "DataPreference": Reply({"modality": "text", "annotation": "question, options, answer",
                                               "domain": "numbers", "query": "numbers"}),
                      "CardJudgement": Reply(judgement)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=1.0)
    args = parser.parse_args()
    print(f"planning 4 subtasks over 4 datasets, scripted model at {args.latency:g} s a call")
    for concurrency in (1, 8):
        with tempfile.TemporaryDirectory() as tmp, OpenAIStub(_script(), latency=args.latency) as stub:
            pool = _pool(Path(tmp))
            started = time.perf_counter()
            state = run("numbers: counting, arithmetic, ordering and parity", pool, Path(tmp) / "out", size=8,
                        llm=f"bench-model={stub.url}", llm_concurrency=concurrency)
            wall = time.perf_counter() - started
            planning = sum(state["summary"]["durations_s"].get(n, 0.0) for n in ("design", "grounding"))
            print(f"concurrency {concurrency}: {len(stub.requests)} calls, at most {stub.max_in_flight} in flight, "
                  f"planning {planning:.1f} s, whole build {wall:.1f} s, status {state['status']}")


if __name__ == "__main__":
    main()
