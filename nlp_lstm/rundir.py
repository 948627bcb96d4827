"""Run directories: naming, atomic writes, the manifest, and the rules against silent overwrites."""

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from nlp_lstm.errors import RunDirError

PACKAGES = ("nlp_lstm", "tensorflow", "tensorflow-text", "keras", "keras-tuner", "datasets",
            "numpy", "click")


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def atomic_write_text(path, text):
    """Writes `text` to `path` through a temporary file and a rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path, data):
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path, default=None):
    path = Path(path)
    if not path.is_file():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


def versions():
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(directory):
    """The commit of the git checkout holding `directory`, or None outside git."""
    try:
        result = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def new_run_dir(name, root="runs"):
    """A fresh `runs/<name>-<timestamp>` directory (suffixed if one exists in the same second)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    candidate, index = base, 1
    while candidate.exists():
        candidate = Path(f"{base}-{index}")
        index += 1
    candidate.mkdir(parents=True)
    return candidate


def prepare_run_dir(run_dir, config_hash, overwrite=False, resume=False):
    """Checks an explicit run directory. Returns True when resuming an interrupted run.

    A finished run is never overwritten without `overwrite`; an interrupted one is continued only
    with `resume` and the same config.
    """
    run_dir = Path(run_dir)
    if not run_dir.exists() or not any(run_dir.iterdir()):
        if resume:
            raise RunDirError(f"--resume was given but {run_dir} holds no run. Drop --resume to "
                              f"start a new run there.")
        run_dir.mkdir(parents=True, exist_ok=True)
        return False
    manifest = read_json(run_dir / "manifest.json")
    if overwrite:
        if manifest is None and not (run_dir / "config.yaml").exists():
            raise RunDirError(f"{run_dir} is not empty and is not a run directory; refusing to "
                              f"delete it with --overwrite. Choose another --run-dir.")
        shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        return False
    if manifest is None:
        raise RunDirError(f"{run_dir} exists, is not empty and holds no manifest.json. Choose "
                          f"another --run-dir.")
    status = manifest.get("status")
    if status == "finished":
        raise RunDirError(f"{run_dir} already holds a finished run (ended {manifest.get('end_time')})."
                          f" Pass --overwrite to replace it or choose another --run-dir.")
    if not resume:
        raise RunDirError(f"{run_dir} holds an interrupted run (status {status!r}). Pass --resume "
                          f"to continue it or --overwrite to start again.")
    if manifest.get("config_hash") != config_hash:
        raise RunDirError(f"Cannot resume {run_dir}: its config (hash {manifest.get('config_hash')})"
                          f" differs from this one ({config_hash}). Use the same pipeline and "
                          f"--set values, or start a new run.")
    return True


def describe_machine():
    return {"platform": platform.platform(), "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0]}


def check_writable(path, what="--run-dir", fix="Choose another --run-dir."):
    """Raises RunDirError unless files can be created in `path`: in the folder itself, or where it
    does not exist yet, in the nearest existing folder above it (which must be a directory).

    Run before any work, so a read-only or misplaced run directory fails in one line at once
    instead of as an OSError after training.
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RunDirError(f"{what} {path}: {existing} is a file, not a directory. {fix}")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".nlp_lstm-write-check-")
    except OSError as err:
        raise RunDirError(f"{what} {path}: cannot create files in {existing} ({err.strerror}). "
                          f"{fix}") from err
    os.close(fd)
    os.unlink(probe)
