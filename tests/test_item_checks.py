"""The verifier layer every item goes through: malformed sources are refused with a reason, the gold
answer is re-read from the raw record, items repeat nothing, and text recipes never take image rows."""

from __future__ import annotations

from pathlib import Path

from support import items, label_image_rows, mcq_rows, rejections, run, write_dataset

from agents.verifier import OfflineVerifier
from state.models import Item, Row, Source, Step, TransformPlan
from tools.plans.recipes import RECIPES
from tools.pool import Pool
from tools.quality.item_checks import mentioned_media, readable_option, source_answers
from tools.run_store import RunStore

CARD = {"name": "counting-mcq", "task": "Counting multiple choice questions",
        "description": "Multiple choice questions about counting: which number comes next."}


def test_malformed_and_duplicate_rows_are_refused_with_a_reason(tmp_path: Path) -> None:
    pool, out = tmp_path / "pool", tmp_path / "out"
    rows = mcq_rows(5)
    rows += [{**rows[0], "id": "copy-of-q0"},  # the same question under another id
             {"id": "tuple", "question": "Which event pair corefers in the text?",
              "options": ['["trading", 564, 7] -> ["letters", 469, 7]', '["trading", 300, 7] -> ["x", 746, 7]'],
              "answer": "A"},
             {"id": "nul", "question": "Which number comes after\x00 nine in counting?",
              "options": ["10", "11", "12", "8"], "answer": "A"},
             {"id": "stem", "question": "Next?", "options": ["1", "2", "3", "4"], "answer": "A"}]
    write_dataset(pool, "counting-mcq", rows, card=CARD)
    # Six asked of five good questions: every row is drawn, and the build says it ran short.
    state = run("answer multiple choice counting questions", pool, out, size=6)
    reasons = {r["sample_id"]: r["reason"] for r in rejections(out)}
    built = {i["source"]["sample_id"] for i in items(out)}
    assert state["status"] == "short" and len(built) == 5
    assert "options_readable failed (option A is a raw record" in reasons["tuple"]
    assert "no_control_characters failed" in reasons["nul"]
    assert "question failed" in reasons["stem"]
    twins = {"q0", "copy-of-q0"}
    assert len(twins & built) == 1 and "not_a_duplicate failed (repeats accepted item" in reasons[
        (twins - built).pop()]


def _item(answer_text: str, choices: list[str]) -> Item:
    plan = TransformPlan(recipe="text-mcq", dataset="counting-mcq", steps=[Step(tool="source_choices")])
    return Item(id="i", subtask="text-mcq", question="Which number comes after 1 in counting?", choices=choices,
                answer="ABCD"[choices.index(answer_text)], answer_text=answer_text, modality="text",
                source=Source(dataset="counting-mcq", sample_id="q1"), plan=plan)


def test_the_answer_check_reads_the_raw_record_not_the_parsed_row(tmp_path: Path) -> None:
    """A row whose parsed answer disagrees with its raw record (a loader or step bug) is caught."""
    write_dataset(tmp_path / "pool", "counting-mcq", mcq_rows(3), card=CARD)
    pool, store = Pool(tmp_path / "pool"), RunStore(tmp_path / "run")
    row = pool.row("counting-mcq", "q1")
    choices = row.values["options"]
    assert source_answers(row, pool.card("counting-mcq")) == {"2"}
    verifier = OfflineVerifier(speech_check=False)
    right = verifier.verify(_item("2", choices), row, store, pool)
    assert right.action == "accept"
    tampered = Row(**{**row.model_dump(), "values": {**row.values, "answer": "B"}}, raw=row.raw)
    wrong = verifier.verify(_item("3", choices), tampered, store, pool)
    assert wrong.action == "discard" and "answer_matches_source failed" in wrong.reason


def test_text_recipes_never_take_image_bound_rows(tmp_path: Path) -> None:
    pool_dir = tmp_path / "pool"
    rows = label_image_rows(pool_dir / "objects", 4, ["cat", "dog", "bird", "fish"])
    for r in rows:
        r["options"] = ["cat", "dog", "bird", "fish"]
    write_dataset(pool_dir, "objects", rows)
    write_dataset(pool_dir, "quiz", [{"id": "1", "question": "Which beaker in the image is fuller?",
                                      "options": ["left", "right"], "answer": "A"},
                                     {"id": "2", "question": "Which number follows two?",
                                      "options": ["three", "four"], "answer": "A"}])
    pool = Pool(pool_dir)
    assert "would drop" in RECIPES["text-mcq"].misfit(pool.card("objects"))
    usable = [r.sample_id for r in pool.rows("quiz") if RECIPES["text-mcq"].usable(r)]
    assert usable == ["2"]


def test_option_and_media_word_rules() -> None:
    assert readable_option("The Seine") is None and readable_option("(1, 2)") is not None
    assert readable_option("...") is not None and readable_option("x" * 400) is not None
    assert mentioned_media("What does the picture show?") == {"image"}
    assert mentioned_media("Listen to the recording.") == {"audio"}
    assert mentioned_media("Which river flows through Paris?") == set()
