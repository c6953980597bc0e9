"""The plan steps: each turns part of a pool row into part of a draft item.

A plan may name only the steps registered here, and the steps call only the pure tools of
tools.registry, so a plan written by a model (or text inside a dataset row) runs nothing else.
Importing this package registers every step module.
"""

from tools.plans.steps import binary, media, multi_image, omni, overlap, real_audio, text, written  # noqa: F401
from tools.plans.steps.core import STEPS, Draft, StepEnv, StepError, run_step
from tools.plans.steps.text import NLI_LABELS, nli_label

__all__ = ["NLI_LABELS", "STEPS", "Draft", "StepEnv", "StepError", "nli_label", "run_step"]
