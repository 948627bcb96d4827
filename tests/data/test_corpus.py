"""Running text for language models: contiguous splits in order, sample texts, bad input."""

import pytest

from nlp_lstm.config.loading import config_from_dict
from nlp_lstm.data import inputs
from nlp_lstm.data.running_text import read_corpus
from nlp_lstm.errors import InputDataError
from nlp_lstm.training.trainers import Trainer


def _config(**data):
    return config_from_dict(
        {
            "task": "generation",
            "data": data,
            "stages": [{"type": "character_tokenizer"}, {"type": "vocabulary"}],
            "model": {"type": "lstm_causal_lm"},
        }
    )


def test_contiguous_split_keeps_order_and_newlines(tmp_path):
    text = "".join(f"line {i}\n" for i in range(100))
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    corpus = read_corpus(
        _config(path=str(tmp_path / "t.txt"), split_fractions={"train": 0.9, "validation": 0.1})
    )
    assert corpus.splits["train"] + corpus.splits["validation"] == text
    assert len(corpus.splits["train"]) == round(len(text) * 0.9)
    assert corpus.splits["train"].startswith("line 0\n")
    assert corpus.counts() == {
        "train": len(corpus.splits["train"]),
        "validation": len(corpus.splits["validation"]),
    }


def test_sample_play_and_max_examples():
    corpus = read_corpus(
        _config(
            source="sample",
            sample="play",
            max_examples=1000,
            split_fractions={"train": 0.9, "validation": 0.1},
        )
    )
    assert corpus.counts() == {"train": 1000, "validation": 1000}  # at most 1000 per split
    assert len(corpus.fingerprint) == 64


def test_bad_inputs(tmp_path):
    with pytest.raises(InputDataError, match="no sample text 'nope'"):
        read_corpus(_config(source="sample", sample="nope"))
    (tmp_path / "bad.txt").write_bytes(b"ok\nbad \xff\n")
    with pytest.raises(InputDataError, match=r"bad.txt:2"):
        read_corpus(_config(path=str(tmp_path / "bad.txt")))
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(InputDataError, match="empty"):
        read_corpus(_config(path=str(tmp_path / "empty.txt")))


def _window_task(tmp_path, random_offsets):
    import random

    from nlp_lstm.pipeline import build_pipeline

    rng = random.Random(0)
    text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(400))
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    config = config_from_dict(
        {
            "task": "generation",
            "seed": 3,
            "data": {
                "path": str(tmp_path / "t.txt"),
                "window_length": 10,
                "split_fractions": {"train": 0.9, "validation": 0.1},
                "random_window_offsets": random_offsets,
            },
            "stages": [{"type": "character_tokenizer"}, {"type": "vocabulary"}],
            "model": {"type": "lstm_causal_lm"},
            "train": {"batch_size": 4},
        }
    )
    task = build_pipeline(config).task
    task.read()
    task.adapt()
    return task


def _epoch_windows(dataset, epoch=None):
    """The windows of one pass; `epoch` sets the epoch counter first, as `training.fit` does."""
    if epoch is not None:
        inputs.training_epoch().assign(epoch)
    return [(tuple(x), tuple(y)) for xs, ys in dataset.as_numpy_iterator() for x, y in zip(xs, ys)]


@pytest.mark.parametrize("random_offsets", [True, False])
def test_training_windows_are_slices_with_shifted_targets(tmp_path, random_offsets):
    task = _window_task(tmp_path, random_offsets)
    ids = list(task.token_ids("train"))
    stream = ",".join(map(str, ids))
    dataset = task.datasets("train", training=True)
    first, second = _epoch_windows(dataset, 0), _epoch_windows(dataset, 1)
    for x, y in first + second:
        assert len(x) == len(y) == 10
        assert y[:-1] == x[1:]
        # x followed by y's last token is a contiguous piece of the token stream.
        assert ",".join(map(str, x + y[-1:])) in stream
    if random_offsets:
        assert len(first) == len(ids) // 10 - 1
        # Offsets are drawn anew each epoch, yet a fresh dataset repeats the same sequence.
        assert sorted(first) != sorted(second)
        again = _epoch_windows(task.datasets("train", training=True), 0)
        assert again == first
    else:
        assert sorted(first) == sorted(second)
        assert len(first) == (len(ids) - 1) // 10


