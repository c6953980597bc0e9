"""`benchagent eval`: exact scores through the scripted server, resume, media in the request, ablation."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from openai_stub import OpenAIStub, Reply, fault
from scipy.stats import binomtest

from graph import eval_cli
from graph.cli import UsageError
from tools.evaluation.answers import parse
from tools.evaluation.messages import BLIND, FULL, prompt
from tools.evaluation.stats import wilson

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ["circle", "square", "triangle", "star"]


def _png(path: Path, seed: int) -> None:
    import cv2
    import numpy as np

    cv2.imwrite(str(path), np.full((8, 8, 3), seed * 20 % 255, np.uint8))


def _wav(path: Path, seed: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes([seed % 256, 0]) * 800)


def _bench(root: Path, per_subtask: int = 5) -> list[dict]:
    """A benchmark of image, audio, text-with-context and open items, written as `build` writes one."""
    (root / "media").mkdir(parents=True)
    items = []
    for n in range(per_subtask):
        answer = "ABCD"[n % 4]
        img, wav = f"media/shape{n}.png", f"media/talk{n}.wav"
        _png(root / img, n)
        _wav(root / wav, n)
        common = {"choices": OPTIONS, "answer": answer, "answer_text": OPTIONS["ABCD".index(answer)]}
        items += [
            {"id": f"img{n}", "subtask": "shapes", "question": f"Which shape is shown? ({n})", "modality": "image",
             "image": [img], "audio": [], **common},
            {"id": f"aud{n}", "subtask": "dialogue", "question": f"Which shape did they name? ({n})",
             "modality": "audio", "image": [], "audio": [wav], **common},
            {"id": f"nli{n}", "subtask": "entailment", "question": f"Premise: item {n}.\nWhich shape fits? ({n})",
             "modality": "text", "image": [], "audio": [], **common},
            {"id": f"open{n}", "subtask": "capitals", "question": f"Capital number {n}?", "choices": None,
             "answer": f"city{n}", "answer_text": f"city{n}", "modality": "text", "image": [], "audio": []},
        ]
    (root / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    return items


def _good(item_id: str, salt: str = "") -> bool:
    """The script's choice: right for ids whose hash falls in the first 60%."""
    return int(hashlib.sha256((salt + item_id).encode()).hexdigest(), 16) % 10 < 6


def _script(items: list[dict], garbage: frozenset[str] = frozenset(), seen: list | None = None):
    """Answers each request from its text: full right by `_good`, blind right by `_good` with a salt.
    `seen` collects (item id, variant, content) per request."""
    by_prompt = {}
    for item in items:
        by_prompt[(prompt(item, FULL), bool(item["image"] or item["audio"]))] = (item, FULL)
        by_prompt.setdefault((prompt(item, BLIND), False), (item, BLIND))

    def reply(body: dict) -> Reply:
        content = body["messages"][0]["content"]
        text = content if isinstance(content, str) else content[0]["text"]
        item, variant = by_prompt[(text, isinstance(content, list))]
        if seen is not None:
            seen.append((item["id"], variant, content))
        if item["id"] in garbage and variant == FULL:
            return Reply("I am not sure, sorry.")
        right = _good(item["id"], "" if variant == FULL else "blind")
        if item["choices"] is None:
            return Reply(f"The answer is {item['answer'] if right else 'nowhere'}.")
        wrong = "ABCD"[("ABCD".index(item["answer"]) + 1) % 4]
        return Reply(f"The answer is {item['answer'] if right else wrong}.")

    return reply


