"""A loopback OpenAI-compatible chat server for tests: scripted replies and faults, latency, a record.

    with OpenAIStub([Reply({"answer": "4"}), fault(429, retry_after=0)]) as stub:
        ChatOpenAI(base_url=stub.url, ...)
        stub.requests[0].body["response_format"]["json_schema"]["name"]

A script is a list of replies, served in order, or a function from the request's JSON to a reply;
`by_schema` builds one that routes on the schema name the request asks for.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import pytest


@dataclass
class Reply:
    """One scripted response. `content`: a dict or list is sent as JSON, a str verbatim (so malformed
    JSON is just a str). A `status` other than 200 sends an OpenAI-style error body instead."""

    content: Any = None
    usage: tuple[int, int] | None = (10, 5)  # prompt, completion tokens; None leaves usage out
    finish_reason: str = "stop"
    refusal: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""
    delay: float = 0.0  # seconds before answering, on top of the stub's latency


def fault(status: int, *, retry_after: float | None = None, error: str = "", delay: float = 0.0) -> Reply:
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    return Reply(status=status, headers=headers, error=error or f"openai_stub fault {status}", delay=delay)


def truncated(text: str = '{"answer": "and then the') -> Reply:
    return Reply(text, finish_reason="length")


def refused(reason: str = "I can't help with that.") -> Reply:
    return Reply(None, refusal=reason)


Script = Sequence[Reply] | Callable[[dict], Reply]


def schema_name(body: Mapping[str, Any]) -> str | None:
    """The json_schema name a chat request asks for (the pydantic class name), if any."""
    return ((body.get("response_format") or {}).get("json_schema") or {}).get("name")


def by_schema(routes: Mapping[str, Reply | Sequence[Reply] | Callable[[dict], Reply]]) -> Callable[[dict], Reply]:
    """A script answering by schema name: one reply every time, a list served in order, or a function."""
    queues = {name: list(r) for name, r in routes.items() if isinstance(r, Sequence)}
    lock = threading.Lock()

    def route(body: dict) -> Reply:
        name = schema_name(body)
        target = routes.get(name or "")
        if target is None:
            return fault(400, error=f"openai_stub: no route for schema {name!r}")
        if isinstance(target, Reply):
            return target
        if callable(target):
            return target(body)
        with lock:
            queue = queues[name]
            return queue.pop(0) if queue else fault(400, error=f"openai_stub: no reply left for {name!r}")

    return route


@dataclass
class Seen:
    body: dict
    headers: dict[str, str]  # names lowercased
    at: float  # time.monotonic() on arrival


class OpenAIStub:
    """POST /v1/chat/completions on 127.0.0.1 from a script; records every request and peak concurrency."""

    def __init__(self, script: Script = (), latency: float = 0.0) -> None:
        self.latency = latency
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._script: Script = ()
        self.serve(script)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.stub = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def serve(self, script: Script) -> None:
        """Replace the script; a list is copied and consumed in order."""
        with self._lock:
            self._script = script if callable(script) else list(script)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next(self, body: dict, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(Seen(body, {k.lower(): v for k, v in headers.items()}, time.monotonic()))
            if callable(self._script):
                script = self._script
            elif self._script:
                return self._script.pop(0)
            else:
                return fault(400, error=f"openai_stub: the script has no reply left for request "
                                        f"{len(self.requests)}")
        return script(body)

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the OpenAI client expects of a real server
    disable_nagle_algorithm = True  # headers and body go out as two writes; Nagle would hold the second 40 ms

    def do_POST(self) -> None:
        stub: OpenAIStub = self.server.stub  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._write(404, {"error": {"message": f"openai_stub serves no {self.path}"}}, {})
            return
        stub._enter()
        try:
            reply = stub._next(body, dict(self.headers))
            time.sleep(stub.latency + reply.delay)
            if reply.status != 200:
                self._write(reply.status, {"error": {"message": reply.error, "type": "openai_stub",
                                                     "code": reply.status}}, reply.headers)
            else:
                self._write(200, _completion(body, reply, len(stub.requests)), reply.headers)
        finally:
            stub._leave()

    def _write(self, status: int, payload: dict, headers: Mapping[str, str]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test): nobody to answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _completion(body: dict, reply: Reply, n: int) -> dict:
    content = reply.content if reply.content is None or isinstance(reply.content, str) else json.dumps(reply.content)
    out: dict[str, Any] = {
        "id": f"chatcmpl-stub-{n}", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [{"index": 0, "finish_reason": reply.finish_reason, "logprobs": None,
                     "message": {"role": "assistant", "content": content, "refusal": reply.refusal}}],
    }
    if reply.usage is not None:
        prompt, completion = reply.usage
        out["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return out


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStub]:
    """A running stub with an empty script; give it one with `openai_stub.serve([...])`."""
    with OpenAIStub() as stub:
        yield stub
