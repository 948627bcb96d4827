"""Packaging promises: pinned TF/TF-Text, the CI command is the README's, sample data is learnable."""

import configparser
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_tensorflow_and_text_pinned_to_same_minor():
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    requires = parser["options"]["install_requires"]
    tf = re.search(r"^tensorflow~=(\d+\.\d+)\.", requires, re.M)
    text = re.search(r"^tensorflow-text~=(\d+\.\d+)\.", requires, re.M)
    assert tf and text and tf.group(1) == text.group(1) == "2.21"
    for name in ("keras", "keras-tuner", "tensorboard", "datasets", "click"):
        assert re.search(rf"^{name}\b", requires, re.M), name


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.+?)\n```", readme)
    ci_command = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci_command in commands
    assert any("nlp-lstm run pipelines/quickstart_classify.yaml" in c for c in commands)


def test_sample_set_is_balanced_and_shipped():
    from nlp_lstm.data import SAMPLES_DIR
    rows = (SAMPLES_DIR / "sentiment.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "text\tlabel"
    labels = [row.rsplit("\t", 1)[1] for row in rows[1:]]
    assert len(labels) >= 2000
    assert abs(labels.count("positive") - labels.count("negative")) <= len(labels) * 0.05
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    assert "samples/*.tsv" in parser["options.package_data"]["nlp_lstm"]


def test_mr_data_splits_80_10_10(shared_data):
    from nlp_lstm.config import load_config
    from nlp_lstm.data import read_dataset
    config = load_config(ROOT / "pipelines" / "mr_bilstm.yaml", data_dir=str(shared_data))
    data = read_dataset(config)
    counts = data.counts()
    assert sum(counts.values()) == 10662
    assert counts == {"train": 8530, "validation": 1066, "test": 1066}
    for split in data.splits.values():
        assert abs(split["label"].mean() - 0.5) < 0.01
    assert read_dataset(config).fingerprint == data.fingerprint


@pytest.mark.parametrize("script", ["make_sentiment", "make_play", "make_phrasebook"])
def test_sample_files_regenerate_byte_for_byte(script):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "samples" / f"{script}.py"),
                           "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
