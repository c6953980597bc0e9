"""Run context: what a caller may set per run. Serializable; never holds secrets or objects."""

from __future__ import annotations

from pydantic import BaseModel, Field

OFFLINE = "offline"


class Context(BaseModel):
    """Which decider runs, loop bounds, size and paths. Model names only: API keys stay in the env."""

    llm: str = Field(OFFLINE, description="'offline' for the rule-based policy, else a chat model name.")
    size: int = Field(24, ge=1, description="Number of items the benchmark should hold.")
    seed: int = 0
    pool: str = Field("", description="Pool root; empty means the bundled demo pool.")
    out_dir: str = Field("", description="Run directory; empty means runs/<name>-<time> under the cwd.")
    max_design_rounds: int = Field(3, ge=1, description="Design<->grounding rounds before giving up.")
    max_adjust_rounds: int = Field(4, ge=0, description="Allocation diagnose/adjust rounds per allocation.")
    max_repairs: int = Field(2, ge=0, description="Repairs of one drafted item before it is discarded.")
    attempts_per_item: float = Field(
        3.0, ge=1, description="Raw samples a quota may draw per item it needs before it stops short."
    )
    score_threshold: float = Field(0.5, ge=0, le=1, description="Minimum of each plan score to keep it.")
    snr_db: float | None = Field(None, description="Background noise SNR for spoken items; None: from the requirement.")
    speech_check: bool = Field(
        True, description="Recognise rendered speech offline and require it to match its script (about 0.3 s "
        "per second of speech)."
    )
