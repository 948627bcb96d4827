"""A trained run's data checks from the command line: splits it lacks, its leakage counts."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# They need a trained run (the session's classifier_run: minutes on a shared 2-core CPU).
pytestmark = pytest.mark.slow


def test_evaluate_a_split_the_run_lacks_is_one_line_and_exit_1(classifier_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(classifier_run, run)
    config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    config["data"]["split_fractions"] = {"train": 0.9, "validation": 0.1}  # no test split
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "nlp_lstm.cli", "evaluate", str(run), "--split", "test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1 and proc.stdout == "", proc.stderr
    assert proc.stderr.strip() == (
        f"Error: {run}'s data has no test split (splits: train, validation). Score one of "
        f"those, or a new file (`nlp-lstm evaluate RUN_DIR --data FILE`)."
    )


def test_the_manifest_records_the_leakage_check(classifier_run):
    manifest = json.loads((Path(classifier_run) / "manifest.json").read_text(encoding="utf-8"))
    leakage = manifest["data"]["leakage"]
    assert leakage["unit"] == "examples" and leakage["warn_share"] == 0.01
    counts = manifest["data"]["counts"]
    for pair in ("validation_in_train", "test_in_train", "test_in_validation"):
        later = pair.partition("_in_")[0]
        assert leakage[pair]["examples"] == counts[later]
        assert 0 <= leakage[pair]["exact"] <= leakage[pair]["normalised"] <= counts[later]
