"""lm-evaluation-harness task folder: per subtask a multiple-choice (loglikelihood) and a generative
task, a group of each, the data as parquet and utils.py (tools/exports/_lm_eval_utils.py) to load it.

Use with `lm_eval --include_path FOLDER --tasks <group or task> --model ...`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from state.models import Item
from tools.exports import hf
from tools.exports.reading import Run, sources_table

UTILS = Path(__file__).with_name("_lm_eval_utils.py")


class _Tagged(str):
    """A YAML scalar written with lm-eval's !function tag."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Tagged, lambda dumper, value: dumper.represent_scalar("!function", str(value)))


def _yaml(config: dict) -> str:
    return yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


def task_names(run: Run) -> dict[str, str]:
    """Subtask -> task name stem, distinct even where slugs collide."""
    prefix = f"benchagent_{_slug(run.name)}"
    return run.names(lambda subtask, n: f"{prefix}_{_slug(subtask)}" + (f"_{n}" if n > 1 else ""))


def _media_hooks(items: list[Item]) -> dict:
    hooks = {}
    if any(i.image for i in items):
        hooks["doc_to_image"] = _Tagged("utils.doc_to_image")
    if any(i.audio for i in items):
        hooks["doc_to_audio"] = _Tagged("utils.doc_to_audio")
    return hooks


def _tasks(name: str, data_file: str, items: list[Item]) -> dict[str, dict]:
    base = {"custom_dataset": _Tagged("utils.load"), "dataset_kwargs": {"data_file": data_file},
            "test_split": "test", "doc_to_text": _Tagged("utils.doc_to_text"), **_media_hooks(items),
            "metadata": {"version": 1.0}}
    mc = all(i.choices for i in items)
    # The generative answer is a letter for multiple choice (the first capital letter standing alone is
    # taken), else the answer text, compared after case and punctuation are dropped.
    gen = {"task": f"{name}_gen", "output_type": "generate_until", **base,
           "doc_to_target": "answer" if mc else "answer_text",
           "generation_kwargs": {"until": ["\n\n"], "do_sample": False, "max_gen_toks": 32 if mc else 256},
           "filter_list": [{"name": "letter" if mc else "text", "filter": (
               [{"function": "regex", "regex_pattern": r"\b([A-Z])\b", "group_select": 0}] if mc else [])
               + [{"function": "take_first"}]}],
           "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                            "ignore_case": True, "ignore_punctuation": True}]}
    tasks = {f"{name}_gen": gen}
    if mc:
        tasks[f"{name}_mc"] = {"task": f"{name}_mc", "output_type": "multiple_choice", **base,
                               "doc_to_choice": _Tagged("utils.doc_to_choice"),
                               "doc_to_target": _Tagged("utils.doc_to_target"),
                               "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]}
    return tasks


def _readme(run: Run, group: str, tasks: dict[str, dict], media: set[str]) -> str:
    rows = "\n".join(f"| `{n}` | {t['output_type']} | {', '.join(sorted(k[7:] for k in t if k in media)) or 'text'} |"
                     for n, t in sorted(tasks.items()))
    return (f"# {run.name}: lm-evaluation-harness tasks\n\n{run.requirement}\n\n```\nlm_eval --include_path "
            f"path/to/this/folder --tasks {group}_gen --model ...\n```\n\nGroups: `{group}_mc` (multiple choice by "
            f"loglikelihood over the letters) and `{group}_gen` (generate, then exact match on the letter or the "
            "answer text). Tasks that read images or audio are multimodal: lm-eval runs them only with models "
            "that accept such input (`hf-multimodal` and `vllm-vlm` for images, `hf-audiolm-qwen` for audio, "
            "chat API models where the endpoint takes images), and those models implement generation only, so "
            "use the `_gen` tasks there; the `_mc` tasks of text subtasks run with any model.\n\n"
            f"| task | output | media |\n|---|---|---|\n{rows}\n\n## Sources\n\n{sources_table(run)}")


def write(run: Run, folder: Path) -> None:
    files = hf.write_parquet(run, folder)
    shutil.copyfile(UTILS, folder / "utils.py")
    names, tasks = task_names(run), {}
    for subtask, items in run.by_subtask().items():
        tasks.update(_tasks(names[subtask], files[subtask], items))
    for name, config in tasks.items():
        (folder / f"{name}.yaml").write_text(_yaml(config), encoding="utf-8")
    group = f"benchagent_{_slug(run.name)}"
    for kind, metric in (("mc", "acc"), ("gen", "exact_match")):
        members = [n for n in tasks if n.endswith(f"_{kind}")]
        if members:
            config = {"group": f"{group}_{kind}", "task": members,
                      "aggregate_metric_list": [{"metric": metric, "weight_by_size": True}],
                      "metadata": {"version": 1.0}}
            (folder / f"_{group}_{kind}.yaml").write_text(_yaml(config), encoding="utf-8")
    readme = _readme(run, group, tasks, {"doc_to_image", "doc_to_audio"})
    (folder / "README.md").write_text(readme, encoding="utf-8")
