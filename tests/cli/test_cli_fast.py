"""Fast CLI checks: names and paths, errors before TensorFlow, log levels, stdout for results.

Nothing here trains. The library calls behind `run` and `tune` are replaced by fakes that keep
the signatures the CLI relies on (no `log=` arguments), so these tests are hermetic.
"""

import importlib
import logging
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

import nlp_lstm
from nlp_lstm import presets
from nlp_lstm.cli import base as cli
from nlp_lstm.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_cli_imports_no_tensorflow():
    code = (
        "import sys, nlp_lstm.cli; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'tensorflow_text', 'numpy') "
        "if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_config_error_answers_in_under_a_second_with_one_line(tmp_path):
    command = [
        sys.executable,
        "-m",
        "nlp_lstm.cli",
        "config",
        "validate",
        "quickstart_classify",
        "--set",
        "train.bogus=1",
    ]
    times = []
    for _ in range(3):  # the fastest of three: other processes share this machine's cores
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        times.append(time.perf_counter() - start)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "train.bogus" in proc.stderr
    assert min(times) < 1.0, times


def test_pipelines_lists_every_shipped_pipeline_with_a_description():
    result = CliRunner().invoke(main, ["pipelines"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == presets.pipeline_names()
    assert all(len(line.split(None, 1)) == 2 for line in lines)
    assert any(line.startswith("quickstart_classify ") and "sentiment" in line for line in lines)


@pytest.mark.parametrize("argument", ["quickstart_classify", "pipelines/quickstart_classify.yaml"])
def test_pipeline_by_name_or_path(argument, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["config", "validate", argument, "--set", "train.bogus=1"])
    assert result.exit_code == 1  # found, loaded, and the override rejected
    assert "train.bogus" in result.output


def test_unknown_pipeline_name_is_a_usage_error_with_a_suggestion():
    result = CliRunner().invoke(main, ["run", "quickstart_clasify"])
    assert result.exit_code == 2
    assert "Did you mean 'quickstart_classify'?" in result.output
    assert "quickstart_translate" in result.output  # the shipped names are listed


def test_missing_file_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["train", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "does not exist" in result.output and "quickstart_classify" in result.output


def test_quiet_and_verbose_exclude_each_other():
    result = CliRunner().invoke(main, ["-q", "-v", "pipelines"])
    assert result.exit_code == 2 and "exclude each other" in result.output


@pytest.mark.parametrize(
    "flags, shown, hidden",
    [
        ([], ["info line", "warning line"], ["debug line"]),
        (["-q"], ["warning line"], ["info line", "debug line"]),
        (["-v"], ["debug line", "info line", "warning line"], []),
    ],
)
def test_log_levels_and_streams(flags, shown, hidden, monkeypatch):
    log = logging.getLogger("nlp_lstm.presets")

    def describe(path):
        log.debug("debug line")
        log.info("info line")
        log.warning("warning line")
        return "description"

    monkeypatch.setattr(presets, "describe_pipeline", describe)
    for _ in range(2):  # a second invocation must not add a second handler
        result = CliRunner().invoke(main, [*flags, "pipelines"])
        assert result.exit_code == 0, result.output
    assert "description" in result.stdout
    for text in shown:
        assert text in result.stderr and text not in result.stdout
        assert result.stderr.count(text) == len(presets.pipeline_names())
    for text in hidden:
        assert text not in result.output


class _FakePipeline:
    def __init__(self, config):
        self.config = config
        self.calls = []

    def run(self, run_dir=None, overwrite=False, resume=False):
        print("Epoch 1/1 progress bar")  # what Keras' fit prints to stdout
        logging.getLogger("nlp_lstm.pipeline").info("read: 3 examples")
        return types.SimpleNamespace(
            run_dir=run_dir,
            metrics={"test": {"accuracy": 0.5}},
            manifest={"export": {"path": f"{run_dir}/export"}},
        )


@pytest.fixture()
def fake_pipeline(monkeypatch):
    built = []

    def build_pipeline(config):
        built.append(_FakePipeline(config))
        return built[-1]

    module = types.ModuleType("nlp_lstm.pipeline")
    module.build_pipeline = build_pipeline
    monkeypatch.setitem(sys.modules, "nlp_lstm.pipeline", module)
    monkeypatch.setattr(nlp_lstm, "pipeline", module, raising=False)
    return built


def test_run_by_name_prints_results_on_stdout_and_progress_on_stderr(fake_pipeline, tmp_path):
    result = CliRunner().invoke(
        main,
        ["run", "quickstart_classify", "--set", "train.epochs=1", "--run-dir", str(tmp_path / "r")],
    )
    assert result.exit_code == 0, result.output
    assert fake_pipeline[0].config.train.epochs == 1
    assert result.stdout.splitlines() == [
        f"run directory: {tmp_path / 'r'}",
        "test: accuracy=0.5",
        f"export: {tmp_path / 'r'}/export",
    ]
    assert "Epoch 1/1 progress bar" in result.stderr and "read: 3 examples" in result.stderr


def test_quiet_run_hides_progress(fake_pipeline, tmp_path):
    result = CliRunner().invoke(
        main, ["-q", "run", "quickstart_classify", "--run-dir", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "Epoch" not in result.stdout


def test_tune_takes_shipped_names_and_passes_no_log(fake_pipeline, tmp_path, monkeypatch):
    calls = {}

    def tune(pipeline, space, where, run_dir, overwrite=False):
        calls["tune"] = (space, where, run_dir, overwrite)
        return None, [], []  # what a chief or worker process of a distributed search returns

    def run_distributed(child_args, workers, host="127.0.0.1"):
        calls["run_distributed"] = (child_args, workers, host)

    tuning = types.ModuleType("nlp_lstm.runs.tuning")
    tuning.tune, tuning.run_distributed = tune, run_distributed
    tuning.is_distributed_child = lambda: False  # this test is the chief's CLI
    monkeypatch.setitem(sys.modules, "nlp_lstm.runs.tuning", tuning)
    monkeypatch.setattr(importlib.import_module("nlp_lstm.runs"), "tuning", tuning, raising=False)
    result = CliRunner().invoke(
        main,
        [
            "tune",
            "quickstart_classify",
            "--search",
            "lstm_small",
            "--run-dir",
            str(tmp_path / "t"),
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    child_args, workers, _ = calls["run_distributed"]
    search = str(presets.find_search_space("lstm_small"))
    assert workers == 1 and child_args[:3] == [
        str(presets.find_pipeline("quickstart_classify")),
        "--run-dir",
        str(tmp_path / "t"),
    ]
    assert child_args[child_args.index("--search") + 1] == search
    assert calls["tune"][1] == search and calls["tune"][3] is False


def test_unknown_search_space_name_is_a_usage_error():
    result = CliRunner().invoke(main, ["tune", "quickstart_classify", "--search", "lstm_smal"])
    assert result.exit_code == 2 and "Did you mean 'lstm_small'?" in result.output


def test_config_show_origin(monkeypatch):
    monkeypatch.chdir(ROOT)
    plain = CliRunner().invoke(
        main, ["config", "show", "quickstart_classify", "--set", "train.epochs=5"]
    )
    assert plain.exit_code == 0, plain.output
    assert "epochs: 5" in plain.stdout and "#" not in plain.stdout
    origin = CliRunner().invoke(
        main, ["config", "show", "quickstart_classify", "--origin", "--set", "train.epochs=5"]
    )
    assert origin.exit_code == 0, origin.output
    assert "quick.yaml" in origin.stdout  # train fragment of the pipeline


def test_failed_tensorflow_import_replays_what_it_hid(monkeypatch, capfd):
    for name in ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY"):
        monkeypatch.setenv(name, "0")  # restored afterwards; the function sets them
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    real_import = __import__

    def failing_import(name, *args, **kwargs):
        if name == "keras":
            import os

            os.write(2, b"E0000 a C++ line written before the failure\n")
            raise ImportError("keras is broken")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr("builtins.__import__", failing_import)
    with pytest.raises(ImportError, match="keras is broken"):
        cli._import_tensorflow_quietly(verbose=False)
    assert "E0000 a C++ line written before the failure" in capfd.readouterr().err
