"""The one place chat models are built and called.

Every call, structured or plain, goes through `LLMClient`: a disk cache in front, one retry layer for transient
errors (the OpenAI SDK's own retries are off), bounded repairs for unusable output, a semaphore per
endpoint, a usage ledger that survives restarts, and a budget checked before every real call.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Self, TypeVar

import openai
from langchain_core.exceptions import ModelRefusalError
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from openai.lib._parsing import type_to_response_format_param
from pydantic import BaseModel, ValidationError

from tools.llm import local
from tools.llm.cache import ResponseCache, cache_key
from tools.llm.errors import (
    BudgetExceeded,
    LLMError,
    LLMOutputError,
    LLMRejected,
    LLMUnavailable,
)
from tools.llm.ledger import UsageLedger
from tools.llm.models import ROLES, ModelSpec
from tools.llm.prices import cost, price_table

T = TypeVar("T", bound=BaseModel)
# A chat message: (role, text), or (role, content parts) for vision: [{"type": "text"...}, {"type": "image_url"...}].
Message = tuple[str, str | list[dict[str, Any]]]

OPENAI_URL = "https://api.openai.com/v1"
REPAIRS = 2  # extra attempts that show the model its bad output and the validation error
MAX_DELAY_S = 30.0  # cap on backoff and on a server's Retry-After
TRANSIENT = {408, 409, 429}  # and every 5xx; any other 4xx will fail the same way again
PLAIN = {"plain": "text"}  # what a plain completion's cache key has in place of a JSON schema


@dataclass(frozen=True)
class CallInfo:
    """What one structured call cost and where its answer came from, for a tool's provenance."""

    model: str
    prompt_hash: str  # the cache key: model, messages and schema, hashed
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


@dataclass(frozen=True)
class _Chat:
    model: ChatOpenAI
    url: str
    slots: threading.BoundedSemaphore
    secret: str  # only to scrub it from server messages we repeat
    # Structured-output runnables by schema: building one per call costs more than a fast endpoint's answer.
    runnables: dict[str, Runnable] = field(default_factory=dict)

    def runnable(self, json_schema: dict) -> Runnable:
        key = json.dumps(json_schema, sort_keys=True)
        if key not in self.runnables:
            self.runnables[key] = self.model.with_structured_output(json_schema, method="json_schema",
                                                                    include_raw=True)
        return self.runnables[key]


class _BadOutput(Exception):
    """An answer that arrived but cannot be used; `text` is what to show the model in a repair."""

    def __init__(self, kind: str, detail: str, text: str = "") -> None:
        super().__init__(detail)
        self.kind, self.detail, self.text = kind, detail, text


