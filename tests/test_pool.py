"""The pool: both layouts, normalisation of the mini General-Bench pool, media safety, cards, search."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import png_header

import tools.pool.cards as cards_module
from tools.pool import DEMO_POOL, Pool, PoolError
from tools.pool.roles import infer_roles, normalise_dialogue, normalise_options, split_options

MINI_IDS = [
    "image-artimagevisualquestionanswering", "image-birddetection", "image-car_brands_recognition",
    "image-chemistry_vqa", "image-lung_nodule_diagnosis_vqa", "image-mathematical_word_problem_vqa",
    "nlp-causal-reasoning", "nlp-dialogue-relation-extraction", "nlp-document-level-causal-reasoning",
    "nlp-ethical-reasoning", "nlp-event-coreference-resolution", "nlp-multi-turn-daily-dialogue-generation",
    "nlp-natural-language-inference", "nlp-social-science-question-answering", "nlp-temporal-event-reasoning",
    "nlp-temporal-reasoning",
]
DEMO_IDS = ["clocks", "daily-dialogues", "everyday-nli", "general-knowledge-mcq", "shapes"]


@pytest.fixture(scope="module")
def mini(gb_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Pool:
    return Pool(gb_mini, cache_dir=tmp_path_factory.mktemp("cards"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Pool:
    return Pool(DEMO_POOL, cache_dir=tmp_path_factory.mktemp("cards"))


def _png(path: Path, size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size, size, 3), 200, np.uint8))


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


# ------------------------------------------------------------------------------ General-Bench mini pool
def test_mini_discovers_all_datasets(mini: Pool) -> None:
    assert [c.id for c in mini.cards()] == MINI_IDS
    assert mini.problems == []
    assert all(c.layout == "general-bench" and c.n_rows == len(mini.rows(c.id)) for c in mini.cards())
    assert mini.card("nlp-causal-reasoning").path == "nlp/Causal-Reasoning"
    assert mini.card("image-car_brands_recognition").data_file == "image/car_brands_recognition/json/annotation.json"


def test_car_brands_is_a_label_task_with_images(mini: Pool) -> None:
    card = mini.card("image-car_brands_recognition")
    assert (card.n_rows, card.n_answered, card.answer_kind) == (192, 192, "label")
    assert len(card.label_space) == 32 and {"BMW", "Land Rover", "Volvo"} <= set(card.label_space)
    assert card.label_space == sorted(card.label_space)
    assert card.roles["answer"] == "output.prediction" and card.roles["image"] == "input.image_file"
    assert card.media_stats("image").model_dump() == {
        "kind": "image", "referenced": 192, "present": 192, "missing": 0, "refused": 0}
    assert card.modalities_in == ["text", "image"]
    assert card.source and "car-logo" in card.source and card.domain == ["General"]
    row = mini.row(card.id, "CarBrands0246")
    assert row.values["answer"] == "Land Rover" and row.problems == []
    assert row.values["question"] == "recognize the brand of the car in the image"
    assert mini.media_path(row.media["image"][0]).is_file()


def test_bare_image_names_resolve_in_images_folder(mini: Pool) -> None:
    row = mini.row("image-mathematical_word_problem_vqa", "mwpv0021")
    assert row.media == {"image": ["image/mathematical_word_problem_vqa/images/663.jpg"]}


def test_options_are_parsed_out_of_question_text(mini: Pool) -> None:
    card = mini.card("image-mathematical_word_problem_vqa")
    assert card.options_in_text == 8 and card.roles["options"] == "input.question"
    row = mini.row(card.id, "mwpv0021")
    assert row.values["options"] == ["half", "quarter", "o'clock", "quarter to", "quarter past"]
    assert row.values["question"].endswith("It is (_) past six.")
    assert "candidate choices" not in row.values["question"]
    assert row.values["answer"] == "quarter"
    assert row.values["instruction"].startswith("Please answer the question")


def test_lettered_options_in_prompt_keep_the_letter_answer(mini: Pool) -> None:
    card = mini.card("nlp-event-coreference-resolution")
    assert card.answer_kind == "letter" and card.options_in_text == 200
    row = mini.rows(card.id)[0]
    assert len(row.values["options"]) == 4 and row.values["options"][0].startswith('["trading"')
    assert row.values["answer"] in "ABCD"
    question = row.values["question"]
    assert "<<<raw_text>>>" not in question and "FINRA" in question  # raw text substituted
    assert "\nA. " not in question and "Choose A, B, C, or D" not in question


def test_dialog_with_unnamed_turns_stays_unattributed_with_response_answer(mini: Pool) -> None:
    card = mini.card("nlp-multi-turn-daily-dialogue-generation")
    assert card.roles["dialogue"] == "dialog" and card.roles["answer"] == "output.response"
    row = mini.row(card.id, "mtddg028")
    turns = row.values["dialogue"]
    assert [t["speaker"] for t in turns] == [None, None, None, None]  # the source names no speaker
    assert turns[0]["text"].startswith("Good afternoon")
    assert row.values["answer"] == "Certainly, sir."


def test_nli_raw_text_splits_into_premise_and_hypothesis(mini: Pool) -> None:
    card = mini.card("nlp-natural-language-inference")
    assert card.answer_kind == "label" and card.label_space == ["contradiction", "entailment", "neutral"]
    row = mini.row(card.id, "0355")
    assert row.values["premise"].startswith("An old woman in a white hat")
    assert row.values["hypothesis"] == "The building is brick."
    assert row.values["answer"] == "contradiction"
    assert ".." not in row.values["question"]


def test_answer_shapes(mini: Pool) -> None:
    temporal = mini.row("nlp-temporal-reasoning", "tr251")
    assert isinstance(temporal.values["answer"], list) and "4:00 PM" in temporal.values["answer"]
    assert mini.card("nlp-temporal-reasoning").answer_kind == "list"
    assert mini.card("image-artimagevisualquestionanswering").answer_kind == "list"
    birds = mini.card("image-birddetection")
    assert birds.answer_kind == "structured" and birds.label_space is None
    assert mini.row(birds.id, "bd_0165").values["answer"] == {"bird": [[67, 64, 366, 242]]}
    assert "bbox_format" in birds.description
    assert mini.card("nlp-ethical-reasoning").answer_kind == "letter"
    assert mini.card("nlp-document-level-causal-reasoning").answer_kind == "text"
    assert mini.card("nlp-temporal-event-reasoning").answer_kind == "label"
    social = mini.row("nlp-social-science-question-answering", "ssqa113")
    assert social.values["context"].startswith("Alex and his brother") and social.values["answer"] == "B"


def test_card_fields_describe_raw_paths(mini: Pool) -> None:
    fields = {f.path: f for f in mini.card("image-lung_nodule_diagnosis_vqa").fields}
    assert set(fields) == {"id", "input.image_file", "input.question", "input.prompt", "output.text"}
    answer = fields["output.text"]
    assert (answer.role, answer.types, answer.present, answer.distinct) == ("answer", ["str"], 120, 2)
    assert 1 <= len(answer.examples) <= 2
    assert fields["input.prompt"].role == "instruction"


def test_search_ranks_car_brands_first_and_filters_modality(mini: Pool) -> None:
    hits = mini.search("car brand logo", modality="image")
    assert hits[0][0].id == "image-car_brands_recognition"
    assert all(score > 0 for _, score in hits) and [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert mini.search("car brand logo", modality="audio") == []
    text_hits = mini.search("dialogue response", modality="text")
    assert text_hits[0][0].id == "nlp-multi-turn-daily-dialogue-generation"
    assert mini.search("xylophone qwertz") == []
    assert len(mini.search("reasoning", k=2)) == 2


# ------------------------------------------------------------------------------ cards: determinism and cache
def test_cards_are_cached_by_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pool_root = tmp_path / "pool"
    shutil.copytree(DEMO_POOL, pool_root)
    before = sorted(p.relative_to(pool_root) for p in pool_root.rglob("*"))
    builds = Counter()
    real = cards_module.build_card

    def counting(src, *args, **kwargs):
        builds[src.id] += 1
        return real(src, *args, **kwargs)

    monkeypatch.setattr(cards_module, "build_card", counting)
    cache = tmp_path / "cache"
    first = Pool(pool_root, cache_dir=cache)
    assert sum(builds.values()) == 5
    second = Pool(pool_root, cache_dir=cache)
    assert sum(builds.values()) == 5  # every card came from the cache
    assert [c.model_dump() for c in first.cards()] == [c.model_dump() for c in second.cards()]
    assert len(second.rows("shapes")) == 64  # rows still load after a cache hit
    with (pool_root / "everyday-nli" / "data.csv").open("a") as fh:
        fh.write("nli_extra,A cat sleeps.,An animal rests.,entailment\n")
    third = Pool(pool_root, cache_dir=cache)
    assert builds["everyday-nli"] == 2 and sum(builds.values()) == 6
    assert third.card("everyday-nli").n_rows == 49
    assert third.card("everyday-nli").fingerprint != first.card("everyday-nli").fingerprint
    after = sorted(p.relative_to(pool_root) for p in pool_root.rglob("*"))
    assert after == before  # nothing written into the pool


def test_cards_are_deterministic_across_cache_dirs(tmp_path: Path) -> None:
    a = Pool(DEMO_POOL, cache_dir=tmp_path / "a").cards()
    b = Pool(DEMO_POOL, cache_dir=tmp_path / "b").cards()
    assert [c.model_dump() for c in a] == [c.model_dump() for c in b]


def test_cache_inside_the_pool_is_refused(tmp_path: Path) -> None:
    _jsonl(tmp_path / "ds" / "data.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(PoolError, match="inside pool"):
        Pool(tmp_path, cache_dir=tmp_path / "cache")


# ------------------------------------------------------------------------------ media safety
def test_hostile_media_is_refused_per_row(tmp_path: Path) -> None:
    root = tmp_path / "pool"
    ds = root / "unsafe"
    _png(ds / "ok.png")
    _png(tmp_path / "outside.png")
    (ds / "link.png").symlink_to(tmp_path / "outside.png")
    png_header(ds / "huge.png", 10_000, 10_000)
    (ds / "images").mkdir()
    refs = {"ok": "ok.png", "escape": "../../etc/passwd", "absolute": str(tmp_path / "outside.png"),
            "symlink": "link.png", "bomb": "huge.png", "gone": "nothere.png", "url": "http://example.com/a.png"}
    _jsonl(ds / "data.jsonl", [{"id": k, "question": f"q {k}", "answer": "yes", "image": v} for k, v in refs.items()])
    pool = Pool(root, cache_dir=tmp_path / "cache")

    ok = pool.row("unsafe", "ok")
    assert ok.media == {"image": ["unsafe/ok.png"]} and ok.problems == []
    for sample, reason in [("escape", "leaves its root"), ("absolute", "absolute"), ("symlink", "leaves its root"),
                           ("bomb", "pixels"), ("gone", "missing"), ("url", "URL")]:
        row = pool.row("unsafe", sample)
        assert row.media == {}, sample
        assert len(row.problems) == 1 and reason in row.problems[0], (sample, row.problems)
        assert row.values["question"] == f"q {sample}" and row.values["answer"] == "yes"
    stats = pool.card("unsafe").media_stats("image")
    assert (stats.referenced, stats.present, stats.missing, stats.refused) == (7, 1, 1, 5)
    with pytest.raises(ValueError):
        pool.media_path("../outside.png")


# ------------------------------------------------------------------------------ folder layout and robustness
def test_folder_layout_formats_roles_and_card_overrides(tmp_path: Path) -> None:
    root = tmp_path / "pool"
    (root / "talk").mkdir(parents=True)
    (root / "talk" / "data.csv").write_text(
        "uid,Conversation,Choices,Target\n"
        'a1,"Ana: Hi there\nBen: Hello!\nAna: How are you?","[""Fine"", ""Bad""]",Fine\n'
        'a2,"Ana: Lunch?\nBen: Sure",Yes|No,Yes\n'
    )
    (root / "nested" / "quiz").mkdir(parents=True)
    pq.write_table(pa.table({"q": ["2+2?\nA. 3\nB. 4"], "gold": ["B"], "sound": [["clip.wav"]]}),
                   root / "nested" / "quiz" / "data.parquet")
    (root / "nested" / "quiz" / "clip.wav").write_bytes(b"RIFF0000WAVE")
    (root / "nested" / "quiz" / "card.json").write_text(json.dumps(
        {"name": "Quiz", "domain": "Maths", "license": "CC0-1.0", "roles": {"question": "q", "answer": "gold",
                                                                            "audio": "sound"}}))
    pool = Pool(root, cache_dir=tmp_path / "cache")
    assert [c.id for c in pool.cards()] == ["nested-quiz", "talk"]

    talk = pool.card("talk")
    assert talk.roles == {"id": "uid", "options": "Choices", "answer": "Target", "dialogue": "Conversation"}
    first, second = pool.rows("talk")
    assert first.sample_id == "a1" and first.values["options"] == ["Fine", "Bad"]
    assert first.values["dialogue"] == [{"speaker": "Ana", "text": "Hi there"}, {"speaker": "Ben", "text": "Hello!"},
                                        {"speaker": "Ana", "text": "How are you?"}]
    assert second.values["options"] == ["Yes", "No"]

    quiz = pool.card("nested-quiz")
    assert (quiz.name, quiz.domain, quiz.license, quiz.answer_kind) == ("Quiz", ["Maths"], "CC0-1.0", "letter")
    assert quiz.options_in_text == 1 and quiz.modalities_in == ["text", "audio"]
    row = pool.rows("nested-quiz")[0]
    assert row.sample_id == "0" and row.values["question"] == "2+2?" and row.values["options"] == ["3", "4"]
    assert row.media == {"audio": ["nested/quiz/clip.wav"]}


def test_corrupt_datasets_are_skipped_and_listed(tmp_path: Path) -> None:
    root = tmp_path / "pool"
    _jsonl(root / "good" / "data.jsonl", [{"question": "q", "answer": "a"}])
    (root / "badjsonl").mkdir()
    (root / "badjsonl" / "data.jsonl").write_text('{"question": "q"}\n{not json\n')
    (root / "badcsv").mkdir()
    (root / "badcsv" / "data.csv").write_text("question,answer\nq1,a1\nq2,a2,extra\n")
    (root / "badparquet").mkdir()
    (root / "badparquet" / "data.parquet").write_bytes(b"PAR1 definitely not parquet")
    (root / "badcard").mkdir()
    _jsonl(root / "badcard" / "data.jsonl", [{"question": "q", "answer": "a"}])
    (root / "badcard" / "card.json").write_text("{oops")
    (root / "gb" / "broken").mkdir(parents=True)
    (root / "gb" / "broken" / "annotation.json").write_text('{"task": "x", "data": [')
    (root / "gb" / "notes").mkdir(parents=True)
    (root / "gb" / "notes" / "meta.json").write_text('{"not": "a dataset"}')

    pool = Pool(root, cache_dir=tmp_path / "cache")
    assert [c.id for c in pool.cards()] == ["good"]
    problems = "\n".join(pool.problems)
    assert len(pool.problems) == 5, problems
    for needle in ("badjsonl", "line 2", "badcsv", "3 fields", "badparquet", "card.json", "gb/broken/annotation.json"):
        assert needle in problems
    assert "meta.json" not in problems


def test_pool_errors_name_problem_and_fix(tmp_path: Path, demo: Pool) -> None:
    with pytest.raises(PoolError, match="does not exist; pass --pool PATH"):
        Pool(tmp_path / "nowhere", cache_dir=tmp_path / "c")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PoolError, match="holds no datasets"):
        Pool(tmp_path / "empty", cache_dir=tmp_path / "c")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(PoolError, match="not a folder"):
        Pool(tmp_path / "file.txt", cache_dir=tmp_path / "c")
    (tmp_path / "broken" / "ds").mkdir(parents=True)
    (tmp_path / "broken" / "ds" / "data.jsonl").write_text("[1, 2]\n")
    with pytest.raises(PoolError, match="could be read"):
        Pool(tmp_path / "broken", cache_dir=tmp_path / "c")
    with pytest.raises(PoolError, match="known datasets: clocks, daily-dialogues"):
        demo.card("nope")
    with pytest.raises(PoolError, match="no sample 'zzz'"):
        demo.row("shapes", "zzz")


# ------------------------------------------------------------------------------ the bundled demo pool
def test_demo_pool_datasets(demo: Pool) -> None:
    assert [c.id for c in demo.cards()] == DEMO_IDS and demo.problems == []
    assert sum(f.stat().st_size for f in DEMO_POOL.rglob("*") if f.is_file()) < 3_000_000
    kinds = {c.id: c.answer_kind for c in demo.cards()}
    assert kinds == {"clocks": "label", "daily-dialogues": "text", "everyday-nli": "label",
                     "general-knowledge-mcq": "letter", "shapes": "label"}
    assert demo.card("shapes").label_space == sorted(
        ["circle", "square", "triangle", "pentagon", "hexagon", "star", "ellipse", "cross"])
    assert len(demo.card("clocks").label_space) == 24 and "3:30" in demo.card("clocks").label_space
    assert demo.card("everyday-nli").label_space == ["contradiction", "entailment", "neutral"]
    for card in demo.cards():
        assert card.license and card.license.startswith("CC0-1.0") and card.description
        assert card.n_answered == card.n_rows
        for m in card.media:
            assert m.present == m.referenced == card.n_rows
    assert [c.id for c in demo.cards() if "image" in c.modalities_in] == ["clocks", "shapes"]


def test_demo_pool_content_is_balanced_and_well_formed(demo: Pool) -> None:
    shapes = Counter(r.values["answer"] for r in demo.rows("shapes"))
    assert len(shapes) == 8 and set(shapes.values()) == {8}
    nli = Counter(r.values["answer"] for r in demo.rows("everyday-nli"))
    assert nli == {"entailment": 16, "neutral": 16, "contradiction": 16}
    mcq = demo.rows("general-knowledge-mcq")
    assert len(mcq) == 40 and Counter(r.values["answer"] for r in mcq) == {"A": 10, "B": 10, "C": 10, "D": 10}
    assert all(len(r.values["options"]) == 4 == len(set(r.values["options"])) for r in mcq)
    capital = next(r for r in mcq if "capital of Australia" in r.values["question"])
    assert capital.values["options"]["ABCD".index(capital.values["answer"])] == "Canberra"
    dialogues = demo.rows("daily-dialogues")
    assert len(dialogues) == 40 and len({r.values["answer"] for r in dialogues}) == 40
    for r in dialogues:
        turns = r.values["dialogue"]
        speakers = [t["speaker"] for t in turns]
        assert 3 <= len(turns) <= 6 and len(set(speakers)) == 2
        assert all(a != b for a, b in zip(speakers, speakers[1:]))
    clock = demo.rows("clocks")[0]
    assert clock.values["question"] == "What time does the clock show?"
    assert cv2.imread(str(demo.media_path(clock.media["image"][0]))).shape == (200, 200, 3)
    assert cv2.imread(str(demo.media_path(demo.rows("shapes")[0].media["image"][0]))).shape == (160, 160, 3)


def test_demo_search(demo: Pool) -> None:
    assert demo.search("which shape geometric", modality="image")[0][0].id == "shapes"
    assert demo.search("read the time on a clock")[0][0].id == "clocks"
    assert demo.search("premise hypothesis entailment", modality="text")[0][0].id == "everyday-nli"
    assert [c.id for c, _ in demo.search("shape", modality="text")] == ["shapes"]
    assert demo.search("clock", modality="audio") == []


# ------------------------------------------------------------------------------ role helpers
def test_role_helpers() -> None:
    assert infer_roles(["Query", "candidates", "label", "passage", "img", "sample_id"]) == {
        "id": "sample_id", "question": "Query", "options": "candidates", "answer": "label",
        "context": "passage", "image": "img"}
    assert infer_roles(["question", "prompt"]) == {"question": "question", "instruction": "prompt"}
    assert split_options("Pick one. The candidate choices are ['a', \"b's\"].") == ("Pick one.", ["a", "b's"])
    assert split_options("No options here. A: hello\nB: hi") is None
    assert split_options("Choices are [__import__('os')]") is None  # literal_eval never runs code
    assert normalise_options({"B": "two", "A": "one"}) == ["one", "two"]
    assert normalise_options(["A. one", "B. two"]) == ["one", "two"]
    assert normalise_dialogue(["Hello.", "Hi!", "Bye."]) == [
        {"speaker": None, "text": "Hello."}, {"speaker": None, "text": "Hi!"}, {"speaker": None, "text": "Bye."}]
    assert normalise_dialogue([{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}]) == [
        {"speaker": "user", "text": "x"}, {"speaker": "bot", "text": "y"}]
    assert normalise_dialogue("Speaker 1: Hey\nthere\nSpeaker 2: Yo") == [
        {"speaker": "Speaker 1", "text": "Hey there"}, {"speaker": "Speaker 2", "text": "Yo"}]
