"""What the multi-worker integration tests (tests/integration/test_workers_*.py) share: the
command, a quiet short training, the environment of a run, the processes a run leaves, and the
check that a task trains on two workers as in one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "nlp_lstm.cli", "run"]
QUICK = [
    "--set",
    "train.epochs=3",
    "--set",
    "train.early_stopping_patience=0",
    "--set",
    "train.verbose=0",
    "--set",
    "steps=[train,evaluate]",
]


def run_env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return env


def workers_of(launcher_pid):
    """PIDs of the launcher's child processes, by worker index (read from their TF_CONFIG)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) != launcher_pid:
            continue
        for item in environ:
            if item.startswith(b"TF_CONFIG="):
                found[json.loads(item[10:])["task"]["index"]] = int(entry.name)
    return found


def alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def processes_running(marker):
    """PIDs of live processes whose command line contains `marker` (a test's run directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in command and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def settings(*overrides):
    """`--set` arguments for each override."""
    return [item for override in overrides for item in ("--set", override)]


# pipeline, tiny settings, the history's columns, and (split, metric) of metrics.json that two
# workers must reproduce within a relative tolerance of one process (the split and bucketing of
# the batches differ, so the numbers are close, not equal).
TASKS = {
    "translation": (
        "quickstart_translate",
        settings(
            "train.epochs=1",
            "train.batch_size=64",
            "model.hidden_dim=32",
            "model.embedding_dim=16",
            "evaluate.beam_size=1",
            "evaluate.splits=[test]",
        ),
        ["loss", "padding_share", "token_accuracy", "val_loss", "val_token_accuracy"],
        [("test", "loss", 0.05)],
    ),
    "generation": (
        "quickstart_generate",
        settings(
            "data.stateful_batches=false",
            "train.epochs=1",
            "model.hidden_dim=32",
            "model.embedding_dim=16",
        ),
        ["loss", "val_loss"],
        [("validation", "loss", 0.02)],
    ),
    "forecasting": (
        "quickstart_forecast",
        settings(
            "train.epochs=2",
            "model.units=16",
            "train.monitor=val_mse",
            "train.early_stopping_patience=1",
        ),
        ["loss", "mae", "mse", "val_loss", "val_mae", "val_mse"],
        [("test", "mse", 0.02), ("test", "mae", 0.02)],
    ),
}


def check_two_workers_as_one_process(tmp_path, task, streamed=False):
    """`task`'s quickstart (tiny; its corpus streamed from Arrow if `streamed`) with `--workers
    2` and with train.distribution=mirrored in one process (one replica on the CPU): both finish
    with metrics and an export, log the task's metric names, and agree on the task's metrics; no
    process is left behind. Streamed, the chief caches the train token ids in the run directory."""
    pipeline, tiny, columns, compared = TASKS[task]
    if streamed:
        tiny = tiny + settings("data.streaming=always")
    quiet = settings("train.verbose=0")
    runs = {"one": ["--set", "train.distribution=mirrored"], "two": ["--workers", "2"]}
    for name, how in runs.items():
        run_dir = tmp_path / name
        done = subprocess.run(
            CLI + [pipeline, "--run-dir", str(run_dir), *tiny, *quiet, *how],
            env=run_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert not processes_running(str(run_dir)), "a worker outlived the run"
        assert f"run directory: {run_dir}" in done.stdout
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["status"] == "finished", manifest
        assert manifest["steps_done"] == ["train", "evaluate", "export"]
        assert (run_dir / "export" / "saved_model.pb").is_file()
        header = (run_dir / "history.csv").read_text().splitlines()[0].split(",")
        assert header == ["epoch", *columns], header
        if streamed:
            cached = sorted(path.name for path in (run_dir / "token_ids").iterdir())
            assert any(name.startswith("train-") for name in cached), cached
    metrics = {name: json.loads((tmp_path / name / "metrics.json").read_text()) for name in runs}
    for split, metric, tolerance in compared:
        one, two = metrics["one"][split][metric], metrics["two"][split][metric]
        assert abs(one - two) <= tolerance * abs(one), (split, metric, one, two)
