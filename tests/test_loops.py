"""Each of the graph's three loops takes its back edge and stops at its bound."""

from __future__ import annotations

from pathlib import Path

from langgraph.runtime import Runtime
from support import (
    COUNTING_CARD,
    NLI_CARD,
    OBJECTS_CARD,
    items,
    label_image_rows,
    mcq_rows,
    named_card,
    rejections,
    run,
    write_dataset,
)

from agents.verifier import OfflineVerifier, make_verifier_node
from state.context import Context
from state.models import Grounding, Item, PlanScores, Source, TransformPlan
from tools.pool import Pool
from tools.run_store import RunStore, item_id

NLI = [("A man is sleeping on a sofa.", "Someone is resting.", "entailment"),
       ("A girl rides a red bicycle.", "The girl is walking.", "contradiction"),
       ("Two dogs play in the park.", "The dogs belong to a family.", "neutral")]


def _nli_rows(n: int) -> list[dict]:
    return [{"id": f"n{i}", "premise": f"{NLI[i % 3][0]} (case {i})", "hypothesis": NLI[i % 3][1],
             "label": NLI[i % 3][2]} for i in range(n)]


def _events(state: dict, prefix: str) -> list[str]:
    return [e for e in state["events"] if e.startswith(prefix)]


def test_grounding_rejects_design_which_revises_then_succeeds(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    write_dataset(pool, "counting-mcq", mcq_rows(12), card=COUNTING_CARD)
    state = run("answer short questions about counting numbers", pool, tmp_path / "out", size=4)
    # Open QA cannot use letter answers, so grounding sends the design back; the reviser swaps to text MCQ.
    assert _events(state, "grounding: rejected") == ["grounding: rejected ['text-open-qa']"]
    assert state["design_rounds"] == 2
    assert [s.recipe for s in state["subtasks"]] == ["text-mcq"]
    assert state["status"] == "done" and len(items(tmp_path / "out")) == 4


def test_design_grounding_loop_stops_at_its_bound(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    write_dataset(pool, "counting-mcq", mcq_rows(12), card=COUNTING_CARD)
    state = run("recognise bird species in photos", pool, tmp_path / "out", size=4, max_design_rounds=2)
    assert state["status"] == "refused"
    assert state["design_rounds"] == 2
    assert len(_events(state, "grounding: rejected")) == 2
    # No revision left and nothing served: refused with the coverage report saying why, per clause.
    assert state["message"].startswith("nothing in the requirement can be built from pool pool")
    assert "1 clause(s) not served" in state["message"] and "text-mcq on counting-mcq" in state["message"]
    [entry] = state["summary"]["coverage"]
    assert entry["clause"] == "recognise bird species in photos" and entry["served"] is False
    assert "no dataset in the pool is about" in entry["why"] and "image-label-mcq" in entry["why"]
    assert state["not_covered"] == {entry["clause"]: entry["why"]}
    assert items(tmp_path / "out") == []


def _two_subtask_pool(tmp_path: Path) -> Path:
    pool = tmp_path / "pool"
    write_dataset(pool, "counting-mcq", mcq_rows(4), card=COUNTING_CARD)  # capacity 4 rows -> about 3 items
    write_dataset(pool, "everyday-nli", _nli_rows(20), card=NLI_CARD)
    return pool


REQ = "answer multiple choice questions about counting and draw entailment conclusions from everyday statements"


def test_infeasible_allocation_is_diagnosed_and_adjusted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    state = run(REQ, _two_subtask_pool(tmp_path), out, size=10)
    assert len(_events(state, "diagnose: infeasible")) == 1 and state["adjust_rounds"] == 1
    quotas = {q.subtask: q.target for q in state["allocation"].quotas}
    assert quotas == {"text-mcq": 3, "entailment-mcq": 7}
    built = items(out)
    assert len(built) == 10 and len({i["id"] for i in built}) == 10
    assert sum(i["subtask"] == "text-mcq" for i in built) == 3


def test_allocation_loop_stops_at_its_bound_and_goes_upstream(tmp_path: Path) -> None:
    state = run(REQ, _two_subtask_pool(tmp_path), tmp_path / "out", size=10, max_adjust_rounds=0,
                max_design_rounds=2)
    assert _events(state, "adjust:") == []
    assert len(_events(state, "diagnose: nothing admissible, back to design")) >= 1
    assert state["status"] == "refused"


def test_allocation_beyond_capacity_fails_with_the_capacity_named(tmp_path: Path) -> None:
    state = run(REQ, _two_subtask_pool(tmp_path), tmp_path / "out", size=40, max_design_rounds=2)
    assert state["status"] == "refused"
    assert "can yield about 21 items, 40 were asked" in state["message"]
    assert "--size 21" in state["message"]


def test_failed_samples_are_replenished_until_the_quota_is_met(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    blank = {0, 2, 3, 5, 7, 11}
    folder = pool / "objects"
    write_dataset(pool, "objects", label_image_rows(folder, 16, ["cat", "dog", "bird", "fish"], blank=blank),
                  card=OBJECTS_CARD)
    out = tmp_path / "out"
    state = run("recognise objects in images", pool, out, size=8)
    built, rejected = items(out), rejections(out)
    assert state["status"] == "done" and len(built) == 8
    assert rejected, "some blank images must have been drawn and discarded"
    assert all("image failed" in r["reason"] and "blank=True" in r["reason"] for r in rejected)
    assert {r["sample_id"] for r in rejected} <= {f"im{i}" for i in blank}
    assert not {i["source"]["sample_id"] for i in built} & {f"im{i}" for i in blank}
    assert state["progress"]["image-label-mcq@objects"]["drawn"] == 8 + len(rejected)
    # discarded samples leave no media behind
    assert len(list((out / "media").iterdir())) == 8


def test_replenishment_stops_at_its_draw_budget(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    folder = pool / "objects"
    write_dataset(pool, "objects", label_image_rows(folder, 12, ["cat", "dog", "bird", "fish"], blank=set(range(12))),
                  card=OBJECTS_CARD)
    out = tmp_path / "out"
    state = run("recognise objects in images", pool, out, size=4, attempts_per_item=1.5)
    assert state["status"] == "short"
    assert len(rejections(out)) == 6 and items(out) == []  # ceil(1.5 * 4) draws, then it stops
    assert "image-label-mcq (0/4)" in state["message"]
    assert "image-label-mcq@objects is 4 short: the attempt budget of 6 draws (1.5 per item) is spent" \
        in state["message"]


def _dup_item(run_dir: Path) -> Item:
    plan = TransformPlan(recipe="text-mcq", dataset="counting-mcq")
    return Item(id="x", subtask="text-mcq", question="Which number comes after 1 in counting?",
                choices=["2", "2", "3", "0"], answer="A", answer_text="2", modality="text",
                source=Source(dataset="counting-mcq", sample_id="q1"), plan=plan)


def _grounding() -> Grounding:
    plan = TransformPlan(recipe="text-mcq", dataset="counting-mcq")
    return Grounding(subtask="text-mcq", plan=plan, scores=PlanScores(alignment=1, robustness=1, preservation=1),
                     capacity=4, expected_yield=0.9)


def _round(out: Path, draft: str, work: dict) -> dict:
    """The verifier's view of a round of one executor task."""
    g = _grounding()
    return {"run_dir": str(out), "groundings": [g], "drafts": {f"{g.key}|q1": {"work": work, "draft": draft,
                                                                               "failure": ""}},
            "progress": {g.key: {"accepted": 0, "drawn": 1, "rejected": 0, "exhausted": False}}}


def test_verifier_repairs_a_repairable_item_then_discards_at_the_bound(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    write_dataset(pool, "counting-mcq", mcq_rows(4))
    out = tmp_path / "out"
    ctx = Context(pool=str(pool), out_dir=str(out), max_repairs=1)
    node = make_verifier_node()
    runtime = Runtime(context=ctx, stream_writer=lambda _: None)
    store, opened, item = RunStore(out), Pool(pool), _dup_item(out)
    verdict = OfflineVerifier().verify(item, opened.row("counting-mcq", "q1"), store, opened)  # the executor's checks
    draft = store.write_draft(item, verdict)
    work = {"grounding": "text-mcq@counting-mcq", "sample_id": "q1", "repairs": 0}
    first = node(_round(out, draft, work), runtime)
    assert first.goto == "orchestrator" and first.update["drafts"] is None
    assert first.update["repairs"] == [{**work, "repairs": 1, "feedback": {}}]
    assert first.update["progress"]["text-mcq@counting-mcq"]["repaired"] == 1
    assert (out / draft).exists()  # a repair rebuilds the draft in place
    second = node(_round(out, draft, first.update["repairs"][0]), runtime)
    assert second.update["repairs"] == [] and second.update["progress"]["text-mcq@counting-mcq"]["rejected"] == 1
    assert rejections(out)[0]["repairs"] == 1 and "choices_unique" in rejections(out)[0]["failed"]
    assert not (out / draft).exists()


def test_verdict_replayed_after_a_kill_neither_loses_nor_duplicates(tmp_path: Path) -> None:
    """A kill between the verifier's write and its checkpoint replays the verifier on a missing draft."""
    from agents.resources import store_for

    pool = tmp_path / "pool"
    write_dataset(pool, "counting-mcq", mcq_rows(4))
    out = tmp_path / "out"
    grounding = _grounding()
    node = make_verifier_node()
    runtime = Runtime(context=Context(pool=str(pool), out_dir=str(out)), stream_writer=lambda _: None)
    work = {"grounding": grounding.key, "sample_id": "q1", "repairs": 0}
    state = _round(out, "drafts/gone.json", work)
    rebuild = node(state, runtime)
    assert rebuild.update["repairs"] == [work]  # nothing on disk: build the item again, as the same attempt
    item = _dup_item(out).model_copy(update={"id": item_id(grounding.subtask, grounding.plan.dataset, "q1"),
                                             "choices": ["2", "3", "4", "0"]})
    store_for(str(out)).add_item(item)  # the store the node shares, as in one build process
    counted = node(state, runtime)
    assert counted.update["repairs"] == [] and counted.update["progress"][grounding.key]["accepted"] == 1
    assert len(items(out)) == 1


def test_a_dataset_that_runs_dry_hands_its_shortfall_to_a_sibling(tmp_path: Path) -> None:
    pool, out = tmp_path / "pool", tmp_path / "out"
    labels = ["cat", "dog", "bird", "fish"]
    write_dataset(pool, "objects-a", label_image_rows(pool / "objects-a", 10, labels, blank=set(range(10))),
                  card=named_card(OBJECTS_CARD, "objects-a"))
    write_dataset(pool, "objects-b", label_image_rows(pool / "objects-b", 20, labels),
                  card=named_card(OBJECTS_CARD, "objects-b"))
    state = run("recognise objects in images", pool, out, size=8)
    quotas = {q.grounding: q.target for q in state["allocation"].quotas}
    moved = [e for e in state["events"] if "moved" in e]
    # The measured yield moves the quota once enough outcomes are in, before the attempt budget is spent.
    assert moved == ["orchestrator: moved 3 from image-label-mcq@objects-a to image-label-mcq@objects-b "
                     "(measured yield 0/7)"]
    assert quotas == {"image-label-mcq@objects-a": 0, "image-label-mcq@objects-b": 8}
    assert state["status"] == "done" and {i["source"]["dataset"] for i in items(out)} == {"objects-b"}
    assert len(items(out)) == 8 and len(rejections(out)) == 7  # not ceil(3 x 3) = 9 draws from the blank dataset
