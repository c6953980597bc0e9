"""Verifier: checks every drafted item for structure, answer correctness against the source, and the
media it ships (decodes, not blank, measured SNR, distinct voices), then (with a model) its meaning.

The checks of a draft run in its executor task, right after the draft is made, so that a sample's
model calls follow one another without waiting for the round (`verifier_for`). The verifier node then
decides the round's verdicts one at a time in a fixed order, because what it accepts changes what
comes next: the blind-solver tallies, duplicates, the item log, repairs and replacements."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol
from weakref import WeakKeyDictionary

import numpy as np
from langgraph.runtime import Runtime
from langgraph.types import Command

from agents.llm import LLMFactory, choose
from agents.resources import store_for
from agents.semantic import LLMVerifier
from state.context import Context
from state.graph_state import BuildState, DraftRef, QuotaProgress, Work
from state.models import Check, Item, Row, Subtask, Verdict
from tools.plans.recipes import RECIPES
from tools.plans.steps import NLI_LABELS, nli_label
from tools.pool import Pool
from tools.pure.audio import estimate_pitch, measure_snr
from tools.pure.audio_io import read_wav
from tools.pure.probes import probe_audio, probe_image
from tools.quality.blind import counted, guarded_hits, new_tally, shortcut
from tools.quality.degradation import degradation_checks
from tools.quality.item_checks import file_digest, fingerprint, media_references, source_answers, well_formed
from tools.quality.speech_check import decoy_script, speech_check
from tools.run_store import RunStore, item_id
from tools.text import LETTERS, norm

SNR_TOLERANCE_DB = 0.5
MIN_PITCH_GAP_HZ = 10.0
# Checks whose failure a fresh draw of the same step can fix (new distractors, new render).
REPAIRABLE = {"choices_unique"}


class Verifier(Protocol):
    def verify(self, item: Item, row: Row, store: RunStore, pool: Pool) -> Verdict: ...


# Steps whose answer is the source's own: the item's answer must be what the raw record says.
SOURCE_ANSWER_STEPS = {"label_choices", "source_choices", "entailment_choices", "open_answer", "response_choices",
                       "binary_choices"}


def _structure(item: Item) -> list[Check]:
    checks = well_formed(item) + [media_references(item)]
    if item.choices is None:
        return checks + [Check(name="answer_present", passed=bool(item.answer_text.strip()))]
    canon = [norm(c) for c in item.choices]
    checks += [
        Check(name="choices_count", passed=2 <= len(canon) <= len(LETTERS), detail=str(len(canon))),
        Check(name="choices_unique", passed=len(set(canon)) == len(canon) and all(canon)),
        Check(name="answer_letter", passed=item.answer in LETTERS[: len(canon)]
              and canon[LETTERS.index(item.answer)] == norm(item.answer_text),
              detail=f"{item.answer} -> {item.answer_text!r}"),
    ]
    return checks


def _answer_check(item: Item, row: Row, pool: Pool) -> list[Check]:
    """The gold answer against the raw record, for plans whose answer step copies the source's."""
    if not SOURCE_ANSWER_STEPS & {s.tool for s in item.plan.steps}:
        return []
    expected = source_answers(row, pool.card(row.dataset))
    if expected is None:
        return [Check(name="answer_matches_source", passed=False, detail="the source record holds no answer")]
    expected |= {nli_label(a) for a in expected}
    return [Check(name="answer_matches_source", passed=nli_label(item.answer_text) in expected,
                  detail=f"{item.answer_text!r}; the source says {sorted(expected)[:3]}")]


def _media_identity(item: Item, root: Path, pool: Pool) -> list[str]:
    """What each media file shows, for duplicate detection: the source image, else the script, else the bytes."""
    if "source_image" in item.metadata:
        return [file_digest(pool.media_path(item.metadata["source_image"]))]
    if item.metadata.get("turns"):
        return [" ".join(str(t.get("text", "")) for t in item.metadata["turns"])]
    return [file_digest(root / rel) for rel in [*item.image, *item.audio]]


def _duplicate_check(item: Item, store: RunStore, pool: Pool) -> Check:
    item.metadata["fingerprint"] = fingerprint(item, _media_identity(item, store.root, pool))
    twin = store.duplicate_of(item.metadata["fingerprint"])
    return Check(name="not_a_duplicate", passed=twin in (None, item.id),
                 detail=f"repeats accepted item {twin}" if twin not in (None, item.id) else "")


def _image_check(name: str, path: Path) -> Check:
    p = probe_image(path)
    ok = p.decodes and not p.blank and min(p.width, p.height) >= 16
    return Check(name=name, passed=ok, detail=p.error or f"{p.width}x{p.height} blank={p.blank}")


def _images(item: Item, root: Path, pool: Pool) -> list[Check]:
    checks = [_image_check("image", root / rel) for rel in item.image]
    if "source_image" in item.metadata and "degradations" in item.metadata:
        # Noise added to a blank picture is not blank: judge the signal before it was degraded.
        checks.append(_image_check("source_image", pool.media_path(item.metadata["source_image"])))
    return checks


