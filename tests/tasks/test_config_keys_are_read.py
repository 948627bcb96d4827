"""Every config key a task accepts is read on that task's path, and a task reads no key it does
not accept: the honest form of "a key that is set is honoured or rejected".

A task's scope is every key that is not scoped (read by every task) plus the scoped keys in its
`config_keys`. The test records which fields of the config dataclasses each task's runs read
(outside the config package itself, whose checks read every field) and holds both directions:
- every key in the task's scope is read by at least one of its runs (a key accepted but never
  read would be silently ignored: forecasting and `data.max_examples` once);
- every key its runs read is in its scope (a key read but refused, or a key read but not
  declared, is a task whose scope is wrong: forecasting and `data.format` once).
Each task runs its quickstart through the CLI (`run`, `tune` with one trial, `config validate`
with a search space), plus a few reads and builds that take the branches a key is read on (files
instead of the shipped sample, given split files, the Hub source offline, pretrained vectors).
"""

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import nlp_lstm
from nlp_lstm import presets
from nlp_lstm.cli import main
from nlp_lstm.config import load_config, schema
from nlp_lstm.config.schema import reads
from nlp_lstm.errors import NlpLstmError
from nlp_lstm.pipeline import build_pipeline
from nlp_lstm.tasks import TASKS

pytestmark = pytest.mark.slow

CONFIG_DIR = str(Path(schema.__file__).parent)
SAMPLES = Path(nlp_lstm.__file__).parent / "samples"
# Keys filled in by the loader, not keys a file sets.
INTERNAL = set(schema.INTERNAL_KEYS)
TINY = [
    "train.epochs=1",
    "train.verbose=0",
    "train.optimizer=adamw",
    "train.lr_schedule=exponential",
]


def _sections():
    sections = {"": schema.PipelineConfig}
    for key, field in schema.FIELDS.items():
        if dataclasses.is_dataclass(field.type):
            sections[key + "."] = field.type
    return sections


@pytest.fixture()
def recorded(monkeypatch):
    """The dotted config keys read from now on, by code outside nlp_lstm/config (the checks
    read every field) and outside the generated dataclass methods (repr, eq)."""
    read = set()
    for prefix, cls in _sections().items():
        names = {f.name for f in dataclasses.fields(cls)}

        def getattribute(self, name, _prefix=prefix, _names=names):
            if name in _names:
                caller = sys._getframe(1).f_code.co_filename
                if not (
                    caller.startswith(CONFIG_DIR)
                    or caller.endswith(("dataclasses.py", "tasks/scope.py"))
                    or caller.startswith("<")
                ):
                    read.add(_prefix + name)
            return object.__getattribute__(self, name)

        monkeypatch.setattr(cls, "__getattribute__", getattribute)
    return read


def _leaves():
    return [
        key
        for key, field in schema.FIELDS.items()
        if not dataclasses.is_dataclass(field.type) and key not in INTERNAL
    ]


def scope_of(task):
    return {k for k in _leaves() if not schema.is_scoped(k) or reads(task.config_keys, k)}


