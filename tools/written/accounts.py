"""Several accounts of one event from different viewpoints, one of them unreliable, and which one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tools.registry import Ask, Workspace, tool
from tools.text import norm
from tools.written.prompts import MAX_SOURCE, WrittenParams, messages, require


class BuildAccountsParams(WrittenParams):
    passage: str = Field(min_length=1, max_length=MAX_SOURCE, description="The source telling of the event.")
    n_accounts: int = Field(3, ge=2, le=6)
    viewpoints: list[str] = Field(default_factory=list, max_length=6, description="Who tells each account, e.g. "
                                  "'a passer-by'; empty: the model chooses.")


class Account(BaseModel):
    narrator: str = Field(description="Who tells this account.")
    text: str


class Accounts(BaseModel):
    event: str = Field(description="The event in one sentence, as the source tells it.")
    accounts: list[Account]
    unreliable: int = Field(description="Number (from 1) of the one account that contradicts the source.")
    contradiction: str = Field(description="What that account gets wrong, against the source.")


@tool("build_accounts", BuildAccountsParams,
      "Write several first-person accounts of the event a passage tells, from different viewpoints: all "
      "faithful to the passage but one, which is biased or wrong on a key fact; records which and why.", llm=True)
def build_accounts(p: BuildAccountsParams, ws: Workspace, ask: Ask) -> tuple[list[Path], dict[str, Any]]:
    task = (f"Write {p.n_accounts} short accounts of the event in the source, each told by a different person"
            + (f" ({'; '.join(p.viewpoints)})" if p.viewpoints else "")
            + ". All accounts but one must agree with the source on every fact, though each tells it from its "
            "narrator's viewpoint. Exactly one account must be unreliable: biased, and wrong about one key fact "
            "of the source. Give its number and say what it gets wrong.")
    out = ask(messages(task, {"Source": p.passage}, p.feedback), Accounts)
    n = len(out.accounts)
    require(n == p.n_accounts, f"{n} accounts were written, {p.n_accounts} were asked for")
    require(all(a.text.strip() and a.narrator.strip() for a in out.accounts), "an account or its narrator is empty")
    require(len({norm(a.narrator) for a in out.accounts}) == n, "two accounts have the same narrator")
    require(len({norm(a.text) for a in out.accounts}) == n, "two accounts are the same text")
    require(1 <= out.unreliable <= n, f"the unreliable account is number {out.unreliable}, but there are {n}")
    require(bool(out.contradiction.strip()), "what the unreliable account gets wrong is not said")
    return [], {"event": out.event.strip(), "accounts": [a.model_dump() for a in out.accounts],
                "unreliable": out.unreliable, "contradiction": out.contradiction.strip()}
