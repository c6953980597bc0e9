"""espeak-ng (and piper) synthesis and dialogue rendering, measured on the rendered audio."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from support import write_dataset

from state.models import Step
from tools.plans.steps import Draft, StepEnv, run_step
from tools.pool import Pool
from tools.pure import speech
from tools.pure.audio import estimate_pitch
from tools.pure.audio_io import decode_audio, write_wav
from tools.pure.piper_tts import piper_available
from tools.pure.speech import (
    NARRATOR,
    PIPER_SPEC,
    PIPER_VOICE,
    PITCH_SPACING_HZ,
    VOICES,
    SpeechError,
    assign_voices,
    catalogue,
    espeak_available,
    render_dialogue,
    speaker_sex,
    synthesize,
)
from tools.registry import ToolError, Workspace, call
from tools.run_store import RunStore

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")

SR = 16000
PAUSE_MS = 400
TURNS = [
    {"speaker": "Ana", "text": "Did you remember to book the table for tonight?"},
    {"speaker": "Ben", "text": "Yes, seven thirty at the Italian place on the corner."},
    {"speaker": "Ana", "text": "Perfect, I will meet you there after work."},
]


@pytest.fixture(scope="module")
def dialogue() -> tuple[np.ndarray, list[dict]]:
    return render_dialogue(TURNS, pause_ms=PAUSE_MS, sample_rate=SR)


def test_synthesize_is_float_mono_in_range() -> None:
    x = synthesize("Hello world.", VOICES[0].spec, sample_rate=SR)
    assert x.dtype == np.float32 and x.ndim == 1
    assert 0.3 < len(x) / SR < 3
    assert np.abs(x).max() <= 1.0 and np.abs(x).max() > 0.1


def test_synthesize_honours_sample_rate() -> None:
    a = synthesize("Testing the rate.", VOICES[0].spec, sample_rate=16000)
    b = synthesize("Testing the rate.", VOICES[0].spec, sample_rate=8000)
    assert abs(len(a) / 16000 - len(b) / 8000) < 1e-3


def test_catalogue_voices_all_sound_different() -> None:
    text = "The quick brown fox jumps over the lazy dog."
    rendered = {v.spec: synthesize(text, v.spec, v.rate, v.pitch, SR) for v in VOICES}
    assert len({v.spec for v in VOICES}) == len(VOICES)
    for (a, x), (b, y) in itertools.combinations(rendered.items(), 2):
        assert len(x) != len(y) or not np.array_equal(x, y), f"{a} and {b} render identically"
    pitches = sorted(estimate_pitch(x, SR) for x in rendered.values())
    assert min(np.diff(pitches)) > 15, pitches


def test_bad_requests_raise_speech_error() -> None:
    with pytest.raises(SpeechError, match="empty"):
        synthesize("  \n\t ", VOICES[0].spec)
    with pytest.raises(SpeechError, match="not installed"):
        synthesize("hello", "no-such-voice")
    with pytest.raises(SpeechError, match="not installed"):
        synthesize("hello", "en-us+nosuchvariant")
    with pytest.raises(SpeechError, match="voice spec"):
        synthesize("hello", "-w /tmp/x.wav")
    with pytest.raises(SpeechError, match="pitch"):
        synthesize("hello", VOICES[0].spec, pitch=150)


def test_text_is_capped_and_not_a_command_line() -> None:
    x = synthesize("--help -w /tmp/evil.wav " + "word " * 1000, VOICES[0].spec, rate=450, sample_rate=8000)
    assert len(x) / 8000 < 180  # 2000 characters, not 5000


def test_timestamps_one_per_turn_increasing_and_disjoint(dialogue) -> None:
    _, timeline = dialogue
    assert [t["turn"] for t in timeline] == [0, 1, 2]
    assert [t["speaker"] for t in timeline] == ["Ana", "Ben", "Ana"]
    assert [t["text"] for t in timeline] == [t["text"] for t in TURNS]
    for t in timeline:
        assert t["end"] > t["start"]
    for a, b in itertools.pairwise(timeline):
        assert b["start"] - a["end"] == pytest.approx(PAUSE_MS / 1000, abs=1 / SR)


def test_duration_is_segments_plus_pauses(dialogue) -> None:
    wave, timeline = dialogue
    speech = sum(t["end"] - t["start"] for t in timeline)
    assert len(wave) / SR == pytest.approx(speech + (len(timeline) - 1) * PAUSE_MS / 1000, abs=1e-9)
    assert timeline[0]["start"] == 0 and timeline[-1]["end"] == pytest.approx(len(wave) / SR)


def test_gaps_are_silent_and_segments_are_speech(dialogue) -> None:
    wave, timeline = dialogue
    for a, b in itertools.pairwise(timeline):
        gap = wave[round(a["end"] * SR) : round(b["start"] * SR)]
        assert len(gap) == round(PAUSE_MS * SR / 1000)
        assert np.abs(gap).max() == 0
    for t in timeline:
        segment = wave[round(t["start"] * SR) : round(t["end"] * SR)]
        assert np.sqrt(np.mean(segment**2)) > 0.02


def test_one_voice_per_speaker_and_pitches_differ(dialogue) -> None:
    wave, timeline = dialogue
    voice_of = {t["speaker"]: t["voice"] for t in timeline}
    assert all(t["voice"] == voice_of[t["speaker"]] for t in timeline)
    assert voice_of["Ana"] != voice_of["Ben"]
    turns_of = {
        speaker: [wave[round(t["start"] * SR) : round(t["end"] * SR)] for t in timeline if t["speaker"] == speaker]
        for speaker in voice_of
    }
    pitch = {speaker: estimate_pitch(np.concatenate(turns), SR) for speaker, turns in turns_of.items()}
    assert abs(pitch["Ana"] - pitch["Ben"]) > 15, pitch


def test_render_is_deterministic_to_the_byte(tmp_path: Path, dialogue) -> None:
    wave, timeline = dialogue
    again, timeline_again = render_dialogue(TURNS, pause_ms=PAUSE_MS, sample_rate=SR)
    assert np.array_equal(wave, again) and timeline == timeline_again
    write_wav(tmp_path / "a.wav", wave, SR)
    write_wav(tmp_path / "b.wav", again, SR)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_explicit_voices_are_used_and_others_stay_distinct() -> None:
    assigned = assign_voices(["A", "B", "C"], {"B": VOICES[0].spec})
    assert assigned["B"].spec == VOICES[0].spec
    assert len({v.spec for v in assigned.values()}) == 3
    _, timeline = render_dialogue([{"speaker": "B", "text": "Hi."}], voices={"B": "en-us+f2"}, sample_rate=SR)
    assert timeline[0]["voice"] == "en-us+f2"


def test_too_many_speakers_is_a_clear_error() -> None:
    with pytest.raises(SpeechError, match="distinct voices"):
        assign_voices([f"s{i}" for i in range(len(catalogue()) + 1)])


@pytest.mark.parametrize(("speaker", "sex"), [
    ("Catherine", "female"), ("Mrs Smith", "female"), ("woman", "female"), ("Mother", "female"), ("W", "female"),
    ("Mrs Paul", "female"), ("John", "male"), ("Mr. Suzuki", "male"), ("man", "male"), ("M", "male"),
    ("Speaker 1", None), ("A", None), ("user", None), ("Dr Okafor", None),
])
def test_speaker_sex_from_the_label(speaker: str, sex: str | None) -> None:
    assert speaker_sex(speaker) == sex


def _gaps(voices: list[speech.Voice]) -> list[float]:
    return [abs(a.f0 - b.f0) for a, b in itertools.combinations(voices, 2)]


@pytest.mark.parametrize("with_piper", [False, True])
def test_voices_fit_the_speakers_and_stay_apart(monkeypatch: pytest.MonkeyPatch, with_piper: bool) -> None:
    monkeypatch.setattr(speech, "catalogue", lambda: [PIPER_VOICE, *VOICES] if with_piper else list(VOICES))
    people = ["Catherine", "John", "Mrs Smith", "Mr Brown"]
    assigned = assign_voices(people)
    assert [assigned[p].sex for p in people] == ["female", "male", "female", "male"]
    assert min(_gaps(list(assigned.values()))) >= PITCH_SPACING_HZ
    men = assign_voices(["Tom", "Leo", "Ben"])
    assert {v.sex for v in men.values()} == {"male"} and len(set(men.values())) == 3
    unknown = assign_voices(["A", "B"])
    assert (unknown["A"].spec == PIPER_SPEC) == with_piper and min(_gaps(list(unknown.values()))) >= PITCH_SPACING_HZ
    assert PIPER_SPEC not in {v.spec for v in assign_voices(["Sara", "Mia"]).values()}  # piper's voice is a man's
    assert assign_voices(["Ana", "Ben"])["Ben"].spec == (PIPER_SPEC if with_piper else "en-us+m3")


@pytest.mark.skipif(not piper_available(), reason="optional extra benchmark-agent[piper] not installed")
def test_piper_speaker_is_apart_in_measured_pitch() -> None:
    wave, timeline = render_dialogue([{"speaker": "Tom", "text": TURNS[0]["text"]},
                                      {"speaker": "Leo", "text": TURNS[1]["text"]}], sample_rate=SR)
    assert timeline[0]["voice"] == PIPER_SPEC and timeline[1]["voice"] != PIPER_SPEC
    pitch = [estimate_pitch(wave[round(t["start"] * SR): round(t["end"] * SR)], SR) for t in timeline]
    assert abs(pitch[0] - pitch[1]) >= 2 * 10, pitch  # twice the verifier's bar (MIN_PITCH_GAP_HZ)


def _audio_step(tmp_path: Path, dialogue: list) -> Draft:
    write_dataset(tmp_path / "pool", "talk", [{"id": f"d{k}", "dialogue": dialogue, "response": "Fine."}
                                              for k in range(2)])
    pool = Pool(tmp_path / "pool", cache_dir=tmp_path / "cache")
    env = StepEnv(pool=pool, card=pool.card("talk"), row=pool.row("talk", "d0"), store=RunStore(tmp_path / "run"),
                  item_id="i1", seed=3)
    draft = Draft()
    run_step(Step(tool="dialogue_audio"), draft, env)
    return draft


def test_unattributed_dialogue_is_narrated_and_asked_neutrally(tmp_path: Path) -> None:
    """Turns the source does not attribute: one voice reads them all and the question names nobody."""
    draft = _audio_step(tmp_path, ["How are you feeling today?", "Much better, thanks.", "Thanks, doctor."])
    turns = draft.metadata["turns"]
    assert [t["speaker"] for t in turns] == [None, None, None] and len({t["voice"] for t in turns}) == 1
    assert draft.metadata["voices"] == {NARRATOR: catalogue()[0].spec}
    assert draft.question == "Listen to the conversation. Which reply most naturally comes next in this conversation?"


def test_attributed_dialogue_names_its_speakers(tmp_path: Path) -> None:
    draft = _audio_step(tmp_path, ["W: How are you feeling today?", "M: Much better, thanks.", "W: Good."])
    assert draft.question == "Listen to the conversation between W and M. Which reply would M most naturally say next?"
    assert speech.voice_for(draft.metadata["voices"]["W"]).sex == "female"
    assert speech.voice_for(draft.metadata["voices"]["M"]).sex == "male"


# --- the speak and speak_dialogue tools through the registry ------------------------------------------


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return Workspace(run_dir=tmp_path / "run")


def test_speak_tool_writes_the_synthesis(ws: Workspace) -> None:
    params = {"text": "Turn left at the bakery.", "voice": "en+f3", "rate": 150, "pitch": 60, "sample_rate": 22050}
    result = call("speak", {**params, "out": "a.wav"}, ws)
    frames, rate = decode_audio(ws.run_dir / result.outputs[0])
    expected = synthesize(params["text"], "en+f3", 150, 60, 22050)
    assert rate == 22050 and frames.shape == (len(expected), 1)
    assert np.abs(frames[:, 0] - expected).max() <= 0.5 / 32768 + 1e-7  # only 16-bit rounding
    assert result.values == {"duration_s": len(expected) / 22050, "voice": "en+f3", "engine": "espeak-ng"}
    again = call("speak", {**params, "out": "b.wav"}, ws)
    assert (ws.run_dir / again.outputs[0]).read_bytes() == (ws.run_dir / result.outputs[0]).read_bytes()


def test_speak_dialogue_tool_reports_turns_that_match_the_file(ws: Workspace) -> None:
    result = call("speak_dialogue", {"turns": TURNS, "voices": {"Ben": "en-us+m7"}, "pause_ms": 300,
                                     "out": "d.wav"}, ws)
    frames, rate = decode_audio(ws.run_dir / result.outputs[0])
    turns = result.values["turns"]
    assert [t["speaker"] for t in turns] == ["Ana", "Ben", "Ana"]
    assert result.values["voices"] == {"Ana": "en+f3", "Ben": "en-us+m7"}  # Ana gets the first female voice
    assert turns[-1]["end"] == pytest.approx(len(frames) / rate) == pytest.approx(result.values["duration_s"])
    for a, b in itertools.pairwise(turns):
        assert np.abs(frames[round(a["end"] * rate) : round(b["start"] * rate)]).max() == 0
        assert b["start"] - a["end"] == pytest.approx(0.3, abs=1 / rate)
    again = call("speak_dialogue", {"turns": TURNS, "voices": {"Ben": "en-us+m7"}, "pause_ms": 300,
                                    "out": "e.wav"}, ws)
    assert (ws.run_dir / again.outputs[0]).read_bytes() == (ws.run_dir / result.outputs[0]).read_bytes()


@pytest.mark.parametrize(("name", "params", "reason"), [
    ("speak", {"text": "hi", "voice": "xx-nope"}, "not installed"),
    ("speak", {"text": "hi", "voice": "-w /tmp/x"}, "voice spec"),
    ("speak", {"text": "word " * 500}, "bad parameters for speak: text"),
    ("speak", {"text": "hi", "rate": 5}, "bad parameters for speak: rate"),
    ("speak_dialogue", {"turns": []}, "bad parameters for speak_dialogue: turns"),
    ("speak_dialogue", {"turns": [{"speaker": str(i), "text": "hi"} for i in range(8)]}, "distinct voices"),
    ("speak_dialogue", {"turns": TURNS, "voices": {"Ana": "zz"}}, "not installed"),
    ("speak", {"text": "hi", "out": "x.mp3"}, "must end in .wav"),
    ("speak", {"text": "hi", "out": "../x.wav"}, "bad parameters for speak: out"),
])
def test_speech_tool_refusals(ws: Workspace, name: str, params: dict, reason: str) -> None:
    with pytest.raises(ToolError, match=reason):
        call(name, {"out": "x.wav", **params}, ws)
