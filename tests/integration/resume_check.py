"""Kill -9 a real `nlp-lstm train` at a random moment, `--resume` it, and compare it with a run
that was never interrupted (used by test_resume.py; `python -m tests.integration.resume_check
PIPELINE --set ...` runs one check by hand)."""

import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np

CLI = [sys.executable, "-m", "nlp_lstm.cli"]


def train_command(pipeline, run_dir, overrides, *extra):
    command = CLI + ["train", str(pipeline), "--run-dir", str(run_dir)]
    for override in overrides:
        command += ["--set", override]
    return command + list(extra)


def model_weights(run_dir):
    """Every array in RUN_DIR/model.keras, by its path inside the archive's weights file."""
    with zipfile.ZipFile(Path(run_dir) / "model.keras") as archive:
        with archive.open("model.weights.h5") as handle, h5py.File(handle, "r") as weights:
            out = {}
            weights.visititems(
                lambda name, item: (
                    out.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
                )
            )
    return out


def history_rows(run_dir):
    with open(Path(run_dir) / "history.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def progress(text):
    """(epoch index, steps done in it, steps per epoch) from a Keras progress bar's output."""
    text = ANSI.sub("", text)
    epochs = list(re.finditer(r"Epoch (\d+)/\d+", text))
    if not epochs:
        return -1, 0, None
    steps = re.findall(r"(\d+)/(\d+) ", text[epochs[-1].end() :])
    done = max((int(a) for a, _ in steps), default=0)
    return int(epochs[-1].group(1)) - 1, done, int(steps[-1][1]) if steps else None


def kill_and_resume(pipeline, overrides, directory, seed=None, env=None):
    """Runs the check; returns a dict of what happened (asserts nothing itself).

    The reference run trains uninterrupted into DIRECTORY/reference. The second one, in
    DIRECTORY/killed, gets SIGKILL at a random train step of a random epoch after the first
    (read off its progress bar as it trains), then `--resume` finishes it.
    """
    directory = Path(directory)
    env = {**os.environ, **(env or {})}
    rng = random.Random(seed)
    reference, killed = directory / "reference", directory / "killed"
    first = subprocess.run(
        train_command(pipeline, reference, overrides), env=env, capture_output=True, text=True
    )
    if first.returncode:
        raise RuntimeError(first.stderr[-3000:])
    epochs = json.loads((reference / "manifest.json").read_text())["epochs_run"]
    steps = progress(first.stderr)[2] or 1
    target = (rng.randrange(1, max(epochs, 2)), rng.randint(1, steps))
    process = subprocess.Popen(
        train_command(pipeline, killed, overrides),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    text, seen = "", (-1, 0)
    while True:
        chunk = os.read(process.stderr.fileno(), 65536)
        if not chunk:
            break
        text += chunk.decode("utf-8", errors="replace")
        epoch, done, _ = progress(text)
        seen = (epoch, done)
        if seen >= target:
            os.kill(process.pid, signal.SIGKILL)
            break
    returncode = process.wait()
    process.stderr.close()
    resumed = subprocess.run(
        train_command(pipeline, killed, overrides, "--resume"),
        env=env,
        capture_output=True,
        text=True,
    )
    return {
        "reference": reference,
        "killed": killed,
        "killed_rc": returncode,
        "target_epoch_step": target,
        "killed_at_epoch_step": seen,
        "epochs": epochs,
        "steps_per_epoch": steps,
        "resume_rc": resumed.returncode,
        "resume_output": resumed.stdout + resumed.stderr,
    }


def compare(result):
    """(weights equal, list of differing weight names, history equal, manifests)."""
    a, b = model_weights(result["reference"]), model_weights(result["killed"])
    differing = sorted(
        k for k in a.keys() | b.keys() if k not in a or k not in b or not np.array_equal(a[k], b[k])
    )
    history_equal = history_rows(result["reference"]) == history_rows(result["killed"])
    return differing, history_equal


if __name__ == "__main__":
    pipeline, overrides = sys.argv[1], [a for a in sys.argv[2:] if a != "--set"]
    outcome = kill_and_resume(pipeline, overrides, Path(os.environ.get("OUT", "/tmp/resume")))
    differing, history_equal = compare(outcome)
    print({k: v for k, v in outcome.items() if k not in ("resume_output",)})
    print("resume output tail:", outcome["resume_output"][-1500:])
    print("differing weights:", differing, "history equal:", history_equal)