class LLMClient:
    """Structured calls per role, cached, retried, repaired, metered and bounded in cost and concurrency.

    run_dir None keeps the cache and the ledger in memory; otherwise they live in run_dir/llm/.
    vision: the orchestrator's model reads images (image_url parts); nothing probes for it, the caller says so.
    """

    def __init__(self, models: Mapping[str, ModelSpec], run_dir: Path | None = None, *,
                 max_cost: float | None = None, concurrency: int = 4, vision: bool = False,
                 prices: Mapping[str, tuple[float, float]] | None = None, timeout_s: float = 120.0,
                 max_retries: int = 4, backoff_s: float = 1.0) -> None:
        unknown = sorted(set(models) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role {', '.join(map(repr, unknown))}; the roles are {', '.join(ROLES)}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1; got {concurrency}")
        self._models = dict(models)
        self.vision = vision
        folder = Path(run_dir) / "llm" if run_dir is not None else None
        self._cache = ResponseCache(folder / "cache.sqlite" if folder else None)
        self._ledger = UsageLedger(folder / "usage.jsonl" if folder else None)
        self._prices = price_table(prices)
        self._max_cost = max_cost
        self._concurrency = concurrency
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._lock = threading.Lock()
        self._chats: dict[ModelSpec, _Chat] = {}
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._local: list[local.LocalEndpoint] = []
        self.failures: list[dict] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def structured(self, role: str, decision: str, messages: Sequence[Message], schema: type[T]) -> T:
        """A validated `schema` instance for `messages`, from the cache or from the role's model.

        Raises only LLMError subclasses: LLMRejected, LLMUnavailable, LLMOutputError, BudgetExceeded.
        """
        return self.call(role, decision, messages, schema)[0]

    def call(self, role: str, decision: str, messages: Sequence[Message], schema: type[T]) -> tuple[T, CallInfo]:
        """`structured`, with what the call cost: the tokens of every attempt it took (0 on a cache hit)."""
        spec = self._models.get(role)
        if spec is None:
            raise ValueError(f"no model for role '{role}'; this client has {', '.join(self._models) or 'none'}")
        json_schema = _json_schema(schema)
        key = cache_key(spec.name, messages, json_schema)
        hit = self._cached(key, schema)
        if hit is not None:
            self._ledger.add(role=role, decision=decision, model=spec.name, cached=True, key=key)
            return hit, CallInfo(spec.name, key, cached=True)
        spent = (0, 0)
        try:
            chat = self._chat(spec)
            convo = list(messages)
            for attempt in itertools.count(1):
                try:
                    raw, error, tokens = self._send(chat, (role, decision, spec, key), convo,
                                                    chat.runnable(json_schema))
                    spent = (spent[0] + tokens[0], spent[1] + tokens[1])
                    answer = _parse(raw, error, schema)
                except _BadOutput as bad:
                    if bad.kind in ("refusal", "truncated") or attempt > REPAIRS:
                        began = f" (the reply began {bad.text[:200]!r})" if bad.text else ""
                        raise LLMOutputError(_scrub(f"{spec.name} gave no usable {schema.__name__} for '{decision}' "
                                                    f"after {attempt} attempt(s): {bad.detail}{began}", chat.secret),
                                             bad.kind) from None
                    convo += [("assistant", bad.text),
                              ("user", (f"That reply cannot be used: {bad.detail}. Reply again with only a JSON "
                                        "object that matches the requested schema."))]
                    continue
                self._cache.put(key, answer.model_dump_json())
                return answer, CallInfo(spec.name, key, *spent)
        except LLMError as exc:
            self._failed(role, decision, spec, exc)
            raise

    def complete(self, spec: ModelSpec, decision: str, messages: Sequence[Message], *,
                 role: str = "eval") -> tuple[str, CallInfo]:
        """A plain-text reply from any model (a spec, not a role), cached, retried, metered and budgeted.

        Raises only LLMError subclasses; `role` is what the ledger books the call under.
        """
        key = cache_key(spec.name, messages, PLAIN)
        hit = self._cache.get(key)
        if hit is not None:
            self._ledger.add(role=role, decision=decision, model=spec.name, cached=True, key=key)
            return hit, CallInfo(spec.name, key, cached=True)
        try:
            chat = self._chat(spec)
            raw, _, tokens = self._send(chat, (role, decision, spec, key), list(messages), chat.model)
        except LLMError as exc:
            self._failed(role, decision, spec, exc)
            raise
        self._cache.put(key, raw.text)
        return raw.text, CallInfo(spec.name, key, *tokens)

    def map_structured(self, calls: Sequence[tuple[str, str, Sequence[Message], type[BaseModel]]]
                       ) -> list[BaseModel | LLMError]:
        """`structured` for independent calls at once, in order; an LLMError takes its call's place."""
        def one(call: tuple[str, str, Sequence[Message], type[BaseModel]]) -> BaseModel | LLMError:
            try:
                return self.structured(*call)
            except LLMError as exc:
                return exc

        if not calls:
            return []
        # Threads only wait on the per-endpoint semaphores, which are what bounds the load.
        with ThreadPoolExecutor(max_workers=min(len(calls), 32)) as pool:
            return list(pool.map(one, calls))

    def usage(self) -> dict:
        """Calls, cache hits, tokens and USD in total and by role, decision and model, this run so far."""
        return self._ledger.summary()

    def close(self) -> None:
        """Stop the embedded servers this client started (when no other client uses them)."""
        with self._lock:
            for endpoint in self._local:
                local.release(endpoint)
            self._local.clear()
            self._chats.clear()

    def _failed(self, role: str, decision: str, spec: ModelSpec, exc: LLMError) -> None:
        self.failures.append({"role": role, "decision": decision, "model": spec.name, "kind": exc.kind,
                              "detail": str(exc)})

    def _cached(self, key: str, schema: type[T]) -> T | None:
        text = self._cache.get(key)
        if text is None:
            return None
        try:
            return schema.model_validate_json(text)
        except ValidationError:
            return None  # same JSON schema, stricter validators: ask again

    def _chat(self, spec: ModelSpec) -> _Chat:
        """The chat model for a spec, built on first use (a local one starts its server then)."""
        with self._lock:
            if spec in self._chats:
                return self._chats[spec]
            if spec.local:
                endpoint = local.acquire(spec.name)
                self._local.append(endpoint)
                url, model, key = endpoint.base_url, endpoint.model, endpoint.api_key
                limit = min(self._concurrency, local.SLOTS)
            else:
                url = spec.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL
                key = os.environ.get("OPENAI_API_KEY", "")
                if not key and url == OPENAI_URL:
                    raise LLMRejected(f"{spec.name} at {url} needs an API key: set OPENAI_API_KEY")
                # Keyless OpenAI-compatible servers (vLLM, Ollama, llama.cpp) take any token.
                model, key, limit = spec.name, key or "none", self._concurrency
            chat = ChatOpenAI(model=model, base_url=url, api_key=key, temperature=0, timeout=self._timeout_s,
                              max_retries=0, use_responses_api=False)
            slots = self._slots.setdefault(url, threading.BoundedSemaphore(limit))
            self._chats[spec] = _Chat(chat, url, slots, key)
            return self._chats[spec]

    def _send(self, chat: _Chat, call: tuple[str, str, ModelSpec, str], convo: list[Message],
              runnable: Runnable) -> tuple[AIMessage, BaseException | None, tuple[int, int]]:
        """One answer from the endpoint, retrying transient failures; every answer's tokens are booked.

        `runnable` is the chat model itself (a plain reply) or `chat.runnable(schema)`, whose output is
        {"raw", "parsing_error"}: built from a dict, not the class, because given the class the SDK parses the
        reply itself and its parse errors carry no raw message, so neither the bad output (for the repair) nor
        its tokens (for the ledger) survive."""
        spec, reason = call[2], ""
        for attempt in range(self._max_retries + 1):
            if self._max_cost is not None and self._ledger.cost >= self._max_cost:
                raise BudgetExceeded(f"the budget of ${self._max_cost:.4f} is spent (${self._ledger.cost:.4f} "
                                     "so far); raise --max-cost to go on")
            wait: float | None = None
            with chat.slots:
                try:
                    out = runnable.invoke(convo)
                except openai.LengthFinishReasonError as exc:
                    self._book(call, _completion_usage(exc.completion))
                    raise _BadOutput("truncated", "the reply hit the token limit (finish_reason 'length')") from None
                except openai.ContentFilterFinishReasonError as exc:
                    self._book(call, _completion_usage(exc.completion))
                    raise _BadOutput("refusal", "the reply was stopped by a content filter") from None
                except openai.APIStatusError as exc:
                    if exc.status_code not in TRANSIENT and exc.status_code < 500:
                        raise _rejected(chat, spec, exc) from None
                    reason, wait = f"HTTP {exc.status_code}", _retry_after(exc)
                except openai.APITimeoutError:
                    reason = f"no answer within {self._timeout_s:g} s"
                except openai.APIConnectionError:
                    reason = "could not connect"
                except Exception as exc:  # noqa: BLE001 - anything else is a response we cannot read
                    said = _scrub(f"{type(exc).__name__}: {exc}", chat.secret)[:300]
                    raise LLMOutputError(f"{chat.url} sent {spec.name}'s reply in a form that cannot be read "
                                         f"({said})", "malformed") from None
                else:
                    raw, error = (out["raw"], out["parsing_error"]) if isinstance(out, dict) else (out, None)
                    usage = raw.usage_metadata or {}
                    tokens = (usage.get("input_tokens", 0), usage.get("output_tokens", 0))
                    self._book(call, tokens)
                    return raw, error, tokens
            if attempt < self._max_retries:
                time.sleep(wait if wait is not None else
                           min(MAX_DELAY_S, self._backoff_s * 2 ** attempt) * random.uniform(0.5, 1.0))
        raise LLMUnavailable(f"{chat.url} gave no answer for {spec.name} in {self._max_retries + 1} attempts "
                             f"(last: {reason}); try again later or lower the concurrency")

    def _book(self, call: tuple[str, str, ModelSpec, str], tokens: tuple[int, int]) -> None:
        role, decision, spec, key = call
        self._ledger.add(role=role, decision=decision, model=spec.name, cached=False, key=key,
                         prompt_tokens=tokens[0], completion_tokens=tokens[1],
                         cost_usd=cost(self._prices, spec.name, *tokens))


@lru_cache(maxsize=256)
def _json_schema(schema: type[BaseModel]) -> dict:
    """What the SDK would send for the class: a strict schema named after it (stubs route on the name)."""
    return type_to_response_format_param(schema)["json_schema"]


def _parse(raw: AIMessage, error: BaseException | None, schema: type[T]) -> T:
    """The reply validated strictly against the schema, or _BadOutput saying what is wrong with it."""
    refusal = raw.additional_kwargs.get("refusal")
    if refusal or isinstance(error, ModelRefusalError):
        raise _BadOutput("refusal", f"the model refused: {str(refusal or error)[:300]}")
    # Not langchain's `parsed`: its JSON parser completes truncated objects, which is salvage, not parsing.
    text = raw.text
    try:
        return schema.model_validate_json(text)
    except ValidationError as exc:
        problems = exc.errors(include_url=False)
        kind = "malformed" if any(p["type"] == "json_invalid" for p in problems) else "schema"
        detail = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" if p["loc"] else p["msg"]
                           for p in problems[:5])
        raise _BadOutput(kind, detail, text) from None


def _completion_usage(completion: Any) -> tuple[int, int]:
    usage = getattr(completion, "usage", None)
    return (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """A server's Retry-After in seconds, capped; None when absent or given as a date."""
    try:
        return min(max(float(exc.response.headers.get("retry-after", "")), 0.0), MAX_DELAY_S)
    except ValueError:
        return None


def _rejected(chat: _Chat, spec: ModelSpec, exc: openai.APIStatusError) -> LLMRejected:
    code = exc.status_code
    body = exc.body
    said = body.get("message") if isinstance(body, dict) else None
    said = _scrub(str(said or body or exc.message), chat.secret)[:300]
    if code == 401:
        what = f"the endpoint {chat.url} refused the API key (401); set OPENAI_API_KEY to a key it accepts"
    elif code == 403:
        what = f"the endpoint {chat.url} denied access to {spec.name} (403)"
    elif code == 404:
        what = f"the endpoint {chat.url} does not know {spec.name} (404); check the model name and the URL"
    else:
        what = f"the endpoint {chat.url} rejected the request to {spec.name} ({code})"
    return LLMRejected(f"{what}. It said: {said}")


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "[API key]") if secret else text
