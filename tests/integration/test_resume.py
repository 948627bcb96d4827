"""kill -9 at a random train step, then --resume: the run ends bit-identical to one never
interrupted, for each task; two writers on one run directory; a killed export cleaned up.

Real `nlp-lstm` processes throughout (tests/integration/resume_check.py does the killing).
"""

import json
import os
import signal
import subprocess
import time

import pytest

from nlp_lstm.runs import rundir
from tests.integration.resume_check import CLI, compare, kill_and_resume
from tests.testing import write_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CASES = {
    # The time budget (far from spent) is part of the resumed state too.
    "classification_time_budget": (
        "quickstart_classify",
        ["data.max_examples=300", "model.hidden_dim=16", "train.time_budget_minutes=600"],
    ),
    "translation": (
        "quickstart_translate",
        ["data.max_examples=300", "model.hidden_dim=32", "model.embedding_dim=16"],
    ),
    # Stateful batches carry LSTM states across batches: the hardest generation case.
    "generation_stateful": (
        "quickstart_generate",
        [
            "model.hidden_dim=32",
            "model.embedding_dim=16",
            "data.stateful_batches=true",
            "data.random_window_offsets=true",
        ],
    ),
    "forecasting": ("quickstart_forecast", ["model.units=16"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_kill_at_a_random_step_then_resume_is_bit_identical(tmp_path, case):
    pipeline, overrides = CASES[case]
    result = kill_and_resume(
        pipeline, ["train.epochs=3", *overrides], tmp_path, seed=sum(map(ord, case))
    )
    assert result["killed_rc"] == -signal.SIGKILL, result
    assert result["resume_rc"] == 0, result["resume_output"][-3000:]
    differing, history_equal = compare(result)
    assert differing == [], f"weights differ after resume: {differing} ({result})"
    assert history_equal, result
    manifest = json.loads((result["killed"] / "manifest.json").read_text())
    assert manifest["resumed"] and manifest["status"] == "finished"
    assert manifest["epochs_run"] == result["epochs"]  # all epochs, not those after the resume
    assert not (result["killed"] / "checkpoints" / "resume.npz").exists()


def _wait_for(predicate, seconds=600):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_second_writer_is_refused_and_the_first_finishes(tmp_path, tiny_corpus):
    # Long enough (tiny epochs) to be still training while the other processes start.
    pipeline = write_pipeline(
        tmp_path, tiny_corpus, "train: {epochs: 150, early_stopping_patience: 0}\n"
    )
    run_dir = tmp_path / "run"
    first = subprocess.Popen(
        CLI + ["train", str(pipeline), "--run-dir", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: (run_dir / "manifest.json").is_file() and rundir.is_locked(run_dir))
    others = [
        subprocess.Popen(
            CLI + ["train", str(pipeline), "--run-dir", str(run_dir)] + extra,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for extra in ([], ["--overwrite"], ["--resume"])
    ]
    for second in others:
        error = second.communicate(timeout=600)[1]
        assert second.returncode == 1, error
        assert f"is in use by process {first.pid}" in error
        assert "Traceback" not in error
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "finished"
    assert not rundir.is_locked(run_dir)


def test_a_killed_export_leaves_nothing_behind_after_resume(tmp_path, tiny_corpus):
    pipeline = write_pipeline(tmp_path, tiny_corpus)
    run_dir = tmp_path / "run"
    command = CLI + ["run", str(pipeline), "--run-dir", str(run_dir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: any(run_dir.glob(".export.tmp-*")) or process.poll() is not None)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert any(run_dir.glob(".export.tmp-*"))
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not any(run_dir.glob(".export*")), sorted(p.name for p in run_dir.iterdir())
    assert (run_dir / "export" / "saved_model.pb").is_file()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["steps_done"] == ["train", "evaluate", "export"] and manifest["epochs_run"] == 2
