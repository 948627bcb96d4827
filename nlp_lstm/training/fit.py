"""Compile and fit a model from `TrainConfig`: optimizer, schedule, clipping, callbacks, resume."""

import csv
import json
import logging
import math
import os
import random
import tempfile
import time
import warnings

import keras
import numpy as np

from nlp_lstm import artifacts
from nlp_lstm.config.loading import TrainConfig
from nlp_lstm.data import inputs
from nlp_lstm.errors import RunDirError, TrainingError

logger = logging.getLogger(__name__)

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "nadam": keras.optimizers.Nadam,
}


def learning_rate(train: TrainConfig, steps_per_epoch):
    """A float or a Keras schedule, per `train.lr_schedule`."""
    lr = train.learning_rate
    warmup = int(round(train.warmup_epochs * steps_per_epoch))
    if train.lr_schedule == "cosine":
        total = max(train.epochs * steps_per_epoch - warmup, 1)
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                0.0, total, alpha=0.0, warmup_target=lr, warmup_steps=warmup
            )
        return keras.optimizers.schedules.CosineDecay(lr, total)
    if train.lr_schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=steps_per_epoch, decay_rate=train.lr_decay_rate
        )
    return lr


def build_optimizer(train: TrainConfig, steps_per_epoch):
    kwargs = {"learning_rate": learning_rate(train, steps_per_epoch)}
    if train.clipnorm is not None:
        kwargs["clipnorm"] = train.clipnorm
    if train.clipvalue is not None:
        kwargs["clipvalue"] = train.clipvalue
    if train.optimizer == "adamw":
        kwargs["weight_decay"] = train.weight_decay
    if train.ema_momentum is not None:
        # Copy the averaged weights into the model once per epoch, so validation, early stopping
        # and checkpoints all see the averaged model.
        kwargs.update(
            use_ema=True, ema_momentum=train.ema_momentum, ema_overwrite_frequency=steps_per_epoch
        )
    return OPTIMIZERS[train.optimizer](**kwargs)


class PaddingShare(keras.callbacks.Callback):
    """Adds `padding_share` (padding positions / all positions in the train batches) to the
    epoch logs."""

    def __init__(self, counter):
        super().__init__()
        self.counter = counter

    def on_epoch_begin(self, epoch, logs=None):
        self.counter.reset()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["padding_share"] = round(self.counter.share(), 4)


class TimeBudget(keras.callbacks.Callback):
    """Stops training before an epoch that would end past `minutes` of training.

    The next epoch is projected to take as long as the slowest one so far. The time spent is
    kept in `state_path` after every epoch, so a resumed run counts what it already used.
    """

    def __init__(self, minutes, state_path):
        super().__init__()
        self.budget = minutes * 60.0
        self.state_path = state_path
        self.spent = 0.0
        self.slowest = 0.0
        self.stopped_after_epoch = None

    def on_train_begin(self, logs=None):
        state = artifacts.read_json(self.state_path)
        if state:
            self.spent, self.slowest = state["seconds"], state["slowest_epoch_seconds"]

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        took = time.monotonic() - self._start
        self.spent += took
        self.slowest = max(self.slowest, took)
        stop = self.spent + self.slowest > self.budget
        if stop:
            self.stopped_after_epoch = epoch + 1
            self.model.stop_training = True
            logger.info(
                "train.time_budget_minutes=%g: stopping after epoch %d; %.1f min spent "
                "and the next epoch could take %.1f min.",
                self.budget / 60,
                epoch + 1,
                self.spent / 60,
                self.slowest / 60,
            )
        artifacts.atomic_write_json(
            self.state_path,
            {
                "seconds": round(self.spent, 3),
                "slowest_epoch_seconds": round(self.slowest, 3),
                "budget_seconds": self.budget,
                "stopped_after_epoch": self.stopped_after_epoch,
            },
        )


class EpochClock(keras.callbacks.Callback):
    """Sets `inputs.training_epoch()` to the epoch about to run, before Keras opens its iterator."""

    def on_epoch_begin(self, epoch, logs=None):
        inputs.training_epoch().assign(epoch)


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises TrainingError as soon as a train batch's loss is NaN or infinite."""

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            raise TrainingError(
                f"The training loss became {float(loss)} at epoch {self.epoch + 1}, batch "
                f"{batch + 1}; training stopped. Lower train.learning_rate or set "
                f"train.clipnorm, and check the data."
            )


