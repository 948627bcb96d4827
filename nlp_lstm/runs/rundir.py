"""Run directories: naming, atomic writes, the manifest, the lock, and the rules against silent
overwrites.

One process writes into a run directory at a time: it holds an OS lock (`fcntl.flock`) on
RUN_DIR/.lock, which the kernel releases when the process ends, however it ends. A directory
whose lock is held is in use; only one whose lock is free can be resumed or overwritten."""

import datetime
import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from nlp_lstm.artifacts import atomic_write_json, read_json
from nlp_lstm.errors import RunDirError

PACKAGES = (
    "nlp_lstm",
    "tensorflow",
    "tensorflow-text",
    "keras",
    "keras-tuner",
    "datasets",
    "numpy",
    "click",
)


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


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
        result = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


LOCK_FILE = ".lock"


class RunDirLock:
    """The one-writer lock of a run directory: `fcntl.flock` on RUN_DIR/.lock.

    `acquire()` fails at once with RunDirError naming the process that holds it. Within one
    process the lock is re-entrant (a run, then `load_run` on the same directory, share it); it
    is released when the last holder releases it or the process ends. The lock file records the
    holder's pid, start time and command line, and stays after release: deleting it would let
    two processes lock two different files. A free lock on a leftover file means nobody writes.
    """

    _held = {}  # resolved lock path -> [file descriptor, holders in this process]

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._key = None

    @property
    def held(self):
        return self._key is not None

    def acquire(self):
        if self._key is not None:
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        key = str(self.path.resolve())
        if key in self._held:
            self._held[key][1] += 1
            self._key = key
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = lock_holder(self.run_dir) or {}
            os.close(fd)
            raise RunDirError(
                f"{self.run_dir} is in use by process {holder.get('pid', '?')} (started "
                f"{holder.get('started', '?')}: {holder.get('command', '?')}). Wait for it to "
                f"finish or choose another --run-dir."
            ) from None
        os.ftruncate(fd, 0)
        os.write(
            fd,
            (
                json.dumps(
                    {"pid": os.getpid(), "started": now(), "command": " ".join(sys.argv)[:500]}
                )
                + "\n"
            ).encode(),
        )
        os.fsync(fd)
        self._held[key] = [fd, 1]
        self._key = key
        return self

    def release(self):
        if self._key is None:
            return
        key, self._key = self._key, None
        entry = self._held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del self._held[key]
        try:
            fcntl.flock(entry[0], fcntl.LOCK_UN)
        finally:
            os.close(entry[0])

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def __del__(self):
        self.release()


def lock_holder(run_dir):
    """What RUN_DIR/.lock says of its last holder ({pid, started, command}), or None."""
    try:
        return json.loads((Path(run_dir) / LOCK_FILE).read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None


def is_locked(run_dir):
    """True when a process (this one included) holds the lock of `run_dir`."""
    path = Path(run_dir) / LOCK_FILE
    if not path.is_file():
        return False
    if str(path.resolve()) in RunDirLock._held:
        return True
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _entries(run_dir):
    """The entries of `run_dir` other than its lock file."""
    return [p for p in Path(run_dir).iterdir() if p.name != LOCK_FILE]


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

    The caller must hold the directory's `RunDirLock` (so no other process is writing there). A
    finished run is never overwritten without `overwrite`; an interrupted one is continued only
    with `resume` and the same config. `overwrite` empties the directory but keeps its lock file.
    """
    run_dir = Path(run_dir)
    if overwrite and resume:
        raise RunDirError(
            "--overwrite and --resume exclude each other: --resume continues the "
            "run in --run-dir, --overwrite deletes it. Pass one of them."
        )
    if not run_dir.exists() or not _entries(run_dir):
        if resume:
            raise RunDirError(
                f"--resume was given but {run_dir} holds no run. Drop --resume to "
                f"start a new run there."
            )
        run_dir.mkdir(parents=True, exist_ok=True)
        return False
    manifest = read_json(run_dir / "manifest.json")
    if overwrite:
        if manifest is None and not (run_dir / "config.yaml").exists():
            raise RunDirError(
                f"{run_dir} is not empty and is not a run directory; refusing to "
                f"delete it with --overwrite. Choose another --run-dir."
            )
        for entry in _entries(run_dir):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        return False
    if manifest is None:
        raise RunDirError(
            f"{run_dir} exists, is not empty and holds no manifest.json. Choose another --run-dir."
        )
    status = manifest.get("status")
    if status == "finished":
        raise RunDirError(
            f"{run_dir} already holds a finished run (ended {manifest.get('end_time')})."
            f" Pass --overwrite to replace it or choose another --run-dir."
        )
    if not resume:
        raise RunDirError(
            f"{run_dir} holds an interrupted run (status {status!r}). Pass --resume "
            f"to continue it or --overwrite to start again."
        )
    if manifest.get("config_hash") != config_hash:
        raise RunDirError(
            f"Cannot resume {run_dir}: its config (hash {manifest.get('config_hash')})"
            f" differs from this one ({config_hash}). Use the same pipeline and "
            f"--set values, or start a new run."
        )
    return True


def record_failure(manifest, err):
    """Marks `manifest` (a dict) failed with `err`'s line and the end time."""
    manifest.update(status="failed", error=f"{type(err).__name__}: {err}"[:2000], end_time=now())
    return manifest


def mark_failed(run_dir, err):
    """Marks the run in `run_dir` failed with `err` unless it finished: for a launcher whose
    worker processes were killed before they could write their own status (`run --workers`).
    Returns whether the manifest was changed; a directory another process holds is left alone."""
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        return False
    try:
        with RunDirLock(run_dir):
            manifest = read_json(path)
            if manifest is None or manifest.get("status") == "finished":
                return False
            atomic_write_json(path, record_failure(manifest, err))
            return True
    except RunDirError:
        return False


def clean_leftovers(run_dir, export_name="export"):
    """Removes what a killed export left in `run_dir`: its `.export.tmp-*` folders, and the
    `.export.old` copy of the previous export (moved back into place if `export/` is missing).
    Call it holding the directory's lock."""
    run_dir = Path(run_dir)
    for tmp in run_dir.glob(f".{export_name}.tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    old, current = run_dir / f".{export_name}.old", run_dir / export_name
    if old.is_dir():
        if current.exists():
            shutil.rmtree(old)
        else:
            os.replace(old, current)


def describe_machine():
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
    }


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
        raise RunDirError(
            f"{what} {path}: cannot create files in {existing} ({err.strerror}). {fix}"
        ) from err
    os.close(fd)
    os.unlink(probe)
