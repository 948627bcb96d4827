"""What the serving tests share: `nlp-lstm serve` as a real process on a free loopback port (the
tiny runs it serves come from tests/integration/conftest.py)."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`nlp-lstm serve NAME=PATH ... --port P [options]` in a subprocess, logging into `log_path`.

    Args:
        models: dict. {name: run or export directory}.
        log_path: Path. Where the server's stdout and stderr go.
        options: list of str. More command-line options (`--max-queue 1`, `--no-batching`).
    """

    def __init__(self, models, log_path, options=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        self.command = [
            sys.executable,
            "-m",
            "nlp_lstm.cli",
            "serve",
            *(f"{name}={path}" for name, path in models.items()),
            "--port",
            str(self.port),
            *options,
        ]
        self.process = None

    def start(self, timeout=180):
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {self.process.returncode}:\n{self.log()[-3000:]}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.25)
        raise RuntimeError(f"the server did not answer within {timeout} s:\n{self.log()[-3000:]}")

    def log(self):
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
