"""The plan steps: each turns part of a pool row into part of a draft item.

A plan may name only the steps registered here, and the steps call only the pure tools of
tools.registry, so a plan written by a model (or text inside a dataset row) runs nothing else.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from state.models import DatasetCard, Modality, Provenance, Row, Step
from tools.pool import Pool
from tools.registry import ToolError, ToolResult, Workspace, call
from tools.run_store import RunStore, safe_name
from tools.safety import UnsafeInputError, check_image_header
from tools.text import LETTERS, norm, similarity

NLI_LABELS = ("entailment", "neutral", "contradiction")
_NLI_ALIASES = {"entail": "entailment", "entails": "entailment", "contradict": "contradiction",
                "contradicts": "contradiction"}


def nli_label(text: object) -> str:
    """A source's entailment label in canonical form ("entails" -> "entailment"); other text as `norm` gives it."""
    label = norm(text)
    return _NLI_ALIASES.get(label, label)


class StepError(ValueError):
    """A step could not turn this row into an item; the message is the rejection reason."""


@dataclass
class Draft:
    """An item under construction; the executor turns it into an Item."""

    question: str = ""
    choices: list[str] | None = None
    answer_text: str = ""
    modality: Modality = "text"
    image: list[Path] = field(default_factory=list)
    audio: list[Path] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    provenance: list[Provenance] = field(default_factory=list)

    @property
    def answer(self) -> str:
        """The letter of the answer among the choices, or the answer text for open items."""
        if self.choices is None:
            return self.answer_text
        return LETTERS[[norm(c) for c in self.choices].index(norm(self.answer_text))]


@dataclass
class StepEnv:
    """What a step may read: the pool row and its card; where it may write: the run store."""

    pool: Pool
    card: DatasetCard
    row: Row
    store: RunStore
    item_id: str
    seed: int

    def rng(self, salt: str) -> random.Random:
        return random.Random(f"{self.seed}:{self.item_id}:{salt}")

    def workspace(self) -> Workspace:
        """Pure tools read from the run and the pool, write into the run's media folder."""
        return Workspace(run_dir=self.store.root, read_roots=(self.pool.root,), seed=self.seed)

    def media_name(self, suffix: str) -> str:
        return f"{safe_name(self.item_id, 120)}{suffix}"

    def call(self, draft: Draft, tool_name: str, params: dict[str, Any]) -> ToolResult:
        """Run a registered pure tool for this item and keep its provenance on the draft."""
        try:
            result = call(tool_name, params, self.workspace())
        except ToolError as exc:
            raise StepError(str(exc)) from None
        draft.provenance.append(result.provenance)
        return result


@dataclass(frozen=True)
class Transform:
    name: str
    version: str
    params: type[BaseModel]
    run: Callable[[Draft, StepEnv, Any], list[Path]]


STEPS: dict[str, Transform] = {}


def register(name: str, params: type[BaseModel], version: str = "1"):
    def wrap(fn: Callable[[Draft, StepEnv, Any], list[Path]]):
        STEPS[name] = Transform(name, version, params, fn)
        return fn

    return wrap


def run_step(step: Step, draft: Draft, env: StepEnv) -> None:
    """Validate a step against its tool's parameters, run it and record its provenance."""
    tool = STEPS.get(step.tool)
    if tool is None:
        raise StepError(f"plan names unknown tool {step.tool!r}; known: {', '.join(sorted(STEPS))}")
    try:
        params = tool.params.model_validate(step.params)
    except ValidationError as exc:
        raise StepError(f"bad parameters for {step.tool}: {exc.errors()[0]['msg']}") from None
    outputs = tool.run(draft, env, params)
    draft.provenance.append(
        Provenance(
            tool=tool.name,
            version=tool.version,
            params=params.model_dump(mode="json"),
            inputs=[f"{env.row.dataset}/{env.row.sample_id}"],
            outputs=[env.store.relative(p) for p in outputs],
        )
    )


def _text(row: Row, role: str) -> str:
    value = row.values.get(role)
    return value.strip() if isinstance(value, str) else ""


def _answers(row: Row) -> list[str]:
    """The source's acceptable answers as strings (a list when the source gives several)."""
    value = row.values.get("answer")
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if value is None or isinstance(value, dict) or not str(value).strip():
        return []
    return [str(value).strip()]


# --- text ----------------------------------------------------------------------------------

MAX_DISTRACTOR_SIMILARITY = 0.8


