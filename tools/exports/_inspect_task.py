"""Inspect task for a Benchmark Agent export; copied into the export as task.py.

  inspect eval task.py --model openai/gpt-4o [-T subtask=NAME]

Multiple-choice samples get multiple_choice() and choice(); open ones generate() and match()."""

from __future__ import annotations

from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import json_dataset
from inspect_ai.scorer import Score, Scorer, Target, accuracy, choice, match, scorer, stderr
from inspect_ai.solver import Generate, Solver, TaskState, generate, multiple_choice, solver

DATASET = Path(__file__).resolve().parent / "dataset.jsonl"


@solver
def answer() -> Solver:
    mc, open_ended = multiple_choice(), generate()

    async def solve(state: TaskState, generate_fn: Generate) -> TaskState:
        return await (mc if len(state.choices) else open_ended)(state, generate_fn)

    return solve


@scorer(metrics=[accuracy(), stderr()])
def graded() -> Scorer:
    by_letter, by_text = choice(), match(location="any", ignore_case=True)

    async def score(state: TaskState, target: Target) -> Score:
        return await (by_letter if len(state.choices) else by_text)(state, target)

    return score


@task
def benchmark(subtask: str | None = None) -> Task:
    dataset = json_dataset(str(DATASET))
    if subtask:
        dataset = dataset.filter(lambda s: s.metadata["subtask"] == subtask)
        if not len(dataset):
            raise ValueError(f"no samples of subtask {subtask!r} in {DATASET}")
    return Task(dataset=dataset, solver=answer(), scorer=graded())
