"""speak_online: the request gTTS builds (against a fake transport), fast offline failure, espeak-ng fallback."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
import requests

from tools.pure.audio_io import decode_audio, write_audio
from tools.pure.speech import espeak_available, synthesize
from tools.registry import ToolError, Workspace, call

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def canned_mp3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """An MP3 made with ffmpeg from espeak-ng speech, standing in for Google's answer."""
    path = tmp_path_factory.mktemp("canned") / "answer.mp3"
    write_audio(path, synthesize("Hello from the fake service.", "en-us+m3", sample_rate=24000), 24000)
    return path.read_bytes()


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return Workspace(run_dir=tmp_path / "run")


def google_answer(mp3: bytes) -> bytes:
    """The batchexecute reply gTTS parses: the audio as base64 inside a JSON-in-JSON line."""
    audio = json.dumps([base64.b64encode(mp3).decode()])
    line = json.dumps([["wrb.fr", "jQ1olc", audio, None, None, None, "generic"]], separators=(",", ":"))
    return f")]}}'\n\n{len(line)}\n{line}\n".encode()


class FakeTransport:
    """Replaces requests' HTTPAdapter.send, so the whole gTTS -> requests path runs except the socket."""

    def __init__(self, answer: bytes | None = None, error: Exception | None = None, hang: bool = False) -> None:
        self.answer, self.error, self.hang = answer, error, hang
        self.sent: list[tuple[requests.PreparedRequest, object]] = []
        self.release = threading.Event()

    def send(self, adapter, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self.sent.append((request, timeout))
        if self.hang:
            self.release.wait(30)
        if self.error is not None:
            raise self.error
        response = requests.Response()
        response.status_code, response.url, response.request = 200, request.url, request
        response._content, response._content_consumed = self.answer, True
        return response


@pytest.fixture()
def transport(monkeypatch: pytest.MonkeyPatch):
    def install(**kwargs) -> FakeTransport:
        fake = FakeTransport(**kwargs)
        monkeypatch.setattr(requests.adapters.HTTPAdapter, "send",
                            lambda adapter, request, **kw: fake.send(adapter, request, **kw))
        installed.append(fake)
        return fake

    installed: list[FakeTransport] = []
    yield install
    for fake in installed:
        fake.release.set()  # let a hanging request's thread finish


def rpc_fields(request: requests.PreparedRequest) -> list:
    """[text, lang, speed, 'null'] from the form-encoded body gTTS posts."""
    body = request.body if isinstance(request.body, str) else request.body.decode()
    outer = json.loads(urllib.parse.parse_qs(body)["f.req"][0])
    return json.loads(outer[0][0][1])


def test_request_carries_text_lang_and_accent(ws: Workspace, transport, canned_mp3: bytes) -> None:
    fake = transport(answer=google_answer(canned_mp3))
    result = call("speak_online", {"text": "Mind the gap, please.", "lang": "en", "tld": "co.uk", "timeout_s": 5,
                                   "out": "g.mp3"}, ws)
    (request, timeout), = fake.sent
    assert request.method == "POST"
    assert request.url == "https://translate.google.co.uk/_/TranslateWebserverUi/data/batchexecute"
    text, lang, speed, _ = rpc_fields(request)
    assert (text, lang, speed) == ("Mind the gap, please.", "en", None)
    assert timeout == (3.0, 5.0)  # a short connect timeout, the caller's read timeout
    saved = ws.run_dir / result.outputs[0]
    assert saved.read_bytes() == canned_mp3
    frames, rate = decode_audio(saved)
    assert rate == 24000 and result.values["duration_s"] == pytest.approx(len(frames) / rate)
    assert result.values["engine"] == "gTTS" and result.provenance.params["tld"] == "co.uk"


def test_slow_and_other_languages_reach_the_request(ws: Workspace, transport, canned_mp3: bytes) -> None:
    fake = transport(answer=google_answer(canned_mp3))
    call("speak_online", {"text": "Bonjour à tous.", "lang": "fr", "slow": True, "out": "f.mp3"}, ws)
    text, lang, speed, _ = rpc_fields(fake.sent[0][0])
    assert (text, lang, speed) == ("Bonjour à tous.", "fr", True)


def test_unreachable_google_fails_fast_and_says_what_to_do(ws: Workspace, transport) -> None:
    transport(error=requests.ConnectionError("Failed to resolve 'translate.google.com'"))
    start = time.perf_counter()
    expected = (r"gTTS needs Google's text-to-speech service, which is unreachable: .*Failed to resolve.*; "
                r"use the espeak-ng voice \(tool speak\) or allow_fallback")
    with pytest.raises(ToolError, match=expected):
        call("speak_online", {"text": "Hello.", "out": "h.mp3"}, ws)
    assert time.perf_counter() - start < 2
    assert not (ws.run_dir / "media" / "h.mp3").exists()


def test_a_hanging_service_is_abandoned_at_the_deadline(ws: Workspace, transport) -> None:
    transport(hang=True)
    start = time.perf_counter()
    with pytest.raises(ToolError, match="unreachable: no answer within 1 s"):
        call("speak_online", {"text": "Hello.", "timeout_s": 1, "out": "h.mp3"}, ws)
    assert time.perf_counter() - start < 2


def test_fallback_speaks_with_espeak_deterministically(ws: Workspace, transport) -> None:
    transport(error=requests.ConnectionError("no route to host"))
    params = {"text": "The library opens at nine.", "allow_fallback": True, "out": "a.mp3"}
    first = call("speak_online", params, ws)
    second = call("speak_online", {**params, "out": "b.mp3"}, ws)
    assert first.values["engine"] == "espeak-ng (fallback from gTTS)"
    a, b = (ws.run_dir / r.outputs[0] for r in (first, second))
    assert a.read_bytes() == b.read_bytes()
    frames, rate = decode_audio(a)
    expected = synthesize(params["text"], "en-us", sample_rate=24000)
    assert rate == 24000 and abs(len(frames) - len(expected)) / rate < 0.06
    assert np.abs(frames).max() > 0.1


def test_bad_requests_are_refused_before_any_network(ws: Workspace, transport) -> None:
    fake = transport(error=AssertionError("must not be called"))
    with pytest.raises(ToolError, match="tld"):
        call("speak_online", {"text": "x", "tld": "evil.example/x?", "out": "h.mp3"}, ws)
    with pytest.raises(ToolError, match="Language not supported"):
        call("speak_online", {"text": "x", "lang": "qq", "out": "h.mp3"}, ws)
    with pytest.raises(ToolError, match="must end in .mp3"):
        call("speak_online", {"text": "x", "out": "h.wav"}, ws)
    assert fake.sent == []


def test_garbage_from_the_service_is_not_kept(ws: Workspace, transport) -> None:
    transport(answer=google_answer(b"this is not an mp3" * 20))
    with pytest.raises(ToolError, match="does not decode"):
        call("speak_online", {"text": "Hello.", "out": "h.mp3"}, ws)
    assert not (ws.run_dir / "media" / "h.mp3").exists()


@pytest.mark.network
def test_live_google_tts(ws: Workspace) -> None:
    result = call("speak_online", {"text": "This sentence came from Google.", "out": "live.mp3"}, ws)
    assert result.values["engine"] == "gTTS" and result.values["duration_s"] > 1
