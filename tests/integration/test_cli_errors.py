"""A user's mistakes on the real command line: one `Error:` line, exit code 1 or 2, no traceback.

Each case runs `python -m nlp_lstm.cli` in a subprocess, as a user would. Most fail before
TensorFlow loads; the interrupted-run cases load it once per command.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from nlp_lstm import build_pipeline, load_config
from tests.testing import write_pipeline

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# Root ignores file modes through CAP_DAC_OVERRIDE; without it root obeys them like anyone.
DROP_CAPS = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search,-fowner",
    "--inh-caps=-dac_override,-dac_read_search,-fowner",
]


def _cli(*args, cwd=None, prefix=()):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [*prefix, sys.executable, "-m", "nlp_lstm.cli", *args],
        cwd=cwd or ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )


def _assert_one_error(proc, code, *words):
    stderr = proc.stderr.decode("utf-8", "backslashreplace")
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, stderr
    for word in words:
        assert word in errors[0], errors[0]
    if code == 1:  # a library error is the whole of stderr; a usage error adds click's usage lines
        assert stderr.strip() == errors[0], stderr
    return errors[0]


@pytest.fixture
def read_only(tmp_path):
    """Makes a folder read-only for the CLI subprocess; returns the command prefix to use."""

    def make(folder):
        for path in [folder, *Path(folder).rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        if os.geteuid() != 0:
            return ()
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: file modes do not restrict root")
        probe = subprocess.run(
            [*DROP_CAPS, "touch", str(Path(folder) / "probe")], capture_output=True
        )
        if probe.returncode == 0:
            pytest.skip("cannot drop CAP_DAC_OVERRIDE here: file modes do not restrict root")
        return DROP_CAPS

    yield make
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)


def test_run_dir_under_a_file(tmp_path):
    (tmp_path / "a_file").write_text("x")
    proc = _cli("run", "quickstart_classify", "--run-dir", str(tmp_path / "a_file" / "run"))
    _assert_one_error(proc, 1, "a_file is a file, not a directory", "--run-dir")


def test_read_only_run_dir_for_run(tmp_path, read_only):
    folder = tmp_path / "ro"
    folder.mkdir()
    prefix = read_only(folder)
    for run_dir in (folder, folder / "new"):
        proc = _cli("run", "quickstart_classify", "--run-dir", str(run_dir), prefix=prefix)
        _assert_one_error(proc, 1, f"cannot create files in {folder}", "--run-dir")
    proc = _cli("run", "quickstart_classify", cwd=folder, prefix=prefix)  # default runs/ here
    _assert_one_error(proc, 1, "cannot create files", "pass --run-dir")


@pytest.mark.parametrize("command", [["evaluate"], ["export"], ["evaluate", "--data", "DATA"]])
def test_read_only_run_dir_for_evaluate_and_export(tmp_path, read_only, command, tiny_corpus):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("name: x\n")
    prefix = read_only(run_dir)
    command = [str(tiny_corpus) if word == "DATA" else word for word in command]
    proc = _cli(*command, str(run_dir), prefix=prefix)
    _assert_one_error(proc, 1, f"Run directory {run_dir}", "chmod -R u+w")


def test_invalid_utf8_predict_text(tmp_path):
    proc = _cli("predict", str(tmp_path), b"\xff\xfehello")
    _assert_one_error(proc, 2, "TEXTS", "not valid UTF-8", r"b'\xff\xfehello'")


def test_invalid_utf8_generate_prompt(tmp_path):
    proc = _cli("generate", str(tmp_path), "--prompt", b"ab\xff")
    _assert_one_error(proc, 2, "'--prompt'", "not valid UTF-8", "0xff at character 2")


def test_invalid_utf8_set_value():
    proc = _cli("config", "show", "quickstart_classify", "--set", b"name=\xe9t\xe9")
    _assert_one_error(proc, 2, "'--set'", "not valid UTF-8")


def test_generate_seed_out_of_range(tmp_path):
    proc = _cli("generate", str(tmp_path), "--seed", str(2**70))
    _assert_one_error(proc, 2, "'--seed'", str(2**70))


@pytest.mark.parametrize(
    "args",
    [
        ["--set", f"seed={2**70}"],
        ["--set", "data.split_seed=-1"],
        ["--seeds", f"1,{2**70}"],
        ["--seeds", "0"],
        ["--seeds", "1,1"],
        ["--seeds", "a,b"],
    ],
)
def test_run_seed_out_of_range(tmp_path, args):
    proc = _cli("run", "quickstart_classify", "--run-dir", str(tmp_path / "run"), *args)
    _assert_one_error(proc, 1, "seed")
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory, tiny_corpus):
    """A real run interrupted in its first epoch: state saved, no model.keras."""
    tmp_path = tmp_path_factory.mktemp("interrupted")
    config = load_config(write_pipeline(tmp_path, tiny_corpus), ["train.epochs=3"])
    original = keras.callbacks.CSVLogger.on_epoch_end

    def interrupt(self, epoch, logs=None):
        original(self, epoch, logs)
        raise KeyboardInterrupt

    keras.callbacks.CSVLogger.on_epoch_end = interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            build_pipeline(config).run(run_dir=tmp_path / "run")
    finally:
        keras.callbacks.CSVLogger.on_epoch_end = original
    run_dir = tmp_path / "run"
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "interrupted"
    assert (run_dir / "preprocessor.json").is_file() and not (run_dir / "model.keras").exists()
    return run_dir


@pytest.mark.slow  # trains a run, then two CLI processes
@pytest.mark.parametrize("command", ["evaluate", "export"])
def test_interrupted_run_without_model(interrupted_run, command):
    proc = _cli(command, str(interrupted_run))
    _assert_one_error(proc, 1, "model.keras is missing", str(interrupted_run))
    assert not (interrupted_run / "export").exists()
