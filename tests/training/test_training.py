"""Tests for nlp_lstm/training/fit.py: the training time budget, including across a resume."""

import json
import types

from nlp_lstm.training import fit as training


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def run_epochs(callback, clock, durations, first_epoch=0):
    """Feeds `callback` epochs of the given durations until it stops training; returns how many
    ran."""
    callback.set_model(types.SimpleNamespace(stop_training=False))
    callback.on_train_begin()
    ran = 0
    for epoch, seconds in enumerate(durations, start=first_epoch):
        callback.on_epoch_begin(epoch)
        clock.now += seconds
        callback.on_epoch_end(epoch)
        ran += 1
        if callback.model.stop_training:
            break
    return ran


def test_stops_before_an_epoch_that_would_overrun(tmp_path, monkeypatch, caplog):
    caplog.set_level("INFO", logger="nlp_lstm")
    clock = Clock()
    monkeypatch.setattr(training.time, "monotonic", clock)
    state = tmp_path / "time_budget.json"
    budget = training.TimeBudget(minutes=10, state_path=str(state))  # 600 s
    # 100 + 150 + 120 + 130 = 500 s spent; the slowest epoch (150 s) would end at 650 s.
    assert run_epochs(budget, clock, [100, 150, 120, 130, 100, 100]) == 4
    assert budget.stopped_after_epoch == 4
    saved = json.loads(state.read_text())
    assert saved == {
        "seconds": 500.0,
        "slowest_epoch_seconds": 150.0,
        "budget_seconds": 600.0,
        "stopped_after_epoch": 4,
    }
    assert "stopping after epoch 4" in caplog.text


def test_a_resumed_run_counts_the_time_already_spent(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(training.time, "monotonic", clock)
    state = tmp_path / "time_budget.json"
    first = training.TimeBudget(minutes=10, state_path=str(state))
    assert run_epochs(first, clock, [200, 200]) == 2  # interrupted after 400 s, not stopped
    assert first.stopped_after_epoch is None
    resumed = training.TimeBudget(minutes=10, state_path=str(state))
    # 400 s already spent: one more 200 s epoch reaches 600 s, and a next one would not fit.
    assert run_epochs(resumed, clock, [150, 150, 150], first_epoch=2) == 1
    assert json.loads(state.read_text())["seconds"] == 550.0


def test_no_budget_adds_no_callback(tmp_path):
    from nlp_lstm.config.loading import TrainConfig

    names = {type(c).__name__ for c in training.callbacks(TrainConfig(), str(tmp_path))}
    assert "TimeBudget" not in names
    names = {
        type(c).__name__
        for c in training.callbacks(TrainConfig(time_budget_minutes=5.0), str(tmp_path))
    }
    assert "TimeBudget" in names
