"""End-to-end CLI runs on tiny data: run, evaluate, export, predict, config, exit codes, resume.

The tests that train (through the `finished_run` fixture) or start `nlp-lstm` processes are slow.
"""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nlp_lstm.cli import main
from tests.testing import write_pipeline

pytestmark = pytest.mark.integration
TENSORFLOW_LOG_LINE = re.compile(
    r"^[EWI]\d{4} |absl::InitializeLog|oneDNN custom operations|cpu_feature_guard", re.M
)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from tests.testing import write_tiny_tsv

    root = tmp_path_factory.mktemp("cli")
    data = write_tiny_tsv(root / "tiny.tsv")
    pipeline = write_pipeline(root, data)
    run_dir = root / "run"
    result = CliRunner().invoke(main, ["run", str(pipeline), "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    return pipeline, run_dir, result


def check_accuracy_and_majority(values):
    """A split's accuracy and majority baseline recomputed from its confusion matrix (rows: true
    labels), and the per-class supports from its rows."""
    confusion = np.asarray(values["confusion_matrix"])
    total = confusion.sum()
    assert total == values["num_examples"] > 0
    assert values["accuracy"] == round(np.trace(confusion) / total, 4)
    assert values["majority_baseline"] == round(confusion.sum(axis=1).max() / total, 4)
    supports = [entry["support"] for entry in values["per_class"].values()]
    assert supports == confusion.sum(axis=1).tolist()


@pytest.mark.slow
def test_run_writes_the_run_directory(finished_run):
    _, run_dir, result = finished_run
    assert f"run directory: {run_dir}" in result.output
    assert "test: accuracy=" in result.output
    for name in (
        "config.yaml",
        "manifest.json",
        "metrics.json",
        "history.csv",
        "model.keras",
        "preprocessor.json",
        "confusion_test.png",
        "history.png",
        "export/saved_model.pb",
    ):
        assert (run_dir / name).is_file(), name
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["steps_done"] == ["train", "evaluate", "export"]
    assert len(manifest["data"]["fingerprint"]) == 64
    assert manifest["versions"]["tensorflow"].startswith("2.21")
    assert all(entry["eligible_kernel"] == "cudnn" for entry in manifest["cudnn"]["layers"])
    assert manifest["export"]["gpu_only_ops"] == []
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"validation", "test"}
    for split, values in metrics.items():
        check_accuracy_and_majority(values)
        assert f"{split}: accuracy={values['accuracy']}, macro_f1={values['macro_f1']}" in (
            result.output
        )
    with open(run_dir / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    assert 0.0 <= float(rows[0]["padding_share"]) < 1.0


@pytest.mark.slow
def test_second_run_never_overwrites(finished_run):
    pipeline, run_dir, _ = finished_run
    before = (run_dir / "manifest.json").read_text()
    result = CliRunner().invoke(main, ["run", str(pipeline), "--run-dir", str(run_dir)])
    assert result.exit_code == 1
    assert "already holds a finished run" in result.output and "--overwrite" in result.output
    assert "Traceback" not in result.output
    assert (run_dir / "manifest.json").read_text() == before


@pytest.mark.slow
def test_predict_json_and_files(finished_run, tmp_path):
    _, run_dir, _ = finished_run
    runner = CliRunner()
    result = runner.invoke(main, ["predict", str(run_dir), "a gorgeous witty film", "", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [r["text"] for r in rows] == ["a gorgeous witty film", ""]
    assert all(
        r["label"] in ("negative", "positive") and len(r["probabilities"]) == 2 for r in rows
    )
    (tmp_path / "in.txt").write_text("great acting\nawful script\n", encoding="utf-8")
    (tmp_path / "in.csv").write_text("text,id\ngreat acting,1\n", encoding="utf-8")
    (tmp_path / "in.jsonl").write_text('{"text": "awful script"}\n', encoding="utf-8")
    for name, count in (("in.txt", 2), ("in.csv", 1), ("in.jsonl", 1)):
        result = runner.invoke(
            main, ["predict", str(run_dir / "export"), "--input", str(tmp_path / name), "--json"]
        )
        assert result.exit_code == 0, result.output
        assert len(result.output.strip().splitlines()) == count


@pytest.mark.slow
def test_evaluate_and_export_from_run_dir(finished_run):
    _, run_dir, _ = finished_run
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", str(run_dir), "--split", "test"])
    assert result.exit_code == 0, result.output
    assert "test: accuracy=" in result.output
    result = runner.invoke(main, ["export", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (run_dir / "export" / "saved_model.pb").is_file()


def test_config_show_and_validate(tmp_path, tiny_corpus):
    pipeline = write_pipeline(tmp_path, tiny_corpus)
    runner = CliRunner()
    result = runner.invoke(main, ["config", "show", str(pipeline), "--set", "train.epochs=5"])
    assert result.exit_code == 0 and "epochs: 5" in result.output
    result = runner.invoke(main, ["config", "validate", str(pipeline)])
    assert result.exit_code == 0 and "OK" in result.output


@pytest.mark.parametrize(
    "extra, message",
    [
        ("trian: {epochs: 1}\n", r"Unknown config key `trian`.*Did you mean 'train'"),
        ("stages:\n  - {type: tokenizer_x}\n", r"Unknown stage type 'tokenizer_x'.*Valid types"),
    ],
)
def test_bad_config_is_one_line_exit_1(tmp_path, tiny_corpus, extra, message):
    import re

    pipeline = write_pipeline(tmp_path, tiny_corpus, extra)
    result = CliRunner().invoke(main, ["run", str(pipeline), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert re.search(message, result.output), result.output
    assert "Traceback" not in result.output


def test_bad_data_is_exit_1(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"text\tlabel\ngood film\tpositive\nbad \xff film\tnegative\n")
    pipeline = write_pipeline(tmp_path, bad)
    result = CliRunner().invoke(main, ["run", str(pipeline), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert f"{bad}:3" in result.output and "UTF-8" in result.output
    missing = write_pipeline(tmp_path, tmp_path / "missing.tsv")
    result = CliRunner().invoke(main, ["run", str(missing), "--run-dir", str(tmp_path / "r2")])
    assert result.exit_code == 1 and "missing.tsv" in result.output


def test_usage_errors_are_exit_2(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["run", str(tmp_path / "nope.yaml")]).exit_code == 2
    assert runner.invoke(main, ["run"]).exit_code == 2
    assert runner.invoke(main, ["frobnicate"]).exit_code == 2
    assert runner.invoke(main, ["run", "--help"]).exit_code == 0


def test_data_dir_from_option_and_environment(tmp_path, tiny_corpus, monkeypatch):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "tiny.tsv").write_bytes(Path(tiny_corpus).read_bytes())
    pipeline = write_pipeline(tmp_path, "'{data_dir}/tiny.tsv'")
    runner = CliRunner()
    monkeypatch.delenv("NLP_LSTM_DATA_DIR", raising=False)
    result = runner.invoke(main, ["config", "show", str(pipeline)])
    assert result.exit_code == 1 and "--data-dir" in result.output
    result = runner.invoke(
        main, ["config", "show", str(pipeline), "--data-dir", str(tmp_path / "root")]
    )
    assert result.exit_code == 0 and str(tmp_path / "root" / "tiny.tsv") in result.output
    monkeypatch.setenv("NLP_LSTM_DATA_DIR", str(tmp_path / "root"))
    assert runner.invoke(main, ["config", "validate", str(pipeline)]).exit_code == 0


@pytest.mark.slow
def test_real_processes_print_no_tensorflow_start_up_lines(tmp_path):
    """`nlp-lstm run NAME` and `predict` from another directory: results on stdout, no C++ logs."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    command = [sys.executable, "-m", "nlp_lstm.cli"]
    run = subprocess.run(
        command
        + [
            "run",
            "quickstart_classify",
            "--set",
            "train.epochs=1",
            "--run-dir",
            str(tmp_path / "run"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr
    assert not TENSORFLOW_LOG_LINE.search(run.stderr), run.stderr
    assert run.stdout.splitlines()[0] == f"run directory: {tmp_path / 'run'}"
    assert re.search(r"^test: accuracy=", run.stdout, re.M)
    # One epoch of the quickstart beats always answering the most frequent class.
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for values in metrics.values():
        check_accuracy_and_majority(values)
        assert values["accuracy"] > values["majority_baseline"]
    assert "read: " in run.stderr  # progress goes to stderr
    predict = subprocess.run(
        command + ["predict", str(tmp_path / "run"), "a gorgeous witty film"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert predict.returncode == 0, predict.stderr
    assert predict.stderr == ""
    assert json.loads(predict.stdout)["label"] in ("negative", "positive")
    verbose = subprocess.run(
        command + ["-v", "predict", str(tmp_path / "run"), "good"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verbose.returncode == 0, verbose.stderr
    assert TENSORFLOW_LOG_LINE.search(verbose.stderr)  # -v lets TensorFlow's logs through