# What each callback needs to continue as if never interrupted (its on_train_begin resets these).
CALLBACK_STATE = {
    keras.callbacks.EarlyStopping: ("wait", "stopped_epoch", "best", "best_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
    keras.callbacks.ModelCheckpoint: ("best",),
    TimeBudget: ("spent", "slowest", "stopped_after_epoch"),
}


def _encode(value):
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    return value


def _decode(value):
    return float(value["float"]) if isinstance(value, dict) else value


class ResumeState(keras.callbacks.Callback):
    """Saves after every epoch all that training needs to go on bit-identically, and restores it
    when a fit starts where a saved state exists.

    One file, `path` (an .npz written through a temporary file and a rename, so a kill leaves the
    previous epoch's state whole): every model variable (the weights, and the dropout seed
    generators' states that `save_weights` leaves out), every optimizer variable (step count,
    moments, learning rate, EMA averages), the state of the other callbacks (early stopping with
    its best weights, ReduceLROnPlateau, the best checkpoint's score, the time budget), the Python
    and NumPy global generators, and whether training was stopped. The input pipeline needs
    nothing saved: each epoch's order is a function of (seed, epoch) (`inputs.per_epoch`).
    Must come after the callbacks it restores, whose `on_train_begin` resets them. The file is
    deleted when the fit ends. `source` (default `path`) is where the state is read from: a
    non-chief worker of a multi-worker run reads the chief's and writes its own elsewhere.
    """

    def __init__(self, path, others=(), source=None):
        super().__init__()
        self.path = path
        self.source = source or path
        self.others = list(others)
        self.epochs_done = 0

    def saved_epoch(self):
        """Epochs finished in the saved state (None without one)."""
        if not os.path.isfile(self.source):
            return None
        with np.load(self.source, allow_pickle=False) as saved:
            return json.loads(str(saved["meta"]))["epoch"]

    def _states(self):
        for index, callback in enumerate(self.others):
            for kind, names in CALLBACK_STATE.items():
                if isinstance(callback, kind):
                    yield index, callback, names

    def on_train_begin(self, logs=None):
        self.epochs_done = 0
        if not os.path.isfile(self.source):
            return
        with np.load(self.source, allow_pickle=False) as saved:
            arrays = {key: saved[key] for key in saved.files}
        meta = json.loads(str(arrays["meta"]))
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        for prefix, variables in (
            ("model", self.model.variables),
            ("optimizer", optimizer.variables if optimizer else []),
        ):
            if meta[prefix] != len(variables):
                raise RunDirError(
                    f"{self.source} holds {meta[prefix]} {prefix} variables and this {prefix} has "
                    f"{len(variables)}: it was saved by another model. Delete it to train from "
                    f"the start."
                )
            for index, variable in enumerate(variables):
                variable.assign(arrays[f"{prefix}/{index}"])
        for index, callback, names in self._states():
            for name in names:
                setattr(callback, name, _decode(meta["callbacks"][str(index)][name]))
            if f"cb{index}/best_weights/0" in arrays:
                count = meta["callbacks"][str(index)]["best_weights"]
                callback.best_weights = [
                    arrays[f"cb{index}/best_weights/{i}"] for i in range(count)
                ]
        random.setstate((3, tuple(int(v) for v in arrays["python_random"]), None))
        np.random.set_state(
            ("MT19937", arrays["numpy_random"].astype(np.uint32), *meta["numpy_random_rest"])
        )
        self.epochs_done = meta["epoch"]
        # Nothing is left to run when the saved epoch had stopped training (early stop, budget).
        self.model._initial_epoch = self.params["epochs"] if meta["stopped"] else meta["epoch"]
        logger.info("Resuming training after epoch %d from %s.", meta["epoch"], self.source)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done = epoch + 1
        optimizer = self.model.optimizer
        arrays = {f"model/{i}": np.asarray(v) for i, v in enumerate(self.model.variables)}
        optimizer_variables = optimizer.variables if optimizer is not None else []
        arrays.update({f"optimizer/{i}": np.asarray(v) for i, v in enumerate(optimizer_variables)})
        states = {}
        for index, callback, names in self._states():
            states[str(index)] = {name: _encode(getattr(callback, name)) for name in names}
            best_weights = getattr(callback, "best_weights", None)
            if best_weights is not None:
                states[str(index)]["best_weights"] = len(best_weights)
                arrays.update(
                    {
                        f"cb{index}/best_weights/{i}": np.asarray(w)
                        for i, w in enumerate(best_weights)
                    }
                )
        python_state = random.getstate()
        numpy_state = np.random.get_state()
        arrays["python_random"] = np.asarray(python_state[1], dtype=np.int64)
        arrays["numpy_random"] = np.asarray(numpy_state[1], dtype=np.int64)
        meta = {
            "epoch": epoch + 1,
            "stopped": bool(self.model.stop_training),
            "model": len(self.model.variables),
            "optimizer": len(optimizer_variables),
            "callbacks": states,
            "numpy_random_rest": [int(numpy_state[2]), int(numpy_state[3]), float(numpy_state[4])],
        }
        arrays["meta"] = np.asarray(json.dumps(meta, allow_nan=False))
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".state.", suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **arrays)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def on_train_end(self, logs=None):
        if os.path.isfile(self.path):
            os.unlink(self.path)