def _confusable(truth: str, others: list[str], n: int, candidates: int, rng: random.Random) -> list[str]:
    """`n` distractors drawn (seeded) from the `candidates` options that look most like `truth`."""
    ranked = sorted(others, key=lambda x: (-similarity(truth, x), x))
    return rng.sample(ranked[: max(candidates, n)], min(n, len(ranked)))



class PromptParams(BaseModel):
    default_question: str = ""
    include_context: bool = True


@register("compose_question", PromptParams)
def compose_question(draft: Draft, env: StepEnv, p: PromptParams) -> list[Path]:
    """Question text from the row (question, else instruction, else the plan's default) plus context."""
    question = _text(env.row, "question") or _text(env.row, "instruction") or p.default_question
    if not question:
        raise StepError("row has no question text and the plan gives no default question")
    context = _text(env.row, "context") if p.include_context else ""
    draft.question = f"{context}\n\n{question}" if context and context not in question else question
    return []


class LabelChoiceParams(BaseModel):
    n_options: int = 4
    candidates: int = 8


@register("label_choices", LabelChoiceParams)
def label_choices(draft: Draft, env: StepEnv, p: LabelChoiceParams) -> list[Path]:
    """Multiple choice from a class label, distractors drawn from the most confusable labels."""
    answers = _answers(env.row)
    space = env.card.label_space or []
    if len(answers) != 1:
        raise StepError("row has no single class label")
    label = answers[0]
    others = [x for x in space if norm(x) != norm(label)]
    if not others:
        raise StepError(f"label space of {env.card.id} is too small for distractors")
    rng = env.rng(f"label_choices:{draft.metadata.get('repair', 0)}")
    choices = [label, *_confusable(label, others, p.n_options - 1, p.candidates, rng)]
    rng.shuffle(choices)
    draft.choices, draft.answer_text = choices, label
    draft.metadata["distractors"] = "label space, ranked by confusability"
    return []


class NoParams(BaseModel):
    pass


@register("source_choices", NoParams)
def source_choices(draft: Draft, env: StepEnv, p: NoParams) -> list[Path]:
    """Keep the source's own options; map a letter or text answer onto them."""
    options = env.row.values.get("options")
    answers = _answers(env.row)
    if not isinstance(options, list) or len(options) < 2 or not answers:
        raise StepError("row lacks options or an answer")
    options = [str(o).strip() for o in options]
    answer = answers[0]
    if len(answer) == 1 and answer.upper() in LETTERS[: len(options)]:
        text = options[LETTERS.index(answer.upper())]
    else:
        matches = [o for o in options if norm(o) == norm(answer)]
        if not matches:
            raise StepError(f"answer {answer!r} is not among the options")
        text = matches[0]
    draft.choices, draft.answer_text = options, text
    return []


@register("entailment_choices", NoParams)
def entailment_choices(draft: Draft, env: StepEnv, p: NoParams) -> list[Path]:
    """Premise and hypothesis become a three-way entailment question."""
    premise, hypothesis = _text(env.row, "premise"), _text(env.row, "hypothesis")
    answers = _answers(env.row)
    if not premise or not hypothesis or len(answers) != 1:
        raise StepError("row lacks a premise, a hypothesis or a single label")
    label = nli_label(answers[0])
    if label not in NLI_LABELS:
        raise StepError(f"label {answers[0]!r} is not one of {', '.join(NLI_LABELS)}")
    draft.question = (
        f"Premise: {premise}\nHypothesis: {hypothesis}\n"
        "What is the relationship between the premise and the hypothesis?"
    )
    draft.choices, draft.answer_text = list(NLI_LABELS), label
    return []


@register("open_answer", NoParams)
def open_answer(draft: Draft, env: StepEnv, p: NoParams) -> list[Path]:
    """Free-text answer; every acceptable answer the source gives is kept for scoring."""
    answers = _answers(env.row)
    if not answers:
        raise StepError("row has no text answer")
    draft.choices, draft.answer_text = None, answers[0]
    draft.metadata["accepted_answers"] = answers
    return []


class ResponseChoiceParams(BaseModel):
    n_options: int = 4
    candidates: int = 12


