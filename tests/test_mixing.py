"""The pydub mixing tools, called through the registry on espeak-ng speech and measured on the files written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tools.pure.audio import estimate_pitch
from tools.pure.audio_io import decode_audio, resample, write_wav
from tools.pure.speech import espeak_available, synthesize
from tools.registry import ToolError, Workspace, call

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")

SR = 16000
MS = SR // 1000


def level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x.astype(np.float64)))))


def onset(x: np.ndarray, rate: int = SR, threshold: float = 0.01) -> int:
    """First sample of the first 1 ms block whose RMS exceeds `threshold`."""
    block = rate // 1000
    frames = x[: len(x) // block * block].astype(np.float64).reshape(-1, block)
    return int(np.flatnonzero(np.sqrt(np.mean(frames**2, axis=1)) > threshold)[0]) * block


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    return {
        "a": synthesize("The ferry leaves at noon.", "en-us+m3", sample_rate=SR),
        "b": synthesize("Bring a warm coat.", "en+f3", 155, 60, SR),
    }


@pytest.fixture()
def ws(tmp_path: Path, clips: dict[str, np.ndarray]) -> Workspace:
    pool = tmp_path / "pool"
    for name, x in clips.items():
        write_wav(pool / f"{name}.wav", x, SR)
    write_wav(pool / "silence.wav", np.zeros(4 * SR, np.float32), SR)
    write_wav(pool / "b22k_stereo.wav", np.repeat(resample(clips["b"], SR, 22050)[:, None], 2, axis=1), 22050)
    return Workspace(run_dir=tmp_path / "run", read_roots=(pool,), seed=3)


def media(ws: Workspace, name: str) -> tuple[np.ndarray, int]:
    return decode_audio(ws.run_dir / "media" / name)


def test_concat_with_gap_adds_up_exactly(ws: Workspace, clips: dict[str, np.ndarray]) -> None:
    result = call("concat_audio", {"inputs": ["a.wav", "b.wav", "a.wav"], "gap_ms": 250, "out": "c.wav"}, ws)
    out, rate = media(ws, "c.wav")
    a, b = len(clips["a"]), len(clips["b"])
    assert rate == SR and out.shape == (2 * a + b + 2 * 250 * MS, 1)
    starts = [s["start_s"] for s in result.values["segments"]]
    assert starts == pytest.approx([0, (a + 250 * MS) / SR, (a + b + 500 * MS) / SR], abs=1 / SR)
    assert np.abs(out[a : a + 250 * MS]).max() == 0
    assert onset(out[a:, 0]) - onset(clips["b"]) == pytest.approx(250 * MS, abs=MS)
    assert result.values["duration_s"] == pytest.approx(len(out) / SR)
    assert result.provenance.inputs == ["a.wav", "b.wav", "a.wav"]


def test_concat_with_crossfade_overlaps(ws: Workspace, clips: dict[str, np.ndarray]) -> None:
    call("concat_audio", {"inputs": ["a.wav", "b.wav"], "crossfade_ms": 100, "out": "x.wav"}, ws)
    out, _ = media(ws, "x.wav")
    assert len(out) / SR == pytest.approx((len(clips["a"]) + len(clips["b"])) / SR - 0.1, abs=0.002)


def test_concat_matches_rates_and_channels(ws: Workspace, clips: dict[str, np.ndarray]) -> None:
    result = call("concat_audio", {"inputs": ["a.wav", "b22k_stereo.wav"], "out": "mixed.flac"}, ws)
    out, rate = media(ws, "mixed.flac")
    assert (rate, out.shape[1]) == (22050, 2) and result.values["channels"] == 2
    expected = round(len(clips["a"]) * 22050 / SR) + round(len(clips["b"]) * 22050 / SR)
    assert abs(len(out) - expected) <= 1
    assert np.array_equal(out[:, 0], out[:, 1])  # the mono clip went to both channels
    assert estimate_pitch(out[: round(len(clips["a"]) * 22050 / SR), 0], 22050) == pytest.approx(
        estimate_pitch(clips["a"], SR), rel=0.03)


def test_concat_refusals(ws: Workspace) -> None:
    with pytest.raises(ToolError, match="not both"):
        call("concat_audio", {"inputs": ["a.wav", "b.wav"], "gap_ms": 10, "crossfade_ms": 10, "out": "x.wav"}, ws)
    with pytest.raises(ToolError, match="Crossfade is longer"):
        call("concat_audio", {"inputs": ["a.wav", "b.wav"], "crossfade_ms": 5000, "out": "x.wav"}, ws)
    with pytest.raises(ToolError, match="must end in"):
        call("concat_audio", {"inputs": ["a.wav"], "out": "x.exe"}, ws)


def test_overlay_offsets_and_gains_land_where_asked(ws: Workspace, clips: dict[str, np.ndarray]) -> None:
    overlays = [{"source": "a.wav", "offset_ms": 300}, {"source": "b.wav", "offset_ms": 2000, "gain_db": -6},
                {"source": "a.wav", "offset_ms": 3500}]
    call("overlay_audio", {"base": "silence.wav", "overlays": overlays, "out": "o.wav"}, ws)
    out, _ = media(ws, "o.wav")
    out = out[:, 0]
    assert len(out) == 4 * SR  # the base's length, to the sample: the last overlay is cut
    assert onset(out) - onset(clips["a"]) == pytest.approx(300 * MS, abs=MS)
    assert np.array_equal(out[300 * MS : 300 * MS + len(clips["a"])], decode_audio(ws.input("a.wav"))[0][:, 0])
    second = out[2000 * MS : 2000 * MS + len(clips["b"])]
    assert onset(second) - onset(clips["b"]) == pytest.approx(0, abs=MS)
    assert level_db(second) - level_db(clips["b"]) == pytest.approx(-6, abs=0.1)


def test_overlay_past_the_base_is_refused(ws: Workspace) -> None:
    with pytest.raises(ToolError, match="after the base ends"):
        call("overlay_audio", {"base": "a.wav", "overlays": [{"source": "b.wav", "offset_ms": 9000}], "out": "o.wav"},
             ws)


def test_place_sources_pans_and_times_each_source(ws: Workspace, clips: dict[str, np.ndarray]) -> None:
    sources = [{"source": "a.wav", "pan": -1.0, "gain_db": -3}, {"source": "b.wav", "start_ms": 800, "pan": 1.0},
               {"source": "b.wav", "start_ms": 2500}]
    result = call("place_sources", {"sources": sources, "out": "scene.wav"}, ws)
    out, _ = media(ws, "scene.wav")
    b = len(clips["b"])
    assert out.shape == (2500 * MS + b, 2) and result.values["channels"] == 2
    left, right = out[:, 0], out[:, 1]
    assert np.abs(right[: 800 * MS]).max() == 0  # a is hard left
    assert np.abs(left[800 * MS : min(800 * MS + b, 2500 * MS)][len(clips["a"]) :]).max() == 0  # b is hard right
    assert onset(right) - onset(clips["b"]) == pytest.approx(800 * MS, abs=MS)
    # pydub's pan law: hard left boosts the left channel by 3.01 dB, on top of the source's gain
    assert level_db(left[: len(clips["a"])]) - level_db(clips["a"]) == pytest.approx(-3 + 3.01, abs=0.1)
    centre = out[2500 * MS :]
    assert np.array_equal(centre[:, 0], centre[:, 1])
    assert level_db(centre[:, 0]) - level_db(clips["b"]) == pytest.approx(0, abs=0.1)


def test_place_sources_mono(ws: Workspace, clips: dict[str, np.ndarray]) -> None:
    sources = [{"source": "a.wav"}, {"source": "b22k_stereo.wav", "start_ms": 100}]
    call("place_sources", {"sources": sources, "channels": "mono", "out": "m.wav"}, ws)
    out, rate = media(ws, "m.wav")
    assert rate == 22050 and out.shape[1] == 1
    a, b = (round(len(clips[k]) * 22050 / SR) for k in "ab")
    assert len(out) == max(a, int(100 * 22050 / 1000) + b)
    with pytest.raises(ToolError, match="pan needs stereo"):
        call("place_sources", {"sources": [{"source": "a.wav", "pan": 0.5}], "channels": "mono", "out": "m.wav"}, ws)


@pytest.mark.parametrize("gain", [-12.0, -6.0, 3.0])
def test_relative_gain_is_exact(ws: Workspace, clips: dict[str, np.ndarray], gain: float) -> None:
    result = call("change_gain", {"input": "a.wav", "gain_db": gain, "out": "g.wav"}, ws)
    out, _ = media(ws, "g.wav")
    assert level_db(out) - level_db(clips["a"]) == pytest.approx(gain, abs=0.1)
    assert result.values["dbfs_after"] - result.values["dbfs_before"] == pytest.approx(gain, abs=0.01)


@pytest.mark.parametrize("target", [-30.0, -24.0, -18.0])
def test_normalise_to_target_dbfs(ws: Workspace, target: float) -> None:
    result = call("change_gain", {"input": "b.wav", "target_dbfs": target, "out": "n.wav"}, ws)
    out, _ = media(ws, "n.wav")
    assert level_db(out) == pytest.approx(target, abs=0.1)
    assert result.values["dbfs_after"] == pytest.approx(target, abs=0.01)


def test_clipping_shows_in_the_peak(ws: Workspace) -> None:
    result = call("change_gain", {"input": "a.wav", "gain_db": 12, "out": "loud.wav"}, ws)
    assert result.values["peak_dbfs"] == 0.0


def test_gain_refusals(ws: Workspace) -> None:
    with pytest.raises(ToolError, match="exactly one"):
        call("change_gain", {"input": "a.wav", "gain_db": 1, "target_dbfs": -20, "out": "g.wav"}, ws)
    with pytest.raises(ToolError, match="silent"):
        call("change_gain", {"input": "silence.wav", "target_dbfs": -20, "out": "g.wav"}, ws)


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_resample_keeps_duration_and_pitch(ws: Workspace, clips: dict[str, np.ndarray], rate: int) -> None:
    result = call("resample_audio", {"input": "a.wav", "sample_rate": rate, "out": "r.wav"}, ws)
    out, got = media(ws, "r.wav")
    assert got == rate == result.values["sample_rate"]
    assert len(out) == round(len(clips["a"]) * rate / SR)
    assert estimate_pitch(out[:, 0], rate) == pytest.approx(estimate_pitch(clips["a"], SR), rel=0.03)


def test_convert_channels_both_ways(ws: Workspace, clips: dict[str, np.ndarray]) -> None:
    call("convert_channels", {"input": "a.wav", "channels": "stereo", "out": "s.wav"}, ws)
    stereo, _ = media(ws, "s.wav")
    mono_in, _ = decode_audio(ws.input("a.wav"))
    assert stereo.shape == (len(clips["a"]), 2)
    assert np.array_equal(stereo[:, 0], mono_in[:, 0]) and np.array_equal(stereo[:, 1], mono_in[:, 0])
    call("convert_channels", {"input": "media/s.wav", "channels": "mono", "out": "m.wav"}, ws)
    assert np.array_equal(media(ws, "m.wav")[0], mono_in)


CALLS = [
    ("concat_audio", {"inputs": ["a.wav", "b.wav"], "crossfade_ms": 50}),
    ("overlay_audio", {"base": "a.wav", "overlays": [{"source": "b.wav", "offset_ms": 200, "gain_db": -3}]}),
    ("place_sources", {"sources": [{"source": "a.wav", "pan": -0.3}, {"source": "b.wav", "start_ms": 90, "pan": 0.7}]}),
    ("change_gain", {"input": "a.wav", "target_dbfs": -18}),
    ("resample_audio", {"input": "a.wav", "sample_rate": 24000}),
    ("convert_channels", {"input": "a.wav", "channels": "stereo"}),
]


@pytest.mark.parametrize(("name", "params"), CALLS, ids=[c[0] for c in CALLS])
@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_every_tool_is_byte_deterministic(ws: Workspace, name: str, params: dict, suffix: str) -> None:
    first = call(name, {**params, "out": f"one{suffix}"}, ws)
    second = call(name, {**params, "out": f"two{suffix}"}, ws)
    assert (ws.run_dir / first.outputs[0]).read_bytes() == (ws.run_dir / second.outputs[0]).read_bytes()
    assert [p.name for p in (ws.run_dir / "media").iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_inputs_are_capped_together_and_in_channels(ws: Workspace, tmp_path: Path) -> None:
    long = np.zeros((360 * 4000, 1), np.float32)
    long[::4000] = 0.5
    write_wav(ws.run_dir / "six_minutes.wav", long, 4000)
    with pytest.raises(ToolError, match="together"):
        call("concat_audio", {"inputs": ["six_minutes.wav", "six_minutes.wav"], "out": "x.wav"}, ws)
    write_wav(ws.run_dir / "surround.wav", np.zeros((SR, 6), np.float32), SR)
    with pytest.raises(ToolError, match="6 channels"):
        call("change_gain", {"input": "surround.wav", "gain_db": 1, "out": "x.wav"}, ws)


def test_nested_input_paths_are_confined(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "outside.wav").write_bytes((ws.read_roots[0] / "a.wav").read_bytes())
    (ws.read_roots[0] / "link.wav").symlink_to(tmp_path / "outside.wav")
    for source, reason in [("../outside.wav", "leaves its root"), (str(tmp_path / "outside.wav"), "absolute"),
                           ("link.wav", "leaves its root")]:
        with pytest.raises(ToolError, match=reason):
            call("overlay_audio", {"base": "a.wav", "overlays": [{"source": source}], "out": "o.wav"}, ws)
