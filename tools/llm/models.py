"""Which chat model each role uses: `--llm` text parsed into specs, one per role."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ROLES = ("planner", "orchestrator", "verifier", "judge")
LOCAL = "local:"
_FORMS = "'gpt-4o-mini', 'gpt-4o-mini=http://127.0.0.1:8000/v1', 'local:PATH.gguf' or 'local:smollm2'"


@dataclass(frozen=True)
class ModelSpec:
    """A model name as the endpoint knows it (or "local:PATH.gguf" / "local:smollm2") and its endpoint.

    base_url None means OPENAI_BASE_URL, or OpenAI itself when that is unset.
    """

    name: str
    base_url: str | None = None

    @property
    def local(self) -> bool:
        return self.name.startswith(LOCAL)


def parse_model(text: str) -> ModelSpec:
    """`NAME`, `NAME=URL`, `local:PATH.gguf` or `local:smollm2` as a spec; anything else is a ValueError."""
    text = text.strip()
    if text.startswith(LOCAL):
        target = text[len(LOCAL):]
        if target != "smollm2" and not target.lower().endswith(".gguf"):
            raise ValueError(f"a local model is 'local:smollm2' or 'local:PATH.gguf' (a GGUF file); got '{text}'")
        return ModelSpec(text)
    name, sep, url = text.partition("=")
    name, url = name.strip(), url.strip()
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"a model is named like {_FORMS}; got '{text}'")
    if sep and not url.startswith(("http://", "https://")):
        raise ValueError(f"the endpoint after '=' must be an http:// or https:// URL; got '{url}' in '{text}'")
    return ModelSpec(name, url.rstrip("/") if sep else None)


def models_for(default: str, overrides: Mapping[str, str]) -> dict[str, ModelSpec]:
    """One spec per role: the override where a role has one, `default` elsewhere."""
    unknown = sorted(set(overrides) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role {', '.join(map(repr, unknown))}; the roles are {', '.join(ROLES)}")
    return {role: parse_model(overrides.get(role, default)) for role in ROLES}
