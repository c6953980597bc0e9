"""Controlled fault injection: a step-by-step solution, proof or function with exactly one wrong step,
the fault's step number being the answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from tools.registry import Ask, Workspace, tool
from tools.text import norm
from tools.written.prompts import MAX_SOURCE, WrittenParams, messages, require

_WORK = {"solution": "a step-by-step solution", "proof": "a step-by-step proof",
         "code": "a short function, one line per step"}


class InjectFaultParams(WrittenParams):
    problem: str = Field(min_length=1, max_length=MAX_SOURCE)
    answer: str = Field("", max_length=2000, description="The known correct answer the clean work must reach.")
    kind: Literal["solution", "proof", "code"] = "solution"
    n_steps: int = Field(5, ge=2, le=10, description="How many steps the work has (each becomes an option).")
    fault_at: int | None = Field(None, ge=1, le=10, description="Which step to make wrong; None: the model picks.")

    @model_validator(mode="after")
    def _fault_within(self) -> InjectFaultParams:
        if self.fault_at is not None and self.fault_at > self.n_steps:
            raise ValueError(f"fault_at {self.fault_at} is past the last of {self.n_steps} steps")
        return self


class FaultyWork(BaseModel):
    clean_steps: list[str] = Field(description="The correct work, one step per entry.")
    faulty_steps: list[str] = Field(description="The same steps with exactly one changed to be wrong.")
    fault_step: int = Field(description="Number (from 1) of the changed step.")
    fault: str = Field(description="What is wrong in that step.")


@tool("inject_fault", InjectFaultParams,
      "Write correct step-by-step work for a problem (a solution, a proof or a function), then the same work with "
      "exactly one step made wrong; records the wrong step's number and what is wrong.", llm=True)
def inject_fault(p: InjectFaultParams, ws: Workspace, ask: Ask) -> tuple[list[Path], dict[str, Any]]:
    task = (f"Write {_WORK[p.kind]} for the problem below in exactly {p.n_steps} steps"
            + (", ending with the answer given" if p.answer else "")
            + f". Then copy it with exactly one step{f' (step {p.fault_at})' if p.fault_at else ''} changed so that "
            "it is wrong (a plausible slip: a miscalculation, a wrong rule, an off-by-one) and every other step "
            "identical. Give the changed step's number and say what is wrong in it.")
    out = ask(messages(task, {"Problem": p.problem, "Answer": p.answer}, p.feedback), FaultyWork)
    n = len(out.clean_steps)
    require(n == p.n_steps, f"the work has {n} steps; {p.n_steps} were asked for")
    require(len(out.faulty_steps) == n, f"the faulty copy has {len(out.faulty_steps)} steps, the work {n}")
    require(1 <= out.fault_step <= n, f"the fault is in step {out.fault_step}, but there are {n} steps")
    require(p.fault_at in (None, out.fault_step), f"the fault is in step {out.fault_step}, not step {p.fault_at}")
    changed = [k for k, (a, b) in enumerate(zip(out.clean_steps, out.faulty_steps), 1) if norm(a) != norm(b)]
    require(changed == [out.fault_step], f"steps {changed or 'none'} differ from the clean work; exactly step "
            f"{out.fault_step} must")
    require(bool(out.fault.strip()), "what is wrong in the step is not said")
    require(not p.answer or p.kind == "code" or norm(p.answer) in norm(out.clean_steps[-1]),
            f"the clean work does not end with the answer {p.answer!r}")
    return [], {"clean_steps": out.clean_steps, "faulty_steps": out.faulty_steps, "fault_step": out.fault_step,
                "fault": out.fault.strip()}