def test_stream_loss_carries_states_across_windows(tmp_path):
    import dataclasses

    import keras
    import numpy as np

    task = _window_task(tmp_path, True)
    task.config = dataclasses.replace(
        task.config, evaluate=dataclasses.replace(task.config.evaluate, batch_size=1)
    )
    model = task.build_model()
    ids = task.token_ids("validation")
    windows = (len(ids) - 1) // 10
    loss, tokens = task.stream_loss("validation")
    # One pass over the whole usable stream gives the same mean loss as window-by-window states.
    usable = windows * 10
    logits = model(ids[None, :usable], training=False)
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        ids[None, 1 : usable + 1], logits
    )
    assert tokens == usable
    np.testing.assert_allclose(loss, float(expected), rtol=1e-5)
    # Starting every window from zero states gives a different number.
    metrics = task.evaluate(tmp_path, ["validation"])["validation"]
    assert metrics["loss"] == round(loss, 4)
    assert metrics["loss_independent_windows"] != metrics["loss"]


def _stream_task(tmp_path, random_offsets):
    import dataclasses

    task = _window_task(tmp_path, random_offsets)
    task.config = dataclasses.replace(
        task.config, data=dataclasses.replace(task.config.data, stateful_batches=True)
    )
    return task


@pytest.mark.parametrize("random_offsets", [True, False])
def test_stateful_batches_continue_each_row(tmp_path, random_offsets):
    task = _stream_task(tmp_path, random_offsets)
    ids = list(task.token_ids("train"))
    stream = ",".join(map(str, ids))
    dataset = task.datasets("train", training=True)
    epochs = []
    for epoch in range(2):
        inputs.training_epoch().assign(epoch)  # as training.fit does in on_epoch_begin
        epochs.append([(x.tolist(), y.tolist()) for x, y in dataset.as_numpy_iterator()])
    for batches in epochs:
        assert len(batches) == task.steps_per_epoch() == ((len(ids) - 10) // 4) // 10
        for row in range(4):
            xs = sum((x[row] for x, _ in batches), [])
            ys = sum((y[row] for _, y in batches), [])
            # Row i of consecutive batches is one contiguous run of text; targets shift by one.
            assert ys[:-1] == xs[1:]
            assert ",".join(map(str, xs + ys[-1:])) in stream
        for x, y in batches:
            assert len(x) == len(y) == 4 and all(len(r) == 10 for r in x)
    if random_offsets:
        assert epochs[0] != epochs[1]
        inputs.training_epoch().assign(0)
        again = [
            (x.tolist(), y.tolist())
            for x, y in task.datasets("train", training=True).as_numpy_iterator()
        ]
        assert again == epochs[0]
    else:
        assert epochs[0] == epochs[1]


@pytest.mark.slow
def test_stateful_batches_train_and_reject_too_short_text(tmp_path):
    import dataclasses

    from nlp_lstm.errors import ConfigError

    task = _stream_task(tmp_path, True)
    task.config = dataclasses.replace(
        task.config, train=dataclasses.replace(task.config.train, epochs=2, verbose=0)
    )
    task.build_model()
    history = Trainer(task).train(tmp_path / "run")
    assert len(history.history["loss"]) == task.config.train.epochs
    assert all(loss == loss for loss in history.history["loss"])  # finite, not NaN
    assert task.model._carried is None  # switched off after training
    task.config = dataclasses.replace(
        task.config, train=dataclasses.replace(task.config.train, batch_size=64)
    )
    with pytest.raises(ConfigError, match="stateful_batches.*train.batch_size=64"):
        task.datasets("train", training=True)