def _vectors(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("the\nfilm\ngood\n", encoding="utf-8")
    np.save(tmp_path / "vectors.npy", np.ones([3, 32], np.float32))  # the quickstart's width
    return [
        f"embeddings.path={tmp_path / 'vectors.npy'}",
        "embeddings.format=numpy",
        f"embeddings.words={words}",
    ]


def _variants(task_name, tmp_path):
    """(pipeline, overrides, expect_failure) of the reads and builds that take the branches the
    quickstart does not."""
    if task_name == "classification":
        sentiment = SAMPLES / "sentiment.tsv"
        return [
            ("quickstart_classify", ["data.source=files", f"data.path={sentiment}"], False),
            (
                "quickstart_classify",
                ["data.source=files", f"data.train={sentiment}", f"data.validation={sentiment}"],
                False,
            ),
            (
                "quickstart_classify",
                [
                    "data.source=hub",
                    "data.hub_name=x/y",
                    "data.hub_config=c",
                    "data.hub_splits={train: train}",
                ],
                True,
            ),
            ("quickstart_classify", ["data.max_examples=300", *_vectors(tmp_path)], False),
        ]
    if task_name == "translation":
        pairs = SAMPLES / "phrasebook.tsv"
        lang = tmp_path / "pairs"
        lang.mkdir()
        lines = pairs.read_text(encoding="utf-8").splitlines()[1:]
        for split, part in (("train", lines[:200]), ("test", lines[200:240])):
            (lang / f"{split}.xx").write_text("\n".join(x.split("\t")[0] for x in part) + "\n")
            (lang / f"{split}.yy").write_text("\n".join(x.split("\t")[1] for x in part) + "\n")
        return [
            ("quickstart_translate", ["data.source=files", f"data.path={pairs}"], False),
            (
                "quickstart_translate",
                [
                    "data.source=files",
                    f"data.train={lang}/train.{{lang}}",
                    f"data.test={lang}/test.{{lang}}",
                    "data.source_language=xx",
                    "data.target_language=yy",
                ],
                False,
            ),
        ]
    if task_name == "generation":
        play = SAMPLES / "play.txt"
        return [
            ("quickstart_generate", ["data.source=files", f"data.path={play}"], False),
            ("quickstart_generate", ["data.source=files", f"data.train={play}"], False),
        ]
    if task_name == "forecasting":
        demand = SAMPLES / "demand.csv"
        return [
            ("quickstart_forecast", ["data.source=files", f"data.path={demand}"], False),
            (
                "quickstart_forecast",
                ["data.split=rows", "data.split_borders={validation: 2000, test: 2500}"],
                False,
            ),
        ]
    return []


QUICKSTARTS = {
    "classification": ("quickstart_classify", ["data.max_examples=300"]),
    "translation": ("quickstart_translate", ["data.max_examples=300"]),
    "generation": ("quickstart_generate", ["data.max_examples=3000"]),
    "forecasting": ("quickstart_forecast", []),
}


def _read_and_build(pipeline, overrides):
    """What a run does up to training: read the data, adapt the stages, build the model (the
    branches a data source or pretrained vectors take are all before training)."""
    task = build_pipeline(load_config(presets.find_pipeline(pipeline), overrides)).task
    task.read()
    task.adapt()
    task.build_model()


def _sets(overrides):
    return [arg for override in overrides for arg in ("--set", override)]


@pytest.mark.parametrize("task_name", sorted(QUICKSTARTS))
def test_every_key_in_a_tasks_scope_is_read_and_no_other(task_name, tmp_path, recorded):
    assert set(QUICKSTARTS) == set(TASKS.names())
    pipeline, tiny = QUICKSTARTS[task_name]
    space = tmp_path / "space.yaml"
    space.write_text("train.learning_rate: {choice: [0.001]}\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(
        main, ["run", pipeline, "--run-dir", str(tmp_path / "run"), *_sets(tiny + TINY)]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        main,
        [
            "tune",
            pipeline,
            "--search",
            space,
            "--run-dir",
            str(tmp_path / "tune"),
            *_sets(
                tiny
                + TINY
                + [
                    "tune.max_trials=1",
                    "tune.algorithm=hyperband",
                    "tune.objective=val_loss",
                    "tune.executions_per_trial=1",
                ]
            ),
        ],
    )
    assert result.exit_code == 0, result.output
    # `config validate` builds the task once per choice of the config's own search space.
    result = runner.invoke(
        main,
        [
            "config",
            "validate",
            pipeline,
            *_sets(tiny + ["tune.search_space={train.learning_rate: {choice: [0.001, 0.01]}}"]),
        ],
    )
    assert result.exit_code == 0, result.output
    for name, overrides, fails in _variants(task_name, tmp_path):
        try:
            _read_and_build(name, overrides)
        except NlpLstmError as err:
            assert fails, (overrides, err)
        else:
            assert not fails, overrides
    scope = scope_of(TASKS.get(task_name))
    leaves = set(_leaves())
    read = {k for k in recorded if k in leaves}
    assert not sorted(scope - read), f"{task_name} accepts keys its runs never read"
    assert not sorted(read - scope), f"{task_name} reads keys it does not accept"


def test_the_recorder_sees_a_read_outside_the_config_package(recorded):
    config = load_config(presets.find_pipeline("quickstart_forecast"))
    recorded.clear()  # loading and checking read every field; those reads do not count
    assert config.train.epochs > 0
    assert recorded == {"train", "train.epochs"}
