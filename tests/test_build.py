"""Whole builds on the real General-Bench slice: the answers, options, images and audio they write."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import cv2
import numpy as np
from support import (
    GB_MINI,
    OBJECTS_CARD,
    ROOT,
    draw_image,
    items,
    label_image_rows,
    needs_gb_mini,
    png_header,
    rejections,
    run,
    write_dataset,
)

from tools.pool import DEMO_POOL
from tools.text import LETTERS


def _wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
        return data, w.getframerate()


@needs_gb_mini
def test_fine_grained_photo_items_match_source_labels(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # Car brands are fine-grained categories; the requirement names them, as alignment is read against the cards.
    state = run("evaluate whether a model can recognise car brands in photos", GB_MINI, out, size=20)
    assert state["status"] == "done"
    labels = {row["id"]: row["output"]["prediction"] for row in
              json.loads((GB_MINI / "image/car_brands_recognition/json/annotation.json").read_text())["data"]}
    built = items(out)
    assert len(built) == 20 and len({i["id"] for i in built}) == 20
    for item in built:
        assert item["source"]["dataset"] == "image-car_brands_recognition"
        assert item["answer_text"] == labels[item["source"]["sample_id"]]
        assert len(set(item["choices"])) == len(item["choices"]) == 4
        assert item["choices"][LETTERS.index(item["answer"])] == item["answer_text"]
        image = cv2.imread(str(out / item["image"][0]))
        assert image is not None and image.shape[0] > 16 and image.shape[1] > 16


def test_spoken_dialogue_items_have_two_voices_and_the_requested_snr(tmp_path: Path) -> None:
    """On the demo pool, whose dialogues name their speakers (general-bench-mini's do not, and are narrated)."""
    from tools.pure.audio import estimate_pitch

    out = tmp_path / "out"
    state = run("evaluate whether a model can follow spoken dialogues with background noise at 5 dB SNR",
                DEMO_POOL, out, size=3)
    assert state["status"] == "done"
    built = items(out)
    assert len(built) == 3
    for item in built:
        assert item["modality"] == "audio" and item["choices"] and item["answer"] in LETTERS
        mixture, rate = _wav(out / item["audio"][0])
        clean, _ = _wav(out / item["metadata"]["clean_audio"])
        assert rate == 16000 and len(mixture) == len(clean) and len(mixture) / rate > 1.0
        snr = 10 * np.log10(np.sum(clean**2) / np.sum((mixture - clean) ** 2))
        assert abs(snr - 5.0) < 1.0
        turns = item["metadata"]["turns"]
        assert len({t["voice"] for t in turns}) >= 2
        pitch = {}
        for t in turns:
            pitch.setdefault(t["speaker"], []).append(
                estimate_pitch((clean[int(t["start"] * rate): int(t["end"] * rate)] / 32768).astype(np.float32), rate))
        medians = [float(np.median(v)) for v in pitch.values()]
        assert max(medians) - min(medians) > 15  # two audibly different voices
        heard = item["metadata"]["speech_recognition"]
        assert "speech_says_script" in item["metadata"]["checks"]
        assert heard["wer"] <= heard["threshold"] and heard["wer"] < heard["decoy_wer"]


def test_demo_pool_build_has_text_image_and_audio_items(tmp_path: Path) -> None:
    out = tmp_path / "out"
    state = run("Evaluate whether a model can recognise shapes in images, draw entailment conclusions from "
                "everyday statements, and follow spoken dialogues", "", out, size=6)
    assert state["status"] == "done"
    built = items(out)
    assert {i["modality"] for i in built} == {"text", "image", "audio"}
    assert len(built) == 6
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accepted"] == 6 and summary["requested"] == 6
    spec = json.loads((out / "spec.json").read_text())
    assert {s["recipe"] for s in spec["subtasks"]} == {"image-label-mcq", "entailment-mcq", "dialogue-audio-mcq"}
    assert (out / "README.md").read_text().startswith("# Benchmark:")


def test_hostile_media_paths_never_reach_the_benchmark(tmp_path: Path) -> None:
    pool, out = tmp_path / "pool", tmp_path / "out"
    folder = pool / "objects"
    rows = label_image_rows(folder, 8, ["cat", "dog", "bird", "fish"])
    draw_outside = tmp_path / "secret.png"
    draw_image(draw_outside, "secret")
    (folder / "images" / "link.png").symlink_to(draw_outside)
    png_header(folder / "images" / "huge.png", 10_000, 10_000)
    hostile = {"escape": "../../etc/passwd", "absolute": str(draw_outside), "symlink": "images/link.png",
               "bomb": "images/huge.png"}
    rows += [{"id": k, "image": v, "question": "What is shown?", "label": "cat"} for k, v in hostile.items()]
    write_dataset(pool, "objects", rows, card=OBJECTS_CARD)
    state = run("recognise objects in images", pool, out, size=6)
    assert state["status"] == "done"
    built = items(out)
    assert len(built) == 6 and {i["source"]["sample_id"] for i in built} <= {f"im{i}" for i in range(8)}
    assert rejections(out) == []  # refused rows are never drawn: the card already knows they are unusable
    assert sorted(p.name for p in (out / "media").iterdir()) == sorted(Path(i["image"][0]).name for i in built)
    assert draw_outside.read_bytes() not in {p.read_bytes() for p in (out / "media").iterdir()}


def test_same_seed_same_benchmark_other_seed_other_benchmark(tmp_path: Path) -> None:
    requirement = "recognise shapes in images and follow spoken dialogues under pink noise at 10 dB SNR"
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        run(requirement, "", tmp_path / name, size=4, seed=seed, speech_check=False)
    text = {n: (tmp_path / n / "items.jsonl").read_text() for n in "abc"}
    media = {n: {p.name: p.read_bytes() for p in (tmp_path / n / "media").iterdir()} for n in "abc"}
    assert text["a"] == text["b"] and media["a"] == media["b"]
    assert text["a"] != text["c"]


def test_two_clauses_on_one_recipe_build_two_subtasks_from_their_own_data(tmp_path: Path) -> None:
    state = run("recognise shapes and read clocks in images", ROOT / "tools" / "demo_pool", tmp_path / "out", size=8)
    assert state["status"] == "done"
    by_subtask = {}
    for item in items(tmp_path / "out"):
        by_subtask.setdefault(item["subtask"], set()).add(item["source"]["dataset"])
    assert by_subtask == {"image-label-mcq": {"shapes"}, "image-label-mcq.read-clocks-in-images": {"clocks"}}
