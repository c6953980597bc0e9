"""Exports load and run in the tools people use: datasets, lm-evaluation-harness and Inspect."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml
from scipy.io import wavfile
from support import cli, items, run

from tools.exports import FORMATS, ExportError, export, export_all
from tools.pool import DEMO_POOL

REQUIREMENT = ("Evaluate whether a model can recognise shapes and read clocks in images, draw entailment conclusions "
               "from everyday statements, and follow spoken dialogues with background noise at 10 dB SNR")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exports") / "run"
    assert run(REQUIREMENT, DEMO_POOL, out, size=8, speech_check=False)["status"] == "done"
    assert {i["modality"] for i in items(out)} == {"text", "image", "audio"}
    return out


@pytest.fixture()
def run_dir(built: Path, tmp_path: Path) -> Path:
    """A private copy of the run, so a test may damage it."""
    return Path(shutil.copytree(built, tmp_path / "run"))


def _per_subtask(run_dir: Path) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for item in items(run_dir):
        groups.setdefault(item["subtask"], []).append(item)
    return groups


def test_hf_folder_loads_per_subtask_with_decoded_images_and_audio(run_dir: Path) -> None:
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    folder = export(run_dir, "hf")
    assert folder == run_dir.resolve() / "exports" / "hf"
    card = (folder / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    groups = _per_subtask(run_dir)
    assert {c["config_name"] for c in header["configs"]} == {*groups, "all"}
    assert header["license_name"] == json.loads((run_dir / "summary.json").read_text())["license"]
    assert "| shapes |" in card and "| daily-dialogues |" in card  # the sources table
    assert len(datasets.load_dataset(str(folder), split="test")) == len(items(run_dir))
    for subtask, expected in groups.items():
        ds = datasets.load_dataset(str(folder), subtask, split="test")
        assert len(ds) == len(expected) and ds["id"] == [i["id"] for i in expected]
        assert ds["answer"] == [i["answer"] for i in expected] and ds["choices"] == [i["choices"] for i in expected]
        # Decoding audio needs torchcodec (torch) on datasets 4+; without it the wav bytes are checked instead.
        raw = ds.cast_column("audio", datasets.Sequence(datasets.Audio(decode=False)))
        assert raw[0]["source_dataset"] == expected[0]["source"]["dataset"] and raw[0]["license"]
        modality = expected[0]["modality"]
        if modality == "image":
            picture = raw[0]["image"][0]
            assert isinstance(picture, Image.Image) and picture.size[0] > 16
            assert picture.tobytes() == Image.open(run_dir / expected[0]["image"][0]).tobytes()
        if modality == "audio":
            assert isinstance(ds.features["audio"].feature, datasets.Audio)
            rate, samples = wavfile.read(io.BytesIO(raw[0]["audio"][0]["bytes"]))
            _, original = wavfile.read(run_dir / expected[0]["audio"][0])
            assert rate == 16000 and samples.size > rate and (samples == original).all()
            if importlib.util.find_spec("torchcodec"):
                assert ds[0]["audio"][0]["array"].size == samples.size


def _lm_eval_utils(folder: Path):
    spec = importlib.util.spec_from_file_location("export_utils", folder / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_lm_eval_tasks_validate_and_run_with_the_dummy_model(run_dir: Path) -> None:
    pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install -e '.[dev]')")
    from lm_eval import simple_evaluate
    from lm_eval.models.dummy import DummyLM
    from lm_eval.tasks import TaskManager
    from PIL import Image

    folder = export(run_dir, "lm-eval")
    utils = _lm_eval_utils(folder)
    built = items(run_dir)
    answers = {utils.doc_to_text(i): i["answer"] for i in built}

    class Multimodal(DummyLM):
        """lm-eval's dummy model, but one that accepts media and answers generations correctly."""

        MULTIMODAL = True
        requests: list = []

        def generate_until(self, requests, disable_tqdm: bool = False):
            self.requests += requests
            return [f"The answer is {answers[r.arguments[0]]}." for r in requests]

        def loglikelihood(self, requests, disable_tqdm: bool = False):
            self.requests += requests
            return super().loglikelihood(requests, disable_tqdm)

    manager = TaskManager(include_path=str(folder))
    group = f"benchagent_{run_dir.name}"
    assert {f"{group}_mc", f"{group}_gen"} <= set(manager.all_groups)
    model = Multimodal()
    results = simple_evaluate(model=model, tasks=[f"{group}_gen", f"{group}_mc"], task_manager=manager)["results"]
    assert results[f"{group}_gen"]["exact_match,letter"] == 1.0  # every letter target read back
    assert 0.0 <= results[f"{group}_mc"]["acc,none"] <= 1.0
    stems = [f"{group}_{s.replace('-', '_').replace('.', '_')}" for s in _per_subtask(run_dir)]
    assert set(results) == {f"{group}_gen", f"{group}_mc", *(f"{t}_{kind}" for t in stems for kind in ("mc", "gen"))}
    media = [r.arguments[-1] for r in model.requests if isinstance(r.arguments[-1], dict) and "until" not in
             r.arguments[-1]]
    images = [v for m in media for v in m.get("visual", [])]
    clips = [c for m in media for c in m.get("audio", [])]
    assert images and all(isinstance(v, Image.Image) for v in images)
    assert clips and all(c["sampling_rate"] == 16000 and c["array"].size > 16000 for c in clips)
    assert abs(clips[0]["array"]).max() <= 1.0
    assert "## Sources" in (folder / "README.md").read_text()


