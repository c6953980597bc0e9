"""Steps that attach, degrade or render an item's media through the registered pure tools."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tools.plans.steps.core import Draft, StepEnv, StepError, register
from tools.plans.steps.text import NoParams
from tools.safety import UnsafeInputError, check_image_header


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


class Degradation(BaseModel):
    op: Literal["resize", "blur", "noise", "jpeg"]
    params: dict[str, float] = {}


class PerturbParams(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a plan's misspelt key is an error, not a silent default

    # Applied in order to every item; empty: the orchestrator picks one per sample (a general
    # robustness subtask that names no degradation).
    ops: list[Degradation] = []


@register("perturb_image", PerturbParams)
def perturb_image(draft: Draft, env: StepEnv, p: PerturbParams) -> list[Path]:
    """Degrade the attached image with the registered image tools, one after another; question and
    answer stay as they are."""
    if not draft.image:
        raise StepError("perturb_image needs an attached image")
    if not p.ops:
        raise StepError("perturb_image names no degradation")
    for k, d in enumerate(p.ops):
        last = k == len(p.ops) - 1
        params = {"image": env.store.relative(draft.image[0]), **d.params,
                  "out": env.media_name(f".{k}" * (not last) + (".jpg" if d.op == "jpeg" else ".png"))}
        if d.op == "noise":
            params["seed"] = env.rng(f"perturb:{k}").randrange(2**31)
        result = env.call(draft, f"{d.op}_image", params)
        target = env.store.root / result.outputs[0]
        if draft.image[0] != target:
            draft.image[0].unlink(missing_ok=True)
        draft.image = [target]
    draft.metadata["degradations"] = [d.model_dump() for d in p.ops]
    return [draft.image[0]]


class DialogueAudioParams(BaseModel):
    pause_ms: int = 400
    noise: Literal["none", "white", "pink", "babble"] = "none"
    snr_db: float | None = None
    sample_rate: int = 16000


@register("dialogue_audio", DialogueAudioParams)
def dialogue_audio(draft: Draft, env: StepEnv, p: DialogueAudioParams) -> list[Path]:
    """Render the dialogue with a voice per speaker, then (if asked) add noise at an exact SNR.

    An unattributed dialogue (speakers None: the source does not say who speaks) is read by one
    narrator voice with pauses between turns, and its question does not claim who speaks: a voice
    per guessed turn-taker would tell the listener who says what when nobody knows."""
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
    draft.question = _next_reply_question(timestamps)
    draft.audio, draft.modality = [env.store.root / "media" / final], "audio"
    draft.metadata.update(turns=timestamps, voices=speech.values["voices"])
    return [*draft.audio, *([env.store.root / draft.metadata["clean_audio"]] if noisy else [])]


def _next_reply_question(turns: list[dict]) -> str:
    speakers = list(dict.fromkeys(t["speaker"] for t in turns))
    if None in speakers:
        return "Listen to the conversation. Which reply most naturally comes next in this conversation?"
    # With two speakers the next turn is the other one's; with more, who speaks next is open.
    others = [s for s in speakers if s != turns[-1]["speaker"]]
    nxt = others[0] if len(speakers) == 2 else "the next speaker"
    return (f"Listen to the conversation between {' and '.join(speakers)}. "
            f"Which reply would {nxt} most naturally say next?")
