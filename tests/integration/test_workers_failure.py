"""`nlp-lstm run --workers 2`: a killed worker stops the run within 60 s, the manifest says why,
no process is left, and --resume finishes the run."""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.integration.workers_helpers import CLI, alive, run_env, workers_of
from tests.testing import write_pipeline, write_tiny_tsv

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_killed_worker_stops_the_run_then_resume_finishes_it(tmp_path):
    data = write_tiny_tsv(tmp_path / "tiny.tsv", repeats=24)
    pipeline = write_pipeline(tmp_path, data, extra="steps: [train, evaluate]\n")
    run_dir = tmp_path / "run"
    args = [
        str(pipeline),
        "--run-dir",
        str(run_dir),
        "--workers",
        "2",
        "--set",
        "train.epochs=4",
        "--set",
        "train.early_stopping_patience=0",
    ]
    launcher = subprocess.Popen(
        CLI + args, env=run_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 600
        while not (run_dir / "checkpoints" / "resume.npz").exists():
            assert launcher.poll() is None, launcher.communicate()
            assert time.monotonic() < deadline, "no epoch finished in 600 s"
            time.sleep(0.2)
        workers = workers_of(launcher.pid)
        assert sorted(workers) == [0, 1], workers
        os.kill(workers[1], signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = launcher.communicate(timeout=90)
        took = time.monotonic() - killed
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 1
    assert took < 60, took
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: Worker 1 of 2 was killed by SIGKILL"), stderr[-2000:]
    assert "Traceback" not in stderr
    assert not any(alive(pid) for pid in workers.values())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed", manifest
    assert manifest["error"].startswith("TrainingError: Worker 1 of 2 was killed by SIGKILL")
    assert manifest["end_time"]

    resumed = subprocess.run(
        CLI + args + ["--resume"], env=run_env(), capture_output=True, text=True, timeout=900
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["epochs_run"] == 4, manifest
    assert manifest["resumed"] is True and "error" not in manifest
    history = (run_dir / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == [str(e) for e in range(4)]
