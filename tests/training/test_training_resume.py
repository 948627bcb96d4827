"""Tests for the resume state, the per-epoch input order and the NaN stop
(nlp_lstm/training/fit.py)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.data import inputs
from nlp_lstm.errors import TrainingError
from nlp_lstm.training import fit as training


def _data(seed=3):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int64")
    return tf.data.Dataset.from_tensor_slices((x, y))


def _model():
    keras.utils.set_random_seed(11)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    return model


class Interrupt(keras.callbacks.Callback):
    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after_epoch:
            raise KeyboardInterrupt


def _fit(model, path, epochs=4, extra=()):
    train = inputs.shuffled_per_epoch(_data(), 64, seed=5).batch(16)
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    others = [training.EpochClock(), stop, *extra]
    return model.fit(
        train,
        epochs=epochs,
        verbose=0,
        shuffle=False,
        callbacks=others + [training.ResumeState(str(path), others)],
    )


def test_each_epochs_order_is_a_function_of_seed_and_epoch():
    dataset = inputs.shuffled_per_epoch(tf.data.Dataset.range(20), 20, seed=9)
    orders = {}
    for epoch in (0, 1, 2, 1):
        inputs.training_epoch().assign(epoch)
        orders.setdefault(epoch, []).append(list(dataset.as_numpy_iterator()))
    assert orders[1][0] == orders[1][1]  # the same epoch again: the same order
    assert orders[0][0] != orders[1][0] != orders[2][0]
    assert sorted(orders[2][0]) == list(range(20))
    assert int(dataset.cardinality()) == 20


def test_an_interrupted_fit_resumes_bit_identically(tmp_path):
    reference = _model()
    _fit(reference, tmp_path / "a.npz")
    resumed = _model()
    with pytest.raises(KeyboardInterrupt):
        _fit(resumed, tmp_path / "b.npz", extra=[Interrupt(after_epoch=2)])
    # Epochs 0 and 1 were saved; epoch 2 ended without a save (the interrupt came first).
    with np.load(tmp_path / "b.npz") as saved:
        assert json.loads(str(saved["meta"]))["epoch"] == 2
    again = _model()  # a new process would rebuild the model from the seed, as here
    history = _fit(again, tmp_path / "b.npz")
    assert history.epoch == [2, 3]
    for want, got in zip(reference.get_weights(), again.get_weights()):
        assert np.array_equal(want, got)
    assert not (tmp_path / "b.npz").exists()  # deleted when the fit ended


def test_a_nan_loss_stops_training_with_one_clear_error():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.array([[1.0, 2.0], [np.nan, 1.0]] * 4, dtype="float32")
    with pytest.raises(
        TrainingError,
        match=r"The training loss became nan at epoch 1, batch 1; "
        r"training stopped\. Lower train\.learning_rate",
    ):
        model.fit(
            x,
            np.ones([8, 1], "float32"),
            batch_size=8,
            epochs=2,
            verbose=0,
            callbacks=[training.StopOnNonFiniteLoss()],
        )


def test_history_rows_of_epochs_to_run_again_are_dropped(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,0.9\n1,0.8\n2,0.7\n")
    training.keep_history_before(str(path), 2)
    assert path.read_text().splitlines() == ["epoch,loss", "0,0.9", "1,0.8"]
    training.keep_history_before(str(path), 0)
    assert path.read_text() == ""