@pytest.mark.slow
def test_inspect_dataset_loads_and_the_task_runs_with_mockllm(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("inspect_ai")
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import json_dataset
    from inspect_ai.model import ContentAudio, ContentImage, ModelOutput, ModelUsage, get_model

    folder = export(run_dir, "inspect")
    samples = json_dataset(str(folder / "dataset.jsonl"))
    built = {i["id"]: i for i in items(run_dir)}
    assert len(samples) == len(built)
    for sample in samples:
        item = built[sample.id]
        assert sample.target == item["answer"] and sample.choices == item["choices"]
        assert sample.metadata["subtask"] == item["subtask"] and sample.metadata["license"]
        content = sample.input[0].content
        pictures = [c.image for c in content if isinstance(c, ContentImage)]
        clips = [c.audio for c in content if isinstance(c, ContentAudio)]
        assert len(pictures) == len(item["image"]) and len(clips) == len(item["audio"])
        assert all(Path(p).is_file() and Path(p).is_relative_to(folder) for p in pictures + clips)

    def reply(messages, tools, tool_choice, config) -> ModelOutput:
        prompt = messages[-1].text
        # The sample whose question and lettered options the prompt shows; its letter is the right answer.
        letter = next(s.target for s in samples if s.input[0].text in prompt
                      and all(f"{chr(65 + n)}) {c}" in prompt for n, c in enumerate(s.choices)))
        output = ModelOutput.from_content(model="mockllm", content=f"ANSWER: {letter}")
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)  # no tokenizer download
        return output

    monkeypatch.chdir(folder)  # inspect globs task files relative to the working directory
    model = get_model("mockllm/model", custom_outputs=reply)
    log = inspect_eval("task.py", model=model, log_dir=str(run_dir / "logs"), display="none")[0]
    assert log.status == "success" and log.results.total_samples == len(built)
    assert log.results.scores[0].metrics["accuracy"].value == 1.0
    log = inspect_eval("task.py", model=model, task_args={"subtask": "entailment-mcq"}, log_dir=str(run_dir / "logs"),
                       display="none")[0]
    assert log.results.total_samples == len(_per_subtask(run_dir)["entailment-mcq"])


def test_export_replaces_an_earlier_export_and_export_all_reports_failures(run_dir: Path) -> None:
    folder = export(run_dir, "inspect")
    (folder / "stale.txt").write_text("from an earlier export")
    assert not (export(run_dir, "inspect") / "stale.txt").exists()
    first = next(i for i in items(run_dir) if i["image"])
    (run_dir / first["image"][0]).unlink()
    results = export_all(run_dir)
    assert set(results) == set(FORMATS)
    assert all(r.startswith("error: ") and first["image"][0] in r and "missing" in r for r in results.values())
    assert (folder / "dataset.jsonl").is_file()  # the failed export left the earlier one in place
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # nor any half-written folder


def test_bad_input_gets_a_clear_error(run_dir: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    with pytest.raises(ExportError, match="is not a run directory .*`benchagent build`"):
        export(tmp_path / "nowhere", "hf")
    with pytest.raises(ExportError, match="unknown export format 'csv'; choose one of hf, lm-eval, inspect"):
        export(run_dir, "csv")
    with pytest.raises(ExportError, match="was not written by an export"):
        export(run_dir, "hf", out=run_dir / "media")
    empty = tmp_path_factory.mktemp("bad")  # outside tmp_path, which conftest scans for whole items
    (empty / "items.jsonl").write_text("")
    with pytest.raises(ExportError, match="has no items"):
        export(empty, "lm-eval")
    (empty / "items.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(ExportError, match="line 1 is not a valid item"):
        export(empty, "inspect")
    proc = cli("export", str(tmp_path / "nowhere"), "--format", "all")
    assert proc.returncode == 2 and "is not a run directory" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_cli_export_writes_the_folder(run_dir: Path, tmp_path: Path) -> None:
    proc = cli("export", str(run_dir), "--format", "hf", "--out", str(tmp_path / "hf"))
    assert proc.returncode == 0 and (tmp_path / "hf" / "README.md").is_file()
    assert str(tmp_path / "hf") in proc.stdout
