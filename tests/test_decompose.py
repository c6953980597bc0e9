"""Decomposition: dialogue turns, lossless passages, audio cut at timestamps, tiles that reassemble."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from tools.pure.audio_io import read_wav, write_wav
from tools.pure.decompose import Turn, numbered, rejoin, split_dialogue, split_passages, tile
from tools.pure.images import load_image, save_image
from tools.registry import ToolError, Workspace, call

DIALOGUE = """Alice: Did you book the table?
Bob: Yes, for eight.
  It was the last one left.

Dr. O'Neil: Make it nine: I land at 7:30.
Alice:Fine by me.
Bob: """


def test_dialogue_turns_and_speakers() -> None:
    turns = split_dialogue(DIALOGUE)
    assert [t.speaker for t in turns] == ["Alice", "Bob", "Dr. O'Neil", "Alice"]  # Bob's empty last turn dropped
    assert turns[1].text == "Yes, for eight.\nIt was the last one left."
    assert turns[2].text == "Make it nine: I land at 7:30." and turns[3].text == "Fine by me."


def test_dialogue_from_turns_merges_runs_on_request() -> None:
    turns = [Turn(speaker="A", text=" hi "), Turn(speaker="A", text="there"), Turn(speaker="B", text="  "),
             Turn(speaker="B", text="yo")]
    assert [t.text for t in split_dialogue(turns)] == ["hi", "there", "yo"]
    assert [(t.speaker, t.text) for t in split_dialogue(turns, merge_consecutive=True)] == [("A", "hi\nthere"),
                                                                                           ("B", "yo")]


def test_dialogue_without_a_first_speaker_is_refused() -> None:
    with pytest.raises(ToolError, match="line 2 has no 'Name:' speaker"):
        split_dialogue("\n-- no speaker here\nA: hi")


DOCUMENT = (
    "  The survey began in March. It covered four districts and ran for six weeks!\n\n"
    "Results were mixed. Turnout in the north was high, while the south lagged \u2014 "
    "partly because of the floods, which closed two polling stations for a week. "
    "Officials said \"we expected better.\" A recount is planned?\n\n\n"
    "Short paragraph.\n\n"
    + "Averyveryveryverylongwordwithoutanybreaks" * 3 + " tail.\n"
)


@pytest.mark.parametrize("max_chars", [20, 35, 60, 100, 1000])
@pytest.mark.parametrize("overlap", [0, 10])
def test_passages_fit_and_rejoin_without_loss(max_chars: int, overlap: int) -> None:
    passages = split_passages(DOCUMENT, max_chars, overlap)
    assert rejoin(passages) == DOCUMENT
    for p in passages:
        assert 0 < len(p.text) <= max_chars and p.text == DOCUMENT[p.overlap_start : p.end]
        assert p.start - p.overlap_start <= overlap
    assert [p.start for p in passages[1:]] == [p.end for p in passages[:-1]]


def test_passages_keep_paragraphs_whole_and_cut_at_sentences() -> None:
    texts = [p.text for p in split_passages(DOCUMENT, 160, 0)]
    assert texts[0] == "  The survey began in March. It covered four districts and ran for six weeks!\n\n"
    assert texts[1].startswith("Results were mixed.") and texts[1].endswith("closed two polling stations for a week. ")
    assert texts[2] == 'Officials said "we expected better." A recount is planned?\n\n\n'
    assert texts[3].startswith("Short paragraph.\n\nAvery") and len(texts) == 4


def test_overlap_repeats_whole_sentences() -> None:
    passages = split_passages("One. Two two. Three three three. Four four four four. Five.", 60, 20)
    assert [p.text for p in passages] == ["One. Two two. Three three three. ",
                                          "Three three three. Four four four four. Five."]
    assert passages[1].start - passages[1].overlap_start == len("Three three three. ")


def test_random_documents_rejoin_exactly() -> None:
    rng = random.Random(5)
    pieces = ["Word", "word.", "Why?", "\n\n", "\n", " ", "  ", "x" * 30, "Yes!\u201d", "\t"]
    for _ in range(300):
        doc = "".join(rng.choice(pieces) + rng.choice(["", " "]) for _ in range(rng.randint(0, 60)))
        max_chars = rng.randint(20, 90)
        overlap = rng.randint(0, max_chars // 2)
        passages = split_passages(doc, max_chars, overlap)
        assert rejoin(passages) == doc and all(len(p.text) <= max_chars for p in passages)


def test_passage_overlap_must_leave_room() -> None:
    with pytest.raises(ToolError, match="overlap 50 must be below"):
        split_passages("text", 50, 50)


def test_tiles_reassemble_exactly() -> None:
    image = np.random.default_rng(0).integers(0, 256, (97, 131, 3), dtype=np.uint8)
    for rows, cols in ((1, 1), (2, 3), (4, 4), (97, 1)):
        tiles = tile(image, rows, cols)
        assert len(tiles) == rows * cols
        canvas = np.zeros_like(image)
        covered = np.zeros(image.shape[:2], int)
        for box, pixels in tiles:
            canvas[box.slices()] = pixels
            covered[box.slices()] += 1
        assert np.array_equal(canvas, image) and (covered == 1).all()
    with pytest.raises(ToolError, match="cannot be cut"):
        tile(image, 98, 1)


def test_numbered_names_stay_valid() -> None:
    assert numbered("seg.wav", "003") == "seg_003.wav"
    long = numbered("a" * 116 + ".png", "r10_c10")
    assert len(long) == 120 and long.endswith("_r10_c10.png")


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    pool = tmp_path / "pool"
    pool.mkdir()
    rate = 16000
    t = np.arange(int(2.5 * rate)) / rate
    write_wav(pool / "tone.wav", 0.3 * np.sin(2 * np.pi * 220 * t), rate)
    save_image(pool / "pic.png", np.random.default_rng(1).integers(0, 256, (60, 90, 3), dtype=np.uint8))
    return Workspace(run_dir=tmp_path / "run", read_roots=(pool,))


def test_split_audio_durations_match_timestamps(ws: Workspace) -> None:
    cuts = [0.25, 0.9004, 1.5, 2.31]
    result = call("split_audio", {"audio": "tone.wav", "cuts": cuts, "out": "part.wav"}, ws)
    bounds = [0.0, *cuts, 2.5]
    assert result.outputs == [f"media/part_{i:03d}.wav" for i in range(5)]
    source, rate = read_wav(ws.read_roots[0] / "tone.wav")
    pieces = []
    for i, (rel, seg) in enumerate(zip(result.outputs, result.values["segments"], strict=True)):
        samples, sr = read_wav(ws.run_dir / rel)
        assert sr == rate and abs(len(samples) / sr - (bounds[i + 1] - bounds[i])) < 0.001
        assert abs(seg["duration"] - (bounds[i + 1] - bounds[i])) < 0.001 and seg["file"] == rel
        pieces.append(samples)
    assert np.abs(np.concatenate(pieces) - source).max() < 1e-4  # 16-bit requantisation only


@pytest.mark.parametrize(("cuts", "match"), [([1.0, 0.5], "increase strictly"), ([3.0], "inside the audio's 2.500 s"),
                                             ([0.0], "increase strictly")])
def test_split_audio_refuses_bad_cuts(ws: Workspace, cuts: list, match: str) -> None:
    with pytest.raises(ToolError, match=match):
        call("split_audio", {"audio": "tone.wav", "cuts": cuts, "out": "p.wav"}, ws)


def test_split_audio_refuses_hostile_and_broken_files(ws: Workspace) -> None:
    (ws.read_roots[0] / "junk.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(ToolError, match="leaves its root"):
        call("split_audio", {"audio": "../x.wav", "cuts": [1], "out": "p.wav"}, ws)
    with pytest.raises(ToolError, match="split_audio: "):
        call("split_audio", {"audio": "junk.wav", "cuts": [1], "out": "p.wav"}, ws)


def test_tile_image_tool_records_boxes_that_reassemble(ws: Workspace) -> None:
    source = load_image(ws.read_roots[0] / "pic.png")
    result = call("tile_image", {"image": "pic.png", "rows": 2, "cols": 4, "out": "t.png"}, ws)
    assert len(result.outputs) == 8 and result.outputs[5] == "media/t_r1_c1.png"
    canvas = np.zeros_like(source)
    for entry in result.values["tiles"]:
        b = entry["box"]
        canvas[b["y"] : b["y"] + b["height"], b["x"] : b["x"] + b["width"]] = load_image(ws.run_dir / entry["file"])
    assert np.array_equal(canvas, source)


def test_text_tools_return_values_and_write_json(ws: Workspace) -> None:
    result = call("split_dialogue", {"text": DIALOGUE, "out": "turns.json"}, ws)
    assert result.values["count"] == 4 and result.values["speakers"] == ["Alice", "Bob", "Dr. O'Neil"]
    assert json.loads((ws.run_dir / "media/turns.json").read_text()) == result.values["turns"]
    passages = call("split_passages", {"document": DOCUMENT, "max_chars": 100, "overlap": 20}, ws)
    assert passages.outputs == [] and "".join(
        p["text"][p["start"] - p["overlap_start"] :] for p in passages.values["passages"]) == DOCUMENT
    with pytest.raises(ToolError, match="either text or turns"):
        call("split_dialogue", {}, ws)
    with pytest.raises(ToolError, match="at most half"):
        call("split_passages", {"document": "x", "max_chars": 100, "overlap": 60}, ws)
