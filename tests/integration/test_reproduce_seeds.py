"""`nlp-lstm reproduce` and `nlp-lstm run --seeds` on tiny runs, through the real command line.

Each command is a subprocess that imports TensorFlow and trains one epoch (~20 s on 2 shared
cores), so the module is in the slow tier.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from nlp_lstm import build_pipeline, load_config
from tests.testing import write_pipeline, write_tiny_tsv

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # every test trains through CLI processes

ROOT = Path(__file__).resolve().parents[2]
TINY = ["train.epochs=1", "steps=[train, evaluate]"]


def _cli(*args, quiet=True):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "nlp_lstm.cli", *["-q"] * quiet, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _tiny_run(directory):
    """A finished one-epoch run of the tiny pipeline on its own copy of the tiny corpus."""
    directory.mkdir(parents=True, exist_ok=True)
    data = write_tiny_tsv(directory / "tiny.tsv")
    config = load_config(write_pipeline(directory, data), TINY)
    return build_pipeline(config).run(run_dir=directory / "run").run_dir, data


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    return _tiny_run(tmp_path_factory.mktemp("reproduce"))[0]


def test_reproduce_passes_on_a_finished_run(finished_run, tmp_path):
    proc = _cli("reproduce", str(finished_run), "--run-dir", str(tmp_path / "again"))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "reproduced: all" in proc.stdout and "data fingerprint unchanged" in proc.stdout
    report = json.loads((tmp_path / "again" / "reproduce.json").read_text())
    assert report["passed"] and report["differences"] == [] and report["compared"] > 5
    original = json.loads((finished_run / "metrics.json").read_text())
    assert json.loads((tmp_path / "again" / "metrics.json").read_text()) == original


@pytest.mark.slow  # two re-runs, ~45 s on 2 cores
def test_reproduce_fails_with_a_table_when_a_metric_differs(finished_run, tmp_path):
    tampered = tmp_path / "tampered"
    shutil.copytree(finished_run, tampered)
    metrics = json.loads((tampered / "metrics.json").read_text())
    split = next(iter(metrics))
    true_value = metrics[split]["accuracy"]
    metrics[split]["accuracy"] = round(true_value + 0.125, 4)
    (tampered / "metrics.json").write_text(json.dumps(metrics))
    proc = _cli("reproduce", str(tampered), "--run-dir", str(tmp_path / "again"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    # The last line is the error (the tiny corpus's leakage warning may come before it).
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: 1 of ") and "metrics differ" in last, proc.stderr
    table = proc.stdout[proc.stdout.index("metric") :].splitlines()
    assert table[0].split() == ["metric", "original", "reproduced", "difference"]
    row = table[1].split()
    assert row[0] == f"{split}.accuracy" and float(row[2]) == true_value and len(table) == 2
    # Within the tolerance the same run passes.
    proc = _cli(
        "reproduce", str(tampered), "--run-dir", str(tmp_path / "again2"), "--tolerance", "0.2"
    )
    assert proc.returncode == 0, proc.stderr


def test_reproduce_refuses_changed_data_before_training(tmp_path):
    run_dir, data = _tiny_run(tmp_path / "own")
    data.write_text(
        data.read_text(encoding="utf-8") + "one more line\tpositive\n", encoding="utf-8"
    )
    proc = _cli("reproduce", str(run_dir), "--run-dir", str(tmp_path / "again"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "changed since the run" in proc.stderr and str(data) in proc.stderr
    assert "--allow-data-change" in proc.stderr
    assert not (tmp_path / "again").exists()


def test_reproduce_refuses_an_interrupted_run(finished_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (run_dir / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted"}))
    proc = _cli("reproduce", str(run_dir))
    assert proc.returncode == 1 and "holds no finished run" in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1


@pytest.mark.slow  # two seeds, then a resume: ~45 s on 2 cores
def test_seeds_runs_each_seed_on_the_same_split(tmp_path, tiny_corpus):
    pipeline = write_pipeline(tmp_path, tiny_corpus)
    parent = tmp_path / "sweep"
    proc = _cli(
        "run",
        str(pipeline),
        "--seeds",
        "2",
        "--run-dir",
        str(parent),
        *[f"--set={o}" for o in TINY],
        quiet=False,
    )
    assert proc.returncode == 0, proc.stderr
    # Each log line once, even after absl gave the root logger a handler during the first seed.
    assert proc.stderr.count("seed 8 (2/2): running into") == 1, proc.stderr
    assert "INFO:nlp_lstm" not in proc.stderr
    record = json.loads((parent / "seeds.json").read_text())
    assert record["seeds"] == [7, 8] and record["status"] == "finished"  # the config's seed is 7
    assert record["std"] == "sample standard deviation (ddof=1)"
    manifests = [json.loads((parent / f"seed-{s}" / "manifest.json").read_text()) for s in (7, 8)]
    assert [m["seed"] for m in manifests] == [7, 8]
    assert manifests[0]["data"] == manifests[1]["data"]  # same fingerprint and counts
    split = next(iter(record["runs"]["7"]["metrics"]))
    losses = [record["runs"][s]["metrics"][split]["loss"] for s in ("7", "8")]
    assert losses[0] != losses[1]  # the seed changed the model
    summary = record["summary"][f"{split}.loss"]
    assert summary["mean"] == pytest.approx(statistics.fmean(losses))
    assert summary["std"] == pytest.approx(statistics.stdev(losses))
    assert (summary["min"], summary["max"], summary["n"]) == (min(losses), max(losses), 2)
    assert f"{split}.loss" in proc.stdout and "±" in proc.stdout and "ddof=1" in proc.stdout
    # --resume keeps both finished seeds and trains nothing.
    proc = _cli(
        "run",
        str(pipeline),
        "--seeds",
        "7,8",
        "--run-dir",
        str(parent),
        "--resume",
        *[f"--set={o}" for o in TINY],
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((parent / "seeds.json").read_text())["summary"] == record["summary"]
    again = [json.loads((parent / f"seed-{s}" / "manifest.json").read_text()) for s in (7, 8)]
    assert [m["end_time"] for m in again] == [m["end_time"] for m in manifests]
