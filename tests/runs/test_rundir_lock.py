"""Run directories: the one-writer lock, the overwrite/resume rules, strict JSON, leftovers."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from nlp_lstm import artifacts
from nlp_lstm.cli import main
from nlp_lstm.errors import RunDirError
from nlp_lstm.runs import rundir

ROOT = Path(__file__).resolve().parents[2]


def _strict_loads(text):
    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def _hold_lock(run_dir):
    """A separate process holding `run_dir`'s lock until killed; returns it once it holds it."""
    code = textwrap.dedent(f"""
        import sys, time
        from nlp_lstm.runs import rundir
        lock = rundir.RunDirLock({str(run_dir)!r}).acquire()
        print("locked", flush=True)
        time.sleep(120)
        """)
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_second_process_is_told_who_holds_the_directory_and_a_kill_frees_it(tmp_path):
    run_dir = tmp_path / "run"
    holder = _hold_lock(run_dir)
    try:
        assert rundir.is_locked(run_dir)
        with pytest.raises(
            RunDirError,
            match=rf"{run_dir} is in use by process {holder.pid} "
            r"\(started .*\)\. Wait for it to finish",
        ):
            rundir.RunDirLock(run_dir).acquire()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    # The kernel dropped the dead process's lock: no stale marker to clean up by hand.
    assert not rundir.is_locked(run_dir)
    lock = rundir.RunDirLock(run_dir).acquire()
    assert rundir.lock_holder(run_dir)["pid"] == os.getpid()
    lock.release()
    assert not rundir.is_locked(run_dir)


def test_the_lock_is_reentrant_within_one_process(tmp_path):
    first = rundir.RunDirLock(tmp_path).acquire()
    second = rundir.RunDirLock(tmp_path).acquire()
    second.release()
    assert rundir.is_locked(tmp_path)
    first.release()
    assert not rundir.is_locked(tmp_path)


def _interrupted_run(run_dir, status="interrupted"):
    run_dir.mkdir()
    artifacts.atomic_write_json(run_dir / "manifest.json", {"status": status, "config_hash": "h"})
    (run_dir / "history.csv").write_text("epoch\n0\n")
    (run_dir / "checkpoints").mkdir()


def test_overwrite_empties_the_directory_but_keeps_the_lock_file(tmp_path):
    run_dir = tmp_path / "run"
    _interrupted_run(run_dir, status="finished")
    with rundir.RunDirLock(run_dir):
        assert rundir.prepare_run_dir(run_dir, "h", overwrite=True) is False
        assert [p.name for p in run_dir.iterdir()] == [rundir.LOCK_FILE]
        # A directory holding only its lock file is an empty one.
        assert rundir.prepare_run_dir(run_dir, "h") is False


def test_overwrite_and_resume_together_are_refused(tmp_path):
    run_dir = tmp_path / "run"
    _interrupted_run(run_dir, status="finished")
    with pytest.raises(RunDirError, match="--overwrite and --resume exclude each other"):
        rundir.prepare_run_dir(run_dir, "h", overwrite=True, resume=True)
    assert (run_dir / "history.csv").is_file()


@pytest.mark.parametrize("command", ["run", "train"])
def test_cli_overwrite_with_resume_is_a_usage_error(tmp_path, command):
    run_dir = tmp_path / "run"
    _interrupted_run(run_dir, status="finished")
    result = CliRunner().invoke(
        main, [command, "quickstart_classify", "--run-dir", str(run_dir), "--overwrite", "--resume"]
    )
    assert result.exit_code == 2, result.output
    assert "--overwrite and --resume exclude each other" in result.output
    assert (run_dir / "history.csv").is_file()


def test_strict_json_turns_non_finite_numbers_into_null(tmp_path):
    import numpy as np

    data = {
        "loss": float("nan"),
        "best": float("inf"),
        "rows": [1.5, float("-inf")],
        "np": np.float32("nan"),
        "ok": np.float64(0.25),
        "n": 3,
    }
    artifacts.atomic_write_json(tmp_path / "m.json", data)
    assert _strict_loads((tmp_path / "m.json").read_text()) == {
        "loss": None,
        "best": None,
        "rows": [1.5, None],
        "np": None,
        "ok": 0.25,
        "n": 3,
    }


def test_clean_leftovers_removes_a_killed_exports_temporary_folders(tmp_path):
    (tmp_path / ".export.tmp-abc123" / "variables").mkdir(parents=True)
    (tmp_path / ".export.old").mkdir()
    (tmp_path / "export").mkdir()
    rundir.clean_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]
    # Killed between its two renames: the previous export is moved back into place.
    (tmp_path / "export").rename(tmp_path / ".export.old")
    rundir.clean_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_lock_file_names_the_holder(tmp_path):
    with rundir.RunDirLock(tmp_path):
        holder = rundir.lock_holder(tmp_path)
    assert holder["pid"] == os.getpid() and holder["started"] <= rundir.now()
    assert holder["command"] == " ".join(sys.argv)[:500]


def _bad_data_pipeline(tmp_path):
    from tests.testing import write_pipeline

    data = tmp_path / "bad.tsv"
    data.write_text("text\tsentiment\na fine film\tpositive\n", encoding="utf-8")
    return write_pipeline(tmp_path, data)


def test_a_run_that_fails_on_its_data_leaves_no_half_made_directory(tmp_path):
    from nlp_lstm import build_pipeline, load_config
    from nlp_lstm.errors import NlpLstmError

    pipeline = build_pipeline(load_config(_bad_data_pipeline(tmp_path)))
    with pytest.raises(NlpLstmError, match="label"):
        pipeline.run(runs_root=tmp_path / "runs")
    assert list((tmp_path / "runs").iterdir()) == []


def test_an_explicit_run_dir_that_fails_on_its_data_is_marked_failed(tmp_path):
    from nlp_lstm import build_pipeline, load_config
    from nlp_lstm.errors import NlpLstmError

    pipeline = build_pipeline(load_config(_bad_data_pipeline(tmp_path)))
    run_dir = tmp_path / "mine"
    run_dir.mkdir()
    with pytest.raises(NlpLstmError):
        pipeline.run(run_dir=run_dir)
    manifest = _strict_loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "label" in manifest["error"]
    assert not rundir.is_locked(run_dir)