def keep_history_before(path, epoch):
    """Drops the rows of the CSV history at `path` for epochs >= `epoch` (to be run again)."""
    if not os.path.isfile(path):
        return
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    column = header.index("epoch") if "epoch" in header else 0
    kept = [row for row in body if row and int(row[column]) < epoch]
    if len(kept) == len(body):
        return
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header] + kept if kept or epoch else [])


def callbacks(train: TrainConfig, run_dir, counter=None):
    """Epoch clock, NaN stop, padding share, early stopping, best checkpoint, TensorBoard, CSV
    history (`fit` adds the resume state last)."""
    out = [EpochClock(), StopOnNonFiniteLoss()]
    if counter is not None:
        out.append(PaddingShare(counter))
    if train.early_stopping_patience:
        out.append(
            keras.callbacks.EarlyStopping(
                monitor=train.monitor,
                patience=train.early_stopping_patience,
                restore_best_weights=True,
                verbose=1,
            )
        )
    if train.lr_schedule == "reduce_on_plateau":
        out.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=train.monitor, factor=train.lr_decay_rate, patience=1, verbose=1
            )
        )
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    if train.time_budget_minutes is not None:
        out.append(
            TimeBudget(
                train.time_budget_minutes, os.path.join(run_dir, "checkpoints", "time_budget.json")
            )
        )
    out += [
        keras.callbacks.ModelCheckpoint(
            os.path.join(run_dir, "checkpoints", "best.weights.h5"),
            monitor=train.monitor,
            save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), profile_batch=0),
        keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv"), append=True),
    ]
    return out


def fit(
    model,
    train_ds,
    validation_ds,
    train: TrainConfig,
    run_dir,
    steps_per_epoch,
    counter=None,
    loss="sparse_categorical_crossentropy",
    metrics=("accuracy",),
    extra_callbacks=(),
    epochs=None,
    initial_epoch=0,
    verbose=None,
):
    """Compiles `model` and trains it with the run's callbacks; returns the Keras History.

    A run and every tuning trial train through here. `epochs`, `initial_epoch` and `verbose`
    default to the config; the tuner sets them for its trials.

    A resumed fit continues after the last finished epoch saved in
    RUN_DIR/checkpoints/resume.npz (`ResumeState`); the history rows of later epochs are dropped
    first, since those epochs run again. The returned History has `epochs_done`: the epochs
    finished in all, counting those of an interrupted earlier process.
    """
    model.compile(
        optimizer=build_optimizer(train, steps_per_epoch), loss=loss, metrics=list(metrics)
    )
    run_callbacks = callbacks(train, run_dir, counter) + list(extra_callbacks)
    resume = ResumeState(os.path.join(run_dir, "checkpoints", "resume.npz"), run_callbacks)
    saved = resume.saved_epoch()
    keep_history_before(
        os.path.join(run_dir, "history.csv"), initial_epoch if saved is None else saved
    )
    with warnings.catch_warnings():
        # Length-bucketed datasets have no known size; Keras warns about that at every epoch end.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        history = model.fit(
            train_ds,
            validation_data=validation_ds,
            epochs=train.epochs if epochs is None else epochs,
            initial_epoch=initial_epoch,
            callbacks=run_callbacks + [resume],
            verbose=train.verbose if verbose is None else verbose,
            shuffle=False,
        )
    history.epochs_done = max(resume.epochs_done, initial_epoch + len(history.epoch))
    return history
