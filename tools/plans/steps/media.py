"""Steps that attach, degrade or render an item's media through the registered pure tools."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

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
