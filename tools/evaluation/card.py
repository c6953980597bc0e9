"""The card's Signal dependency section: per model and subtask, accuracy with the image, audio or context
and without it, written into the benchmark's README.md after an eval with --ablate (and replaced by the
next one)."""

from __future__ import annotations

import json
from pathlib import Path

from tools.files import write_atomic
from tools.run_store import CARD

START, END = "<!-- benchagent eval: signal dependency -->", "<!-- end of signal dependency -->"


def _section(results: list[dict]) -> str:
    lines = [START, "## Signal dependency", "",
             "Accuracy with the item's target signal (image, audio or written context) and without it "
             "(`benchagent eval --ablate`). A benchmark whose items need their signal keeps little accuracy blind.",
             "", "| model | subtask | full | blind | retained |", "|---|---|---|---|---|"]
    for result in results:
        for name, row in result["ablation"]["per_subtask"].items():
            full, blind, kept = row.get("full_accuracy"), row.get("accuracy"), row.get("retained")
            lines.append(f"| {result['model']} | {name} | {'-' if full is None else f'{full:.2f}'} | "
                         f"{'-' if blind is None else f'{blind:.2f}'} | {'-' if kept is None else f'{kept:.0%}'} |")
    return "\n".join([*lines, "", END])


def update_card(run_dir: Path) -> bool:
    """Write (or rewrite) the section from every ablated eval result; False when there is none or no card."""
    card = run_dir / CARD
    results = []
    for path in sorted((run_dir / "eval").glob("*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(result, dict) and result.get("ablation", {}).get("per_subtask"):
            results.append(result)
    if not results or not card.is_file():
        return False
    text = card.read_text(encoding="utf-8")
    if START in text and END in text:
        text = text[:text.index(START)] + text[text.index(END) + len(END):].lstrip("\n")
    write_atomic(card, (text.rstrip("\n") + "\n\n" + _section(results) + "\n").encode("utf-8"))
    return True