def _args(run_dir: Path, *models: str, ablate: bool = False, limit: int | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    eval_cli.add_parser(parser.add_subparsers())
    extra = [*(["--ablate"] if ablate else []), *(["--limit", str(limit)] if limit else [])]
    return parser.parse_args(["eval", str(run_dir), *[a for m in models for a in ("--model", m)], *extra])


def _result(run_dir: Path, name: str) -> dict:
    return json.loads((run_dir / "eval" / f"{name}.json").read_text())


def test_scores_match_the_script_exactly(tmp_path: Path) -> None:
    items = _bench(tmp_path)
    garbage = frozenset({"img0", "nli1"})
    with OpenAIStub(_script(items, garbage)) as stub:
        assert eval_cli.run(_args(tmp_path, f"m1={stub.url}")) == 0
    report = _result(tmp_path, "m1")
    total = 0
    for subtask in ("shapes", "dialogue", "entailment", "capitals"):
        mine = [i for i in items if i["subtask"] == subtask]
        k = sum(_good(i["id"]) and i["id"] not in garbage for i in mine)
        total += k
        row = report["per_subtask"][subtask]
        assert (row["correct"], row["n"]) == (k, len(mine))
        assert row["accuracy"] == pytest.approx(k / len(mine))
        ci = binomtest(k, len(mine)).proportion_ci(method="wilson")
        assert row["ci95"] == pytest.approx([ci.low, ci.high])
    assert (report["micro"]["correct"], report["micro"]["n"]) == (total, len(items))
    assert report["macro"]["accuracy"] == pytest.approx(
        sum(r["accuracy"] for r in report["per_subtask"].values()) / 4)
    assert sorted(u["id"] for u in report["unparseable"]) == sorted(garbage)
    assert report["per_subtask"]["shapes"]["unparseable"] == 1


def test_wilson_matches_the_formula() -> None:
    for k, n in [(0, 5), (3, 5), (5, 5), (17, 40)]:
        ci = binomtest(k, n).proportion_ci(method="wilson")
        assert wilson(k, n) == pytest.approx((ci.low, ci.high))
    assert wilson(3, 5) == pytest.approx((0.2307, 0.8824), abs=1e-4)  # by hand: p=.6, z=1.96


def test_media_reaches_the_server_as_content_parts(tmp_path: Path) -> None:
    items = _bench(tmp_path, per_subtask=1)
    with OpenAIStub(_script(items)) as stub:
        eval_cli.run(_args(tmp_path, f"m1={stub.url}"))
        bodies = [r.body["messages"][0]["content"] for r in stub.requests]
    image = next(c for c in bodies if isinstance(c, list) and c[1]["type"] == "image_url")
    url = image[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == (tmp_path / "media/shape0.png").read_bytes()
    audio = next(c for c in bodies if isinstance(c, list) and c[1]["type"] == "input_audio")
    assert audio[1]["input_audio"]["format"] == "wav"
    assert base64.b64decode(audio[1]["input_audio"]["data"]) == (tmp_path / "media/talk0.wav").read_bytes()
    assert "A. circle\nB. square" in image[0]["text"]


def test_an_interrupted_eval_resumes_without_asking_again(tmp_path: Path) -> None:
    items = _bench(tmp_path)
    with OpenAIStub(_script(items)) as stub:
        eval_cli.run(_args(tmp_path, f"m1={stub.url}", limit=7))
        assert len(stub.requests) == 7
        eval_cli.run(_args(tmp_path, f"m1={stub.url}"))
        assert len(stub.requests) == len(items)
        eval_cli.run(_args(tmp_path, f"m1={stub.url}"))
        assert len(stub.requests) == len(items)
    report = _result(tmp_path, "m1")
    assert report["micro"]["correct"] == sum(_good(i["id"]) for i in items)
    assert sum(r["cached"] for r in report["results"]) == len(items)


def test_ablation_reports_the_drop_and_flags_items_right_blind(tmp_path: Path) -> None:
    items = _bench(tmp_path)
    seen: list = []
    with OpenAIStub(_script(items, seen=seen)) as stub:
        eval_cli.run(_args(tmp_path, f"m1={stub.url}", ablate=True))
    blind = [content for _, variant, content in seen if variant == BLIND]
    # blind requests: no media parts, and the entailment premise gone; open one-line items have no blind twin
    assert len(blind) == 15 and all(isinstance(c, str) for c in blind)
    assert not any("Premise" in c for c in blind)
    ablation = _result(tmp_path, "m1")["ablation"]
    assert "capitals" not in ablation["per_subtask"]
    for subtask in ("shapes", "dialogue", "entailment"):
        mine = [i for i in items if i["subtask"] == subtask]
        full = sum(_good(i["id"]) for i in mine) / len(mine)
        kept = sum(_good(i["id"], "blind") for i in mine) / len(mine)
        row = ablation["per_subtask"][subtask]
        assert row["accuracy"] == pytest.approx(kept)
        assert row["drop"] == pytest.approx(full - kept)
        assert row["retained"] == pytest.approx(kept / full)
    expected = {i["id"] for i in items if i["choices"] and _good(i["id"], "blind")}
    assert set(ablation["correct_blind"]) == expected


def test_a_model_that_rejects_a_modality_is_an_error_per_item(tmp_path: Path) -> None:
    items = _bench(tmp_path, per_subtask=2)
    script = _script(items)

    def no_images(body: dict) -> Reply:
        content = body["messages"][0]["content"]
        if isinstance(content, list) and content[1]["type"] == "image_url":
            return fault(400, error="Invalid content type. image_url is only supported by certain models.")
        return script(body)

    with OpenAIStub(no_images) as stub:
        assert eval_cli.run(_args(tmp_path, f"m1={stub.url}")) == 0
    report = _result(tmp_path, "m1")
    assert report["per_subtask"]["shapes"]["n"] == 0 and report["per_subtask"]["shapes"]["errors"] == 2
    assert report["per_subtask"]["dialogue"]["n"] == 2
    assert all(e["error"].startswith("m1 cannot take image input") for e in report["errors"])


@pytest.mark.parametrize(("reply", "choices", "parsed"), [
    ("B", OPTIONS, "B"), ("(c)", OPTIONS, None), ("The answer is B.", OPTIONS, "B"), ("Answer: D", OPTIONS, "D"),
    ("**C**", OPTIONS, "C"), ("B. square", OPTIONS, "B"), ("triangle", OPTIONS, "C"),
    ("I think it is a square.", OPTIONS, "B"), ("E", OPTIONS, None), ("circle or square?", OPTIONS, None),
    ("I don't know", OPTIONS, None), ("", OPTIONS, None),
    ("The answer is Paris.", None, "Paris."), ("  ", None, None),
])
def test_answer_parsing(reply: str, choices: list[str] | None, parsed: str | None) -> None:
    assert parse(reply, choices) == parsed


def test_bad_input_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a built benchmark"):
        eval_cli.run(_args(tmp_path, "m1=http://127.0.0.1:9/v1"))
    _bench(tmp_path, per_subtask=1)
    with pytest.raises(UsageError, match="no model to evaluate"):
        eval_cli.run(_args(tmp_path))
    with pytest.raises(UsageError, match="--model 'm1=ftp://x'"):
        eval_cli.run(_args(tmp_path, "m1=ftp://x"))


@pytest.mark.slow
def test_local_smollm2_evaluates_a_built_benchmark(tmp_path: Path) -> None:
    run_dir = tmp_path / "bench"
    build = subprocess.run([sys.executable, "-m", "graph.cli", "build", "draw entailment conclusions from everyday "
                            "statements", "--size", "3", "--out", str(run_dir)], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    assert eval_cli.run(_args(run_dir, "local:smollm2")) == 0
    report = _result(run_dir, "local-smollm2")
    assert report["items"] == 3 and report["micro"]["n"] + len(report["errors"]) == 3
    assert all(r["reply"] is not None for r in report["results"] if r["status"] != "error")