@register("response_choices", ResponseChoiceParams)
def response_choices(draft: Draft, env: StepEnv, p: ResponseChoiceParams) -> list[Path]:
    """Next-response multiple choice; distractors are the replies from other dialogues of the dataset
    that look most like the true one, so surface cues do not give the answer away."""
    answers = _answers(env.row)
    if len(answers) != 1:
        raise StepError("row has no single next response")
    truth = answers[0]
    others = sorted({a for r in env.pool.rows(env.card.id) if r.sample_id != env.row.sample_id
                     for a in _answers(r)[:1] if norm(a) != norm(truth)})
    # A reply nearly identical to the true one would make the item ambiguous.
    others = [o for o in others if similarity(truth, o) < MAX_DISTRACTOR_SIMILARITY]
    if len(others) < p.n_options - 1:
        raise StepError(f"{env.card.id} has too few other responses for distractors")
    rng = env.rng(f"response_choices:{draft.metadata.get('repair', 0)}")
    choices = [truth, *_confusable(truth, others, p.n_options - 1, p.candidates, rng)]
    rng.shuffle(choices)
    draft.choices, draft.answer_text = choices, truth
    draft.metadata["distractors"] = "replies from other dialogues, ranked by closeness to the true reply"
    return []


# --- media ---------------------------------------------------------------------------------


@register("attach_image", NoParams)
def attach_image(draft: Draft, env: StepEnv, p: NoParams) -> list[Path]:
    """Copy the row's image into the run so the benchmark is self-contained."""
    images = env.row.media.get("image") or []
    if not images:
        raise StepError("; ".join(env.row.problems) or "row has no usable image")
    try:
        source = env.pool.media_path(images[0])
        check_image_header(source)
    except UnsafeInputError as exc:
        raise StepError(str(exc)) from None
    target = env.workspace().output(env.media_name(source.suffix.lower()))
    shutil.copyfile(source, target)
    draft.image, draft.modality = [target], "image"
    draft.metadata["source_image"] = images[0]
    return [target]


class PerturbParams(BaseModel):
    op: Literal["resize", "blur", "noise", "jpeg"]
    params: dict[str, float] = {}


@register("perturb_image", PerturbParams)
def perturb_image(draft: Draft, env: StepEnv, p: PerturbParams) -> list[Path]:
    """Degrade the attached image with the registered image tool; question and answer stay as they are."""
    if not draft.image:
        raise StepError("perturb_image needs an attached image")
    params = {"image": env.store.relative(draft.image[0]), **p.params,
              "out": env.media_name(".jpg" if p.op == "jpeg" else ".png")}
    if p.op == "noise":
        params["seed"] = env.rng("perturb").randrange(2**31)
    result = env.call(draft, f"{p.op}_image", params)
    target = env.store.root / result.outputs[0]
    if draft.image[0] != target:
        draft.image[0].unlink(missing_ok=True)
    draft.image = [target]
    draft.metadata["perturbation"] = {"op": p.op, **p.params}
    return [target]


class DialogueAudioParams(BaseModel):
    pause_ms: int = 400
    noise: Literal["none", "white", "pink", "babble"] = "none"
    snr_db: float | None = None
    sample_rate: int = 16000


@register("dialogue_audio", DialogueAudioParams)
def dialogue_audio(draft: Draft, env: StepEnv, p: DialogueAudioParams) -> list[Path]:
    """Render the dialogue with a voice per speaker, then (if asked) add noise at an exact SNR."""
    turns = env.row.values.get("dialogue")
    if not isinstance(turns, list) or len(turns) < 2:
        raise StepError("row has no dialogue of at least two turns")
    noisy = p.noise != "none" and p.snr_db is not None
    final = env.media_name(".wav")
    speech = env.call(draft, "speak_dialogue", {"turns": turns, "pause_ms": p.pause_ms,
                                                "sample_rate": p.sample_rate,
                                                "out": env.media_name(".speech.wav") if noisy else final})
    timestamps = speech.values["turns"]
    if noisy:
        mixed = env.call(draft, "add_noise", {"speech": speech.outputs[0], "kind": p.noise, "snr_db": p.snr_db,
                                              "seed": env.rng("noise").randrange(2**31), "out": final})
        (env.store.root / speech.outputs[0]).unlink()  # add_noise keeps the scaled clean speech beside the mix
        draft.metadata.update(noise=p.noise, snr_db=p.snr_db, clean_audio=mixed.outputs[1])
    # With two speakers the next turn is the other one's; with more, who speaks next is open.
    speakers = list(dict.fromkeys(t["speaker"] for t in timestamps))
    others = [s for s in speakers if s != timestamps[-1]["speaker"]]
    nxt = others[0] if len(speakers) == 2 else "the next speaker"
    draft.question = (
        f"Listen to the conversation between {' and '.join(speakers)}. "
        f"Which reply would {nxt} most naturally say next?"
    )
    draft.audio, draft.modality = [env.store.root / "media" / final], "audio"
    draft.metadata.update(turns=timestamps, voices=speech.values["voices"])
    return [*draft.audio, *([env.store.root / draft.metadata["clean_audio"]] if noisy else [])]
