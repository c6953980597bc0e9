"""`benchagent report`: one self-contained HTML page of a built benchmark: its spec and coverage, counts
per subtask, every item browsable with its image and an audio player, verification and blind-solver
figures, eval results with plots (accuracy per subtask per model with intervals, blind against full),
judge scores, review verdicts and cost. Media are embedded, so the page can be mailed or archived."""

from __future__ import annotations

import base64
import json
import mimetypes
from html import escape
from pathlib import Path
from typing import Any

from tools.run_store import ITEMS, RUN, SPEC, SUMMARY
from tools.safety import UnsafeInputError, confine
from tools.text import LETTERS

MAX_ITEMS = 500  # embedded with their media; a page of thousands of embedded clips no browser opens well
COLOURS = ("#3b6ea5", "#d9822b", "#4c9a52", "#b04a5a", "#7a5ea8", "#8c7a3c")

STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.item{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.6em 0}.item img{max-width:320px;display:block}
.answer{color:#276a2b;font-weight:600}.meta{color:#666;font-size:12px}.bad{color:#a33}
svg.plot{background:#fafafa;border:1px solid #eee;margin:.5em 0}"""
SCRIPT = """const pick=document.getElementById('subtask');
pick.addEventListener('change',()=>{for(const el of document.querySelectorAll('.item')){
el.hidden=pick.value!==''&&el.dataset.subtask!==pick.value;}});"""


class ReportError(ValueError):
    """The run cannot be reported; the message says why and what to do."""


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _data_uri(root: Path, rel: str) -> str | None:
    """A run-relative media file as a data URI; None when it is gone or outside the run."""
    try:
        path = confine(root, rel)
    except UnsafeInputError:
        return None
    if not path.is_file():
        return None
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _table(head: list[str], rows: list[list[Any]]) -> str:
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def bar_plot(title: str, groups: list[str], series: dict[str, list[tuple[float, float, float] | None]]) -> str:
    """Grouped bars in [0, 1] with interval whiskers, as inline SVG: series name -> per group (value, low,
    high) or None."""
    width, height, left, bottom = 760, 240, 40, 60
    slot = (width - left) / max(len(groups), 1)
    bar = slot * 0.8 / max(len(series), 1)
    parts = [f'<svg class="plot" width="{width}" height="{height + bottom}" role="img" aria-label="{escape(title)}">',
             f'<text x="{left}" y="14" font-weight="600">{escape(title)}</text>']
    for tick in (0, 0.5, 1):
        y = 20 + (1 - tick) * height
        parts.append(f'<line x1="{left}" x2="{width}" y1="{y}" y2="{y}" stroke="#ddd"/>'
                     f'<text x="4" y="{y + 4}" font-size="11">{tick:.1f}</text>')
    for s, (name, values) in enumerate(series.items()):
        colour = COLOURS[s % len(COLOURS)]
        parts.append(f'<rect x="{left + 10 + s * 150}" y="{height + 44}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{left + 24 + s * 150}" y="{height + 53}" font-size="11">{escape(name[:22])}</text>')
        for g, value in enumerate(values):
            if value is None:
                continue
            mid, low, high = value
            x = left + g * slot + slot * 0.1 + s * bar
            parts.append(f'<rect x="{x:.1f}" y="{20 + (1 - mid) * height:.1f}" width="{bar - 2:.1f}" '
                         f'height="{mid * height:.1f}" fill="{colour}"><title>{escape(name)}: {mid:.2f}</title></rect>')
            cx = x + (bar - 2) / 2
            parts.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{20 + (1 - high) * height:.1f}" '
                         f'y2="{20 + (1 - low) * height:.1f}" stroke="#222"/>')
    for g, name in enumerate(groups):
        parts.append(f'<text x="{left + g * slot + 4:.1f}" y="{height + 34}" font-size="11">{escape(name[:18])}</text>')
    return "".join(parts) + "</svg>"


def _item(root: Path, item: dict) -> str:
    choices = "".join(f"<li{' class=answer' if LETTERS[i] == item['answer'] else ''}>{LETTERS[i]}. "
                      f"{escape(str(c))}</li>" for i, c in enumerate(item.get("choices") or []))
    media = []
    for rel in item.get("image", []):
        uri = _data_uri(root, rel)
        media.append(f'<img src="{uri}" alt="{escape(rel)}">' if uri else f'<p class="bad">missing {escape(rel)}</p>')
    for rel in item.get("audio", []):
        uri = _data_uri(root, rel)
        media.append(f'<audio controls src="{uri}"></audio>' if uri else f'<p class="bad">missing {escape(rel)}</p>')
    answer = "" if choices else f'<p class="answer">{escape(item["answer"])}</p>'
    source = item["source"]
    return (f'<div class="item" data-subtask="{escape(item["subtask"])}"><p class="meta">{escape(item["id"])} · '
            f'{escape(source["dataset"])}/{escape(source["sample_id"])} · {escape(source.get("license") or "?")}</p>'
            f'{"".join(media)}<p>{escape(item["question"])}</p><ol style="list-style:none">{choices}</ol>{answer}'
            "</div>")


def _eval_section(root: Path) -> str:
    results = [r for r in (_json(p) for p in sorted((root / "eval").glob("*.json"))) if r and "model" in r]
    if not results:
        return "<h2>Evaluation</h2><p>No model evaluated yet: run <code>benchagent eval</code>.</p>"
    subtasks = sorted({s for r in results for s in r["per_subtask"]})

    def bars(part: str) -> dict[str, list]:
        """Model -> per subtask (accuracy, low, high) from the full run or its ablation."""
        out = {}
        for r in results:
            table = r["per_subtask"] if part == "full" else (r.get("ablation") or {}).get("per_subtask", {})
            if table:
                out[r["model"] + ("" if part == "full" else " blind")] = [
                    (v["accuracy"], *v["ci95"]) if (v := table.get(s)) and v.get("accuracy") is not None else None
                    for s in subtasks]
        return out

    rows = [[r["model"], s, v["n"], f"{v['accuracy']:.3f}" if v.get("accuracy") is not None else "-",
             "-" if (b := (r.get("ablation") or {}).get("per_subtask", {}).get(s)) is None or b.get("accuracy") is None
             else f"{b['accuracy']:.3f}"] for r in results for s, v in sorted(r["per_subtask"].items())]
    out = ["<h2>Evaluation</h2>", bar_plot("Accuracy per subtask (95% Wilson interval)", subtasks, bars("full"))]
    if bars("blind"):
        out.append(bar_plot("Blind (signal removed) against full", subtasks, {**bars("full"), **bars("blind")}))
    return "".join(out) + _table(["model", "subtask", "items", "accuracy", "blind accuracy"], rows)


def write_report(root: Path) -> Path:
    """Write root/report.html and return its path."""
    summary, spec, run = (_json(root / name) for name in (SUMMARY, SPEC, RUN))
    if summary is None or run is None:
        raise ReportError(f"{root} is not a finished run (no {SUMMARY}); finish it with benchagent resume {root}")
    items = [json.loads(line) for line in (root / ITEMS).read_text(encoding="utf-8").splitlines()]
    subtasks = sorted(summary["per_subtask"])
    blind = summary.get("quality", {}).get("blind_solvers", {})
    parts = [f"<h1>{escape(run['requirement'])}</h1>",
             f"<p>{summary['accepted']} of {summary['requested']} items · status {escape(summary['status'])} · "
             f"licence {escape(str(summary.get('license')))}</p>", "<h2>Spec and coverage</h2>",
             _table(["clause", "served by / why not"], [[c["clause"], ", ".join(c["subtasks"]) if c["served"]
                                                          else c["why"]] for c in summary.get("coverage", [])]),
             _table(["subtask", "recipe", "datasets"], [[s["id"], s["recipe"], ", ".join(
                 g["plan"]["dataset"] for g in spec["groundings"] if g["subtask"] == s["id"])]
                 for s in (spec or {}).get("subtasks", [])]),
             "<h2>Counts</h2>", _table(["subtask", "target", "accepted", "rejected"], [
                 [s, v["target"], v["accepted"], v["rejected"]] for s, v in summary["per_subtask"].items()]),
             "<h2>Verification and blind solvers</h2>",
             bar_plot("Worst option-only solver against chance", sorted(blind), {
                 "worst blind solver": [(blind[s]["accuracy"][blind[s]["worst"]],) * 3 for s in sorted(blind)],
                 "chance": [(blind[s]["chance"],) * 3 for s in sorted(blind)]}),
             _table(["subtask", "items", "chance", "worst solver", "excess", "p"], [
                 [s, v["n"], v["chance"], v["worst"], v["worst_excess"], round(v["p_value"], 3)]
                 for s, v in blind.items()]),
             _eval_section(root)]
    judged = [j for j in (_json(p) for p in sorted((root / "judge").glob("*.json"))) if j and "metrics" in j]
    if judged:
        parts += ["<h2>Judge (0-100)</h2>", _table(["judges", *judged[0]["metrics"]], [
            [", ".join(j["judges"]), *j["metrics"].values()] for j in judged])]
    reviewed = _json(root / "item_review" / "summary.json")
    if reviewed and reviewed.get("reviewed"):
        parts += ["<h2>Human review</h2>", f"<p>{reviewed['accepted']} of {reviewed['reviewed']} accepted "
                  f"({reviewed['rate']:.0%}, 95% interval {reviewed['ci95'][0]:.0%}-{reviewed['ci95'][1]:.0%}).</p>"]
    if summary.get("llm"):
        total = summary["llm"]["total"]
        parts += ["<h2>Cost</h2>", f"<p>{total['calls']} LLM calls ({total['cached_calls']} cached), "
                  f"{total['prompt_tokens']} + {total['completion_tokens']} tokens, ${total['cost_usd']:.4f}.</p>"]
    shown = items[:MAX_ITEMS]
    options = "".join(f'<option value="{escape(s)}">{escape(s)}</option>' for s in subtasks)
    parts += [f"<h2>Items ({len(shown)} of {len(items)} shown)</h2>",
              f'<label>subtask <select id="subtask"><option value="">all</option>{options}</select></label>',
              *(_item(root, i) for i in shown)]
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(run["requirement"][:80])}'
            f"</title><style>{STYLE}</style></head><body>{''.join(parts)}<script>{SCRIPT}</script></body></html>")
    out = root / "report.html"
    out.write_text(page, encoding="utf-8")
    return out
