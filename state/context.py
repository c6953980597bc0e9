"""Run context: what a caller may set per run. Serializable; never holds secrets or objects."""

from __future__ import annotations

from pydantic import BaseModel, Field

OFFLINE = "offline"
MAX_SIZE = 100_000  # items per benchmark; far above any published one, far below what a disk holds
MAX_CONCURRENCY = 64  # samples at once; each holds a thread, and endpoints rarely take more
MAX_SEED = 2**32 - 1  # numpy's legacy seeding takes 32 bits
SNR_RANGE_DB = (-20.0, 60.0)  # below -20 dB speech drowns; above 60 dB noise is inaudible


class Context(BaseModel):
    """Which decider runs, loop bounds, size and paths. Model names only: API keys stay in the env."""

    llm: str = Field(OFFLINE, description="'offline' for the rule-based policy; else the model for every role: "
                     "a name (OPENAI_BASE_URL), NAME=BASE_URL, or local:PATH.gguf / local:smollm2 (embedded).")
    llm_roles: dict[str, str] = Field(default_factory=dict, description="Per-role models (planner, orchestrator, "
                                      "verifier, judge) overriding `llm`.")
    llm_concurrency: int = Field(4, ge=1, le=64, description="LLM calls in flight per endpoint.")
    concurrency: int | None = Field(None, ge=1, le=MAX_CONCURRENCY, description="Samples built at once; None: "
                                    "the endpoint's limit (llm_concurrency).")
    max_cost: float | None = Field(None, gt=0, allow_inf_nan=False, description="Stop cleanly once the run's LLM "
                                   "calls cost this many US dollars (from the price table).")
    review: bool = Field(False, description="Pause after planning for a person to approve, edit or reject the spec.")
    size: int = Field(24, ge=1, le=MAX_SIZE, description="Number of items the benchmark should hold.")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seeds every choice of the build.")
    pool: str = Field("", description="Pool root; empty means the bundled demo pool.")
    out_dir: str = Field("", description="Run directory; empty means runs/<name>-<time> under the cwd.")
    max_design_rounds: int = Field(3, ge=1, description="Design<->grounding rounds before giving up.")
    max_adjust_rounds: int = Field(4, ge=0, description="Allocation diagnose/adjust rounds per allocation.")
    max_repairs: int = Field(2, ge=0, description="Repairs of one drafted item before it is discarded.")
    attempts_per_item: float = Field(
        3.0, ge=1, description="Raw samples a quota may draw per item it needs before it stops short."
    )
    score_threshold: float = Field(0.5, ge=0, le=1, description="Minimum of each plan score to keep it.")
    snr_db: float | None = Field(
        None, ge=SNR_RANGE_DB[0], le=SNR_RANGE_DB[1], allow_inf_nan=False,
        description="Background noise SNR in dB for spoken items; None: from the requirement."
    )
    refresh_of: str = Field("", description="A built run this build is the next version of: its subtasks, plans and "
                            "per-quota counts, a new seed, and no source row it or an earlier version used.")
    speech_check: bool = Field(
        True, description="Recognise rendered speech offline and require it to match its script (about 0.3 s "
        "per second of speech)."
    )

