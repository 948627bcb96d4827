"""Compile and fit a model from `TrainConfig`: optimizer, schedule, clipping, callbacks, resume."""

import logging
import os
import time
import warnings

import keras

from nlp_lstm import rundir
from nlp_lstm.config import TrainConfig

logger = logging.getLogger(__name__)

OPTIMIZERS = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
              "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop,
              "nadam": keras.optimizers.Nadam}


def learning_rate(train: TrainConfig, steps_per_epoch):
    """A float or a Keras schedule, per `train.lr_schedule`."""
    lr = train.learning_rate
    warmup = int(round(train.warmup_epochs * steps_per_epoch))
    if train.lr_schedule == "cosine":
        total = max(train.epochs * steps_per_epoch - warmup, 1)
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                0.0, total, alpha=0.0, warmup_target=lr, warmup_steps=warmup)
        return keras.optimizers.schedules.CosineDecay(lr, total)
    if train.lr_schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=steps_per_epoch, decay_rate=train.lr_decay_rate)
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
        kwargs.update(use_ema=True, ema_momentum=train.ema_momentum,
                      ema_overwrite_frequency=steps_per_epoch)
    return OPTIMIZERS[train.optimizer](**kwargs)


class PaddingShare(keras.callbacks.Callback):
    """Adds `padding_share` (padding positions / all positions in the train batches) to the epoch logs."""

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
        state = rundir.read_json(self.state_path)
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
            logger.info("train.time_budget_minutes=%g: stopping after epoch %d; %.1f min spent "
                        "and the next epoch could take %.1f min.", self.budget / 60, epoch + 1,
                        self.spent / 60, self.slowest / 60)
        rundir.atomic_write_json(self.state_path, {
            "seconds": round(self.spent, 3), "slowest_epoch_seconds": round(self.slowest, 3),
            "budget_seconds": self.budget, "stopped_after_epoch": self.stopped_after_epoch})


def callbacks(train: TrainConfig, run_dir, counter=None):
    """Padding share, early stopping, best checkpoint, resumable backup, TensorBoard, CSV history."""
    out = []
    if counter is not None:
        out.append(PaddingShare(counter))
    if train.early_stopping_patience:
        out.append(keras.callbacks.EarlyStopping(monitor=train.monitor,
                                                 patience=train.early_stopping_patience,
                                                 restore_best_weights=True, verbose=1))
    if train.lr_schedule == "reduce_on_plateau":
        out.append(keras.callbacks.ReduceLROnPlateau(monitor=train.monitor,
                                                     factor=train.lr_decay_rate, patience=1,
                                                     verbose=1))
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    if train.time_budget_minutes is not None:
        out.append(TimeBudget(train.time_budget_minutes,
                              os.path.join(run_dir, "checkpoints", "time_budget.json")))
    out += [
        keras.callbacks.ModelCheckpoint(os.path.join(run_dir, "checkpoints", "best.weights.h5"),
                                        monitor=train.monitor, save_best_only=True,
                                        save_weights_only=True),
        # Saves the state every epoch; a resumed run continues from the last finished epoch.
        keras.callbacks.BackupAndRestore(os.path.join(run_dir, "checkpoints", "backup")),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), profile_batch=0),
        keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv"), append=True),
    ]
    return out


def fit(model, train_ds, validation_ds, train: TrainConfig, run_dir, steps_per_epoch,
        counter=None, loss="sparse_categorical_crossentropy", metrics=("accuracy",),
        extra_callbacks=(), epochs=None, initial_epoch=0, verbose=None):
    """Compiles `model` and trains it with the run's callbacks; returns the Keras History.

    A run and every tuning trial train through here. `epochs`, `initial_epoch` and `verbose`
    default to the config; the tuner sets them for its trials.
    """
    model.compile(optimizer=build_optimizer(train, steps_per_epoch), loss=loss,
                  metrics=list(metrics))
    with warnings.catch_warnings():
        # Length-bucketed datasets have no known size; Keras warns about that at every epoch end.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        return model.fit(train_ds, validation_data=validation_ds,
                         epochs=train.epochs if epochs is None else epochs,
                         initial_epoch=initial_epoch,
                         callbacks=callbacks(train, run_dir, counter) + list(extra_callbacks),
                         verbose=train.verbose if verbose is None else verbose,
                         shuffle=False)