def _snr_check(item: Item, clean: np.ndarray, mixture: np.ndarray) -> Check:
    measured = measure_snr(clean, mixture)
    wanted = float(item.metadata["snr_db"])
    item.metadata["measured_snr_db"] = round(measured, 2)
    return Check(name="snr", passed=abs(measured - wanted) <= SNR_TOLERANCE_DB,
                 detail=f"measured {measured:.2f} dB, asked {wanted:.2f} dB")


def _voices_check(item: Item, clean: np.ndarray, sr: int) -> Check:
    pitches: dict[str, list[float]] = {}
    for t in item.metadata["turns"]:
        pitches.setdefault(t["speaker"], []).append(estimate_pitch(clean[int(t["start"] * sr): int(t["end"] * sr)], sr))
    median = {k: float(np.median(v)) for k, v in pitches.items()}
    ordered = sorted(median.values())
    gap = min(b - a for a, b in zip(ordered, ordered[1:]))
    item.metadata["speaker_pitch_hz"] = {k: round(v, 1) for k, v in median.items()}
    distinct = len(set(item.metadata.get("voices", {}).values())) >= 2
    return Check(name="distinct_voices", passed=distinct and gap >= MIN_PITCH_GAP_HZ,
                 detail=f"closest speakers {gap:.1f} Hz apart")


def _audio(item: Item, root: Path, decoy: str | None) -> list[Check]:
    checks = []
    for rel in item.audio:
        p = probe_audio(root / rel)
        ok = p.decodes and p.duration_s >= 0.5 and p.clipped_fraction < 0.001
        checks.append(Check(name="audio", passed=ok,
                            detail=p.error or f"{p.duration_s:.2f}s clipped={p.clipped_fraction:.4f}"))
        if not p.decodes:
            continue
        mixture, sr = read_wav(root / rel)
        clean_path = root / item.metadata.get("clean_audio", rel)
        clean = read_wav(clean_path)[0] if clean_path != root / rel else mixture
        if "clean_audio" in item.metadata and item.metadata.get("snr_db") is not None:
            checks.append(_snr_check(item, clean, mixture))
        turns = item.metadata.get("turns", [])
        if len({t["speaker"] for t in turns}) >= 2:
            checks.append(_voices_check(item, clean, sr))
        if turns and decoy is not None:
            checks.append(speech_check(item, clean_path, decoy))
    return checks


class OfflineVerifier:
    """Rule checks; semantic validity offline means the answer is the source's, the question is
    well-formed, options are distinct, and the media really carries the signal the item claims."""

    def __init__(self, speech_check: bool = True) -> None:
        self.speech_check = speech_check

    def verify(self, item: Item, row: Row, store: RunStore, pool: Pool) -> Verdict:
        checks = _structure(item) + _answer_check(item, row, pool) + [_duplicate_check(item, store, pool)]
        if item.plan.recipe == "entailment-mcq":
            checks.append(Check(name="nli_label", passed=norm(item.answer_text) in NLI_LABELS))
        decoy = decoy_script(pool, row) if self.speech_check and item.audio else None
        checks += _images(item, store.root, pool) + degradation_checks(item, store.root, pool)
        checks += _audio(item, store.root, decoy)
        recipe = RECIPES.get(item.plan.recipe)
        if recipe is not None:
            checks += recipe.checks(item, row, pool, store.root)
        failed = [c for c in checks if not c.passed]
        if not failed:
            return Verdict(action="accept", checks=checks)
        reason = "; ".join(f"{c.name} failed ({c.detail})" if c.detail else f"{c.name} failed" for c in failed)
        action = "repair" if {c.name for c in failed} <= REPAIRABLE else "discard"
        return Verdict(action=action, checks=checks, reason=reason)


def _drop_media(item: Item, store: RunStore) -> None:
    for rel in [*item.image, *item.audio, item.metadata.get("clean_audio")]:
        if rel:
            (store.root / rel).unlink(missing_ok=True)


def _guard_blind(item: Item, verdict: Verdict, tally: dict) -> tuple[Verdict, dict[str, bool] | None]:
    """Send back an item a blind solver would answer while already ahead of chance in its subtask (new
    distractors on repair). Returns the verdict and, when it stands, the item's hits to count."""
    hits = guarded_hits(tally, item.model_dump(mode="json"))
    solver = shortcut(tally, hits, len(item.choices or []))
    if solver is None:
        return verdict, hits
    check = Check(name="no_blind_shortcut", passed=False,
                  detail=f"the {solver} solver answers it from the options alone and is already ahead of chance "
                         f"in {item.subtask}")
    return Verdict(action="repair", checks=[*verdict.checks, check],
                   reason=f"no_blind_shortcut failed ({check.detail})"), None


# Per run store: each subtask's blind-solver tally of its accepted items. It follows from the item log in
# its order, so it is replayed from there once per process and kept up to date as items are accepted; in
# the graph's state it would grow with every distinct answer.
_TALLIES: WeakKeyDictionary[RunStore, dict[str, dict]] = WeakKeyDictionary()


