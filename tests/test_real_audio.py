"""Recipes over real recorded audio (the real-audio-mini pool): items built through realise and the
offline verifier, answers against the pool's labels, speaker fields and turn annotations, corrupted
items caught by the recipes' own checks, and the SNR of recorded noise measured on the written files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import cli, items, offline_realise

from agents.design import OfflineDesigner
from agents.verifier import OfflineVerifier
from state.models import Grounding, Item, PlanScores, Verdict
from tools.plans.recipes import RECIPES, sample_row, usable_rows
from tools.plans.steps import StepEnv, StepError
from tools.pool import Pool
from tools.pure.audio import measure_snr
from tools.pure.audio_io import read_wav
from tools.run_store import RunStore

POOL = Path(__file__).resolve().parents[2] / "shared" / "pools" / "real-audio-mini"
pytestmark = pytest.mark.skipif(not POOL.is_dir(), reason=f"real-audio-mini pool absent at {POOL}")


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Pool:
    return Pool(POOL, cache_dir=tmp_path_factory.mktemp("cards"))


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "run")


def build(pool: Pool, store: RunStore, recipe_id: str, dataset: str, sample_id: str,
          settings: dict | None = None, seed: int = 1) -> tuple[Item, Verdict]:
    """One item; `settings` (step -> parameters) as a requirement would fix them on the plan."""
    card = pool.card(dataset)
    plan = RECIPES[recipe_id].plan(card)
    plan.steps = [s.model_copy(update={"params": {**s.params, **(settings or {}).get(s.tool, {})}})
                  for s in plan.steps]
    grounding = Grounding(subtask=recipe_id, plan=plan, capacity=1, expected_yield=1,
                          scores=PlanScores(alignment=1, robustness=1, preservation=1))
    row, variant = sample_row(pool, dataset, sample_id)
    env = StepEnv(pool=pool, card=card, row=row, store=store, item_id=sample_id.replace("~", "_"), seed=seed,
                  variant=variant, sample_id=sample_id)
    item = offline_realise(grounding, env)
    return item, OfflineVerifier(speech_check=False).verify(item, row, store, pool)


def failed(item: Item, pool: Pool, store: RunStore) -> set[str]:
    row = sample_row(pool, item.source.dataset, item.source.sample_id)[0]
    return {c.name for c in RECIPES[item.plan.recipe].checks(item, row, pool, store.root) if not c.passed}


def wrong(item: Item) -> Item:
    """The item with another option marked as the answer."""
    other = next(c for c in item.choices if c != item.answer_text)
    return item.model_copy(update={"answer_text": other})


def raw(pool: Pool, layer: dict) -> dict:
    return pool.row(layer["dataset"], layer["sample_id"]).raw


@pytest.mark.parametrize("dataset", ["fsdd-spoken-digits", "speech-commands-sc09"])
def test_spoken_word_is_the_clips_label_and_a_wrong_answer_is_caught(pool: Pool, store: RunStore,
                                                                       dataset: str) -> None:
    for sample_id in usable_rows(pool, dataset, "spoken-word-mcq")[::29]:
        item, verdict = build(pool, store, "spoken-word-mcq", dataset, sample_id)
        assert verdict.action == "accept", verdict.reason
        source = pool.row(dataset, sample_id).raw
        assert item.answer_text == source["label"] and len(item.choices) == 4
        audio, rate = read_wav(store.root / item.audio[0])
        assert len(audio) / rate >= 0.5  # short FSDD words are padded with leading silence
        assert failed(wrong(item), pool, store) == {"spoken_word"}
    terms = " ".join(item.metadata.get("licence_terms", []))
    assert ("share-alike" in terms) == (dataset == "fsdd-spoken-digits")  # FSDD is CC-BY-SA-4.0


def test_a_clip_other_than_the_row_is_caught(pool: Pool, store: RunStore) -> None:
    item, _ = build(pool, store, "spoken-word-mcq", "fsdd-spoken-digits", "fsdd_7_theo_3")
    layout = [{**item.metadata["layout"][0], "sample_id": "fsdd_7_theo_4"}]  # same word, another take
    swapped = item.model_copy(update={"metadata": {**item.metadata, "layout": layout}})
    assert {"spoken_word", "layout_rebuilds"} <= failed(swapped, pool, store)


def test_speaker_identification_answer_is_the_references_speaker(pool: Pool, store: RunStore) -> None:
    for sample_id in usable_rows(pool, "fsdd-spoken-digits", "speaker-identification-mcq")[::37]:
        item, verdict = build(pool, store, "speaker-identification-mcq", "fsdd-spoken-digits", sample_id)
        assert verdict.action == "accept", verdict.reason
        layers = {layer["role"]: layer for layer in item.metadata["layout"]}
        speakers = {role: raw(pool, layer)["speaker"] for role, layer in layers.items()}
        assert layers["reference"]["sample_id"] == sample_id
        assert [c for c in item.choices if speakers[c] == speakers["reference"]] == [item.answer_text]
        assert len({layer["sample_id"] for layer in layers.values()}) == 5  # five distinct clips
        assert len({speakers[c] for c in item.choices}) == 4  # the others are other people
        assert all(f"{c} (" in item.question for c in item.choices)  # the layout is told
        assert failed(wrong(item), pool, store) == {"same_speaker"}


@pytest.mark.parametrize("dataset", ["fsdd-spoken-digits", "speech-commands-sc09"])
def test_speaker_count_is_the_number_of_distinct_source_speakers(pool: Pool, store: RunStore, dataset: str) -> None:
    counts = set()
    for sample_id in usable_rows(pool, dataset, "speaker-count-mix-mcq")[::3][:10]:
        item, verdict = build(pool, store, "speaker-count-mix-mcq", dataset, sample_id)
        assert verdict.action == "accept", verdict.reason
        people = {raw(pool, layer)["speaker"] for layer in item.metadata["layout"]}
        assert item.answer_text == str(len(people))
        assert all({"at_s", "gain_db"} <= set(layer) for layer in item.metadata["layout"])
        counts.add(item.answer_text)
        miscounted = item.model_copy(update={"answer_text": str(len(people) % 4 + 1)})
        assert failed(miscounted, pool, store) == {"talker_count"}
    assert len(counts) >= 3


def test_a_misplaced_clip_is_caught_by_the_rebuild(pool: Pool, store: RunStore) -> None:
    item, _ = build(pool, store, "speaker-count-mix-mcq", "fsdd-spoken-digits", "fsdd_4_george_1")
    layout = [dict(layer) for layer in item.metadata["layout"]]
    layout[-1]["at_s"] += 0.05
    moved = item.model_copy(update={"metadata": {**item.metadata, "layout": layout}})
    assert failed(moved, pool, store) == {"layout_rebuilds"}


def _talking(row_raw: dict, a: float, b: float) -> set[str]:
    return {t["speaker"] for t in row_raw["speaker_turns"] if t["start"] < b and t["end"] > a}


@pytest.mark.parametrize("dataset", ["ami-es2004a-excerpt", "ami-pyannote-debug-excerpts"])
def test_meeting_count_windows_follow_the_turn_annotation(pool: Pool, store: RunStore, dataset: str) -> None:
    samples = usable_rows(pool, dataset, "meeting-speaker-count-mcq")
    assert all("~" in s and "headset" not in s for s in samples)  # windows of the mixes only
    for sample_id in samples[::4]:
        item, verdict = build(pool, store, "meeting-speaker-count-mcq", dataset, sample_id)
        assert verdict.action == "accept", verdict.reason
        a, b = item.metadata["window_s"]
        source = sample_row(pool, dataset, sample_id)[0].raw
        assert item.answer_text == str(len(_talking(source, a, b)))
        if (a, b) == (0.0, source["duration_s"]):
            assert item.answer_text == str(source["num_speakers"])
        assert read_wav(store.root / item.audio[0])[0].size == round((b - a) * 16000)
        miscounted = item.model_copy(update={"answer_text": str(int(item.answer_text) % 4 + 1)})
        assert failed(miscounted, pool, store) == {"window_count"}


@pytest.mark.parametrize("dataset", ["ami-es2004a-excerpt", "ami-pyannote-debug-excerpts"])
def test_who_speaks_at_a_time_is_the_annotated_talker(pool: Pool, store: RunStore, dataset: str) -> None:
    for sample_id in usable_rows(pool, dataset, "meeting-who-speaks-mcq")[::3]:
        item, verdict = build(pool, store, "meeting-who-speaks-mcq", dataset, sample_id)
        assert verdict.action == "accept", verdict.reason
        t, source = item.metadata["time_s"], sample_row(pool, dataset, sample_id)[0].raw
        (now,) = _talking(source, t - 0.01, t + 0.01)
        refs = {layer["role"]: layer for layer in item.metadata["layout"] if layer["role"] in item.choices}
        alone = {role: _talking(source, r["from_s"], r["from_s"] + r["duration_s"]) for role, r in refs.items()}
        assert alone[item.answer_text] == {now}
        assert all(len(v) == 1 for v in alone.values()) and len(set(map(frozenset, alone.values()))) == len(refs)
        assert failed(wrong(item), pool, store) == {"speaker_at_time"}


@pytest.mark.parametrize("snr_db", [0.0, 5.0, 20.0])
def test_real_noise_at_an_exact_snr(pool: Pool, store: RunStore, snr_db: float) -> None:
    item, verdict = build(pool, store, "spoken-word-noise-mcq", "fsdd-spoken-digits", "fsdd_9_lucas_2",
                          {"real_noise": {"snr_db": snr_db}})
    assert verdict.action == "accept", verdict.reason
    mixture, clean = (read_wav(store.root / rel)[0] for rel in (item.audio[0], item.metadata["clean_audio"]))
    assert abs(measure_snr(clean, mixture) - snr_db) <= 0.5
    noise = item.metadata["noise"]
    assert noise["dataset"] == "speech-commands-noise" and noise["from_s"] >= 0
    assert {"dataset": "speech-commands-noise", "sample_id": noise["sample_id"], "license": "CC-BY-4.0"} \
        in item.metadata["sources"]
    claimed = item.model_copy(update={"metadata": {**item.metadata, "snr_db": snr_db + 3}})
    assert failed(claimed, pool, store) == {"noise_snr"}


def test_noise_offset_is_seeded_and_its_licence_travels(pool: Pool, store: RunStore) -> None:
    offsets = {build(pool, store, "spoken-word-noise-mcq", "speech-commands-sc09", "sc09_six_e49428d9_0",
                     seed=seed)[0].metadata["noise"]["from_s"] for seed in (1, 2, 3)}
    assert len(offsets) == 3
    item, verdict = build(pool, store, "spoken-word-noise-mcq", "speech-commands-sc09", "sc09_six_e49428d9_0",
                          {"real_noise": {"noise_dataset": "esc50-mini"}})
    assert verdict.action == "accept", verdict.reason
    assert any("non-commercial" in t for t in item.metadata["licence_terms"])
    unlisted = item.model_copy(update={"metadata": {**item.metadata, "sources": []}})
    assert failed(unlisted, pool, store) == {"sources_listed"}


def test_synthetic_noise_kind_is_refused_with_the_fix(pool: Pool, store: RunStore) -> None:
    with pytest.raises(StepError, match="ask for noise 'recorded' or one of"):
        build(pool, store, "spoken-word-noise-mcq", "fsdd-spoken-digits", "fsdd_1_theo_0",
              {"real_noise": {"noise": "pink"}})


@pytest.mark.parametrize(("requirement", "recipe"), [
    ("recognise spoken digits", "spoken-word-mcq"),
    ("identify which speaker", "speaker-identification-mcq"),
    ("count how many people speak in a meeting recording", "meeting-speaker-count-mcq"),
    ("who is speaking at a given time", "meeting-who-speaks-mcq"),
    ("recognise speech under real background noise", "spoken-word-noise-mcq"),
])
def test_offline_design_picks_the_real_audio_recipe(requirement: str, recipe: str) -> None:
    assert [s.recipe for s in OfflineDesigner().propose(requirement)] == [recipe]


@pytest.mark.slow
def test_cli_builds_spoken_digit_items_from_real_audio(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("build", "Recognise spoken digits", "--pool", str(POOL), "--size", "6", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = items(out)
    assert len(built) == 6 and all(i["plan"]["recipe"] == "spoken-word-mcq" for i in built)
    labels = {(d, r["id"]): r["label"] for d in ("fsdd-spoken-digits", "speech-commands-sc09")
              for r in map(json.loads, (POOL / d / "data.jsonl").read_text().splitlines())}
    assert all(i["answer_text"] == labels[i["source"]["dataset"], i["source"]["sample_id"]] for i in built)


@pytest.mark.slow
def test_cli_builds_speaker_and_real_noise_items_and_the_card_carries_the_licences(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("build", "Recognise spoken digits under real background noise at 5 dB, and identify which person "
               "is speaking", "--pool", str(POOL), "--size", "8", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = items(out)
    recipes = {i["plan"]["recipe"] for i in built}
    assert recipes == {"spoken-word-noise-mcq", "speaker-identification-mcq"}
    for item in built:
        if item["plan"]["recipe"] == "spoken-word-noise-mcq":
            assert abs(item["metadata"]["measured_snr_db"] - 5.0) <= 0.5
            assert any(s["dataset"] == "speech-commands-noise" for s in item["metadata"]["sources"])
    summary = json.loads((out / "summary.json").read_text())
    card = (out / "README.md").read_text()
    fsdd = any(i["source"]["dataset"] == "fsdd-spoken-digits" for i in built)
    assert summary["license"] == ("CC-BY-SA-4.0" if fsdd else "CC-BY-4.0")
    assert f"The strictest source licence is **{summary['license']}**" in card
    assert "| speech-commands-noise | CC-BY-4.0 |" in card
