"""`nlp-lstm run --cluster slurm`: two processes with the variables srun gives two tasks on one
node join one cluster and train as `--workers 2` does."""

import json
import subprocess

import pytest

from tests.integration.workers_helpers import CLI, QUICK, run_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _consecutive_free_ports():
    import socket

    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two consecutive free ports")


def test_slurm_tasks_join_one_cluster_and_train_as_two_workers(tmp_path):
    """`nlp-lstm run --cluster slurm` in two processes that carry the variables srun gives two
    tasks on one node (srun itself is not installed here): SlurmClusterResolver makes their
    TF_CONFIG, task 0 writes the run and both exit; the accuracy matches `--workers 2`."""
    port = _consecutive_free_ports()
    run_dir = tmp_path / "slurm"
    procs = []
    for rank in range(2):
        env = dict(
            run_env(),
            SLURM_PROCID=str(rank),
            SLURM_STEP_NUM_TASKS="2",
            SLURM_STEP_NODELIST="localhost",
            SLURM_STEP_TASKS_PER_NODE="2",
            TMPDIR=str(tmp_path),
        )
        procs.append(
            subprocess.Popen(
                CLI
                + [
                    "quickstart_classify",
                    "--run-dir",
                    str(run_dir),
                    *QUICK,
                    "--cluster",
                    "slurm",
                    "--cluster-port",
                    str(port),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [proc.communicate(timeout=900) for proc in procs]
    for proc, (_, stderr) in zip(procs, outputs):
        assert proc.returncode == 0, stderr[-3000:]
    assert f"run directory: {run_dir}" in outputs[0][0]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["epochs_run"] == 3
    assert manifest["distribution"] == {
        "strategy": "multi_worker",
        "workers": 2,
        "replicas": 2,
        "cluster": {"worker": [f"localhost:{port}", f"localhost:{port + 1}"]},
    }
    loopback = subprocess.run(
        CLI + ["quickstart_classify", "--run-dir", str(tmp_path / "two"), *QUICK, "--workers", "2"],
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert loopback.returncode == 0, loopback.stderr[-3000:]
    accuracy = [
        json.loads((path / "metrics.json").read_text())["test"]["accuracy"]
        for path in (run_dir, tmp_path / "two")
    ]
    assert abs(accuracy[0] - accuracy[1]) <= 0.01, accuracy
