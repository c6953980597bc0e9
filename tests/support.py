"""Shared test helpers: tiny pools written to tmp_path, and a graph run that keeps its full state."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agents.executor import realise
from agents.step_policy import OfflineStepPolicy
from agents.verifier import OfflineVerifier
from graph.builder import build_graph
from graph.checkpoints import memory_saver
from state.context import Context
from state.models import Grounding, Item, PlanScores, Verdict
from tools.plans.recipes import RECIPES
from tools.plans.steps import StepEnv
from tools.pool import Pool
from tools.run_store import RunStore

ROOT = Path(__file__).resolve().parents[1]
GB_MINI = ROOT.parent / "shared" / "pools" / "general-bench-mini"
# A script for speech round trips, and one of the same length that the audio does not say.
SCRIPT = ("The children walked to school in the morning. Please call me back when you get home tonight. "
          "She said the meeting had been moved to the small room on the third floor.")
WRONG = ("Quantum engines hum beneath frozen oceans. Seventeen violet kites drift over the desert. "
         "Nobody expected the orchestra to play backwards during the election.")
needs_gb_mini = pytest.mark.skipif(not GB_MINI.is_dir(), reason=f"General-Bench mini pool absent at {GB_MINI}")


# Honest cards for the tiny pools tests write, so that grounding (absolute alignment against the card,
# floor 0.5) finds them on topic when the requirement names what their rows are about.
COUNTING_CARD = {"name": "counting-mcq", "task": "counting",
                 "description": "Short multiple choice questions about counting numbers: which number comes after "
                                "a given number; answer by choosing one of four numeric options."}
NLI_CARD = {"name": "everyday-nli", "task": "natural language inference",
            "description": "Entailment between everyday statements: each premise and hypothesis pair is "
                           "labelled entailment, contradiction or neutral."}
OBJECTS_CARD = {"name": "objects", "task": "object recognition",
                "description": "Pictures of everyday objects, each labelled with the object it shows: cat, dog, "
                               "bird or fish."}


def named_card(base: dict[str, Any], name: str) -> dict[str, Any]:
    """`base` for a dataset written under another folder name."""
    return {**base, "name": name}


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`benchagent ARGS` in a subprocess; whatever happens, it prints no traceback."""
    proc = subprocess.run([sys.executable, "-m", "graph.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200", **(env or {})})
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def write_dataset(pool: Path, name: str, rows: list[dict[str, Any]], card: dict | None = None) -> Path:
    folder = pool / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "data.jsonl", "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    if card:
        (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
    return folder


def draw_image(path: Path, label: str, blank: bool = False) -> None:
    """A 96x96 picture with the label's initial drawn on it (or a flat grey square); the circle's place
    follows the file name, and so does a 32-pixel mark along the top edge (the name's CRC-32, one dark
    pixel per set bit: the shift alone repeats, im6.png and im18.png share it), so two pictures of one
    label are two pictures, not duplicates."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((96, 96, 3), 128, np.uint8)
    if not blank:
        shift = sum(path.name.encode()) % 17 - 8
        cv2.circle(img, (48 + shift, 48), 20 + len(label) % 15, (20, 200, 40), -1)
        cv2.putText(img, label[:2], (30, 60), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        code = zlib.crc32(path.name.encode())
        for bit in range(32):
            if code >> bit & 1:
                img[0, 32 + bit] = 40
    cv2.imwrite(str(path), img)


def mcq_rows(n: int, prefix: str = "q", bad: set[int] = frozenset()) -> list[dict[str, Any]]:
    """Multiple-choice rows; rows in `bad` give an answer that is not among their options."""
    return [{"id": f"{prefix}{i}", "question": f"Which number comes after {i} in counting?",
             "options": [str(i + 1), str(i + 2), str(i + 3), str(i - 1)],
             "answer": "none of these" if i in bad else "A"} for i in range(n)]


def label_image_rows(folder: Path, n: int, labels: list[str], blank: set[int] = frozenset()) -> list[dict]:
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        draw_image(folder / "images" / f"im{i}.png", label, blank=i in blank)
        rows.append({"id": f"im{i}", "image": f"images/im{i}.png", "question": "What is shown?", "label": label})
    return rows


def run(requirement: str, pool: Path | str, out: Path, **ctx: Any) -> dict[str, Any]:
    """Build with an in-memory checkpointer; return the final full state (not just the output)."""
    graph = build_graph(checkpointer=memory_saver(), confine_paths=False)
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"requirement": requirement}, config, context=Context(pool=str(pool), out_dir=str(out), **ctx))
    return graph.get_state(config).values


def items(out: Path) -> list[dict[str, Any]]:
    path = out / "items.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def rejections(out: Path) -> list[dict[str, Any]]:
    path = out / "rejected.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height; tiny on disk, a bomb if decoded."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0"))
                     + chunk(b"IEND", b""))


# Scripted answers for the executor's LLM roles, for tests whose subject is elsewhere: the orchestrator keeps
# every plan step as it is and the verifier accepts every item.
KEEP_STEP = {"params": [], "fields": [], "reason": "the plan fits this sample"}
ACCEPT_ITEM = {"tests_skill": True, "answerable": True, "unambiguous": True, "answer_correct": True, "no_leak": True,
               "action": "accept", "failed_step": "", "reason": ""}


def offline_realise(grounding: Grounding, env: StepEnv) -> Item:
    """One item from one sample by the executor's steps, with the offline step policy (no graph)."""
    return realise(grounding, env, {"grounding": grounding.key, "sample_id": env.sample, "repairs": 0},
                   OfflineStepPolicy())


def realise_item(pool: Pool, dataset: str, recipe_id: str, sample_id: str, run: Path, seed: int = 5,
                 speech_check: bool = False) -> tuple[Item, Verdict]:
    """Build one item of `recipe_id` from a pool row and verify it offline."""
    recipe, card = RECIPES[recipe_id], pool.card(dataset)
    grounding = Grounding(subtask=recipe_id, plan=recipe.plan(card), capacity=1, expected_yield=1,
                          scores=PlanScores(alignment=1, robustness=1, preservation=1))
    row, store = pool.row(dataset, sample_id), RunStore(run)
    env = StepEnv(pool=pool, card=card, row=row, store=store, item_id=f"{recipe_id}.{sample_id}", seed=seed)
    item = offline_realise(grounding, env)
    return item, OfflineVerifier(speech_check=speech_check).verify(item, row, store, pool)
