"""Atomic artifact files: text and JSON written to a temporary sibling and renamed into place,
strict JSON (non-finite numbers become null), and the cleanup of what killed writers left behind.

A temporary name carries the writer's host and pid, so only the leftovers of processes that are
no longer running are removed.
"""

import json
import math
import os
import shutil
import socket
import tempfile
from pathlib import Path


def atomic_write_text(path, text):
    """Writes `text` to `path` through a temporary file and a rename, so readers never see half a
    file."""
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


def finite_json(data):
    """`data` with every NaN or infinite float replaced by None, so it dumps as strict JSON."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite_json(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite_json(value) for value in data]
    if hasattr(data, "item") and getattr(data, "shape", None) == ():  # a NumPy scalar
        return finite_json(data.item())
    return data


def dumps_json(data, **kwargs):
    """Strict JSON text of `data`: non-finite floats become null (`finite_json`), never NaN."""
    return json.dumps(finite_json(data), allow_nan=False, default=str, **kwargs)


def atomic_write_json(path, data):
    """Writes `data` as strict JSON (`dumps_json`) through `atomic_write_text`."""
    atomic_write_text(path, dumps_json(data, indent=2, sort_keys=False) + "\n")


def read_json(path, default=None):
    path = Path(path)
    if not path.is_file():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


def temporary_sibling(path):
    """The name under which `path` is written before it is renamed into place,
    `.NAME.tmp-HOST-PID`: `remove_stale_temporaries` tells a live writer's from a dead one's."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}")


def remove_stale_temporaries(directory):
    """Removes the `temporary_sibling` files and folders that killed processes of this host left
    in `directory`. Those of a process still running (another worker writing the same token ids)
    stay, and so do those of other hosts, which share the folder only on a network file system."""
    for tmp in Path(directory).glob(f".*.tmp-{socket.gethostname()}-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or _running(int(pid)):
            continue
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