def _tallies(store: RunStore) -> dict[str, dict]:
    if store not in _TALLIES:
        tallies: dict[str, dict] = {}
        for record in store.items():
            if record.get("choices"):
                tally = tallies.get(record["subtask"]) or new_tally()
                tallies[record["subtask"]] = counted(tally, record, guarded_hits(tally, record))
        _TALLIES[store] = tallies
    return _TALLIES[store]


def verifier_for(ctx: Context, run_dir: str, subtask: Subtask, get_llm: LLMFactory | None = None) -> Verifier:
    """The checks an executor task runs on its draft: the rules, then the LLM's when the role has a model."""
    rules = OfflineVerifier(ctx.speech_check)
    return choose(ctx, lambda: rules, lambda client: LLMVerifier(client, rules, {subtask.id: subtask}), get_llm,
                  run_dir, role="verifier")


class _Books:
    """The verifier's sequential pass over one round's verdicts, in a fixed order: blind tallies,
    duplicates within the round, the item log, rejections, repairs and quota counts."""

    def __init__(self, state: BuildState, ctx: Context, store: RunStore, writer) -> None:
        self.ctx, self.store, self.writer = ctx, store, writer
        self.progress = {k: QuotaProgress(**v) for k, v in state["progress"].items()}
        self.tallies = _tallies(store)
        self.groundings = {g.key: g for g in state["groundings"]}
        self.repairs: list[Work] = []
        self.halt: dict | None = None

    def settle(self, ref: DraftRef) -> None:
        work = ref["work"]
        prog = self.progress[work["grounding"]]
        if ref.get("stop"):
            self.halt = self.halt or ref["stop"]
            return
        item, verdict = None, Verdict(action="discard", reason=ref["failure"])
        if ref["draft"] is not None:
            if not (self.store.root / ref["draft"]).exists():
                self._settled_before(work, prog)
                return
            item, verdict = self.store.read_draft(ref["draft"])
        hits = None
        if verdict.action == "accept" and item.choices:
            verdict, hits = _guard_blind(item, verdict, self.tallies.get(item.subtask) or new_tally())
        if verdict.action == "accept":
            twin = self.store.duplicate_of(item.metadata.get("fingerprint", ""))
            if twin not in (None, item.id):  # drafted in the same round as its twin
                verdict = Verdict(action="discard", checks=verdict.checks, reason=f"repeats accepted item {twin}")
        if verdict.action == "accept":
            item.metadata["checks"] = [c.name for c in verdict.checks]
            if not self.store.add_item(item):  # only an item on disk is counted
                verdict = Verdict(action="discard", checks=verdict.checks,
                                  reason=f"item id {item.id} is held by another source's item")
        if verdict.action == "accept":
            if hits is not None:
                tally = self.tallies.get(item.subtask) or new_tally()
                self.tallies[item.subtask] = counted(tally, item.model_dump(mode="json"), hits)
            self.store.drop_draft(ref["draft"])
            prog["accepted"] += 1
            self.writer({"event": "accepted", "grounding": work["grounding"], "item": item.id,
                         "accepted": prog["accepted"]})
        elif verdict.action == "repair" and work["repairs"] < self.ctx.max_repairs:
            self.repairs.append(Work(grounding=work["grounding"], sample_id=work["sample_id"],
                                     repairs=work["repairs"] + 1, feedback=verdict.repair))
            prog["repaired"] = prog.get("repaired", 0) + 1
        else:
            if item is not None:
                self._drop(item, ref)
            self.store.add_rejection({"grounding": work["grounding"], "sample_id": work["sample_id"],
                                      "repairs": work["repairs"], "reason": verdict.reason,
                                      "failed": [c.name for c in verdict.failed]})
            prog["rejected"] += 1
            self.writer({"event": "rejected", "grounding": work["grounding"], "reason": verdict.reason})

    def _settled_before(self, work: Work, prog: QuotaProgress) -> None:
        """A kill landed after this draft's verdict was written, before its checkpoint: the item is on
        disk already (count it), or nothing is and it is built again, as the same attempt."""
        g = self.groundings[work["grounding"]]
        if item_id(g.subtask, g.plan.dataset, work["sample_id"]) in self.store.accepted_ids():
            prog["accepted"] += 1
        else:
            self.repairs.append(work)

    def _drop(self, item: Item, ref: DraftRef) -> None:
        _drop_media(item, self.store)
        self.store.drop_draft(ref["draft"])


def make_verifier_node():
    def verifier(state: BuildState, runtime: Runtime[Context]) -> Command[Literal["orchestrator"]]:
        ctx = runtime.context or Context()
        books = _Books(state, ctx, store_for(state["run_dir"]), runtime.stream_writer)
        for _, ref in sorted((state.get("drafts") or {}).items()):  # one fixed order, whatever finished first
            books.settle(ref)
        update = {"progress": books.progress, "drafts": None, "repairs": books.repairs}
        if books.halt:
            update["halt"] = books.halt
        return Command(goto="orchestrator", update=update)

    return verifier
