"""Determinism, interruption and resume of whole runs (tiny data)."""

import csv
import json

import keras
import pytest

from nlp_lstm import build_pipeline, load_config
from nlp_lstm.errors import RunDirError
from tests.testing import write_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _run(pipeline_path, run_dir, **kwargs):
    config = load_config(pipeline_path, ["steps=[train, evaluate]"])
    return build_pipeline(config).run(run_dir=run_dir, **kwargs)


def test_same_seed_gives_same_metrics(tmp_path, tiny_corpus):
    pipeline = write_pipeline(tmp_path, tiny_corpus)
    first = _run(pipeline, tmp_path / "a")
    second = _run(pipeline, tmp_path / "b")
    assert first.metrics == second.metrics
    assert (tmp_path / "a" / "history.csv").read_text() == (
        tmp_path / "b" / "history.csv"
    ).read_text()


def test_interrupted_run_resumes(tmp_path, tiny_corpus, monkeypatch):
    pipeline = write_pipeline(
        tmp_path, tiny_corpus, "train: {epochs: 3, early_stopping_patience: 0}\n"
    )
    original = keras.callbacks.CSVLogger.on_epoch_end

    def interrupt_after_first_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", interrupt_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        _run(pipeline, tmp_path / "run")
    monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", original)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    with pytest.raises(RunDirError, match="--resume"):
        _run(pipeline, tmp_path / "run")
    result = _run(pipeline, tmp_path / "run", resume=True)
    assert result.manifest["status"] == "finished" and result.manifest["resumed"]
    with open(tmp_path / "run" / "history.csv") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == [0, 1, 2]
    assert "test" in result.metrics
