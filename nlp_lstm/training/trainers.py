"""Trainers: what trains a task's model, on one device or under a tf.distribute strategy.

`Trainer` runs `model.fit` with the run's callbacks (`nlp_lstm.training.fit`). `DistributedTrainer`
runs the custom loop (`nlp_lstm.training.custom_loop`), because `model.fit` fails under
MultiWorkerMirroredStrategy, on batches of the per-replica size. `trainer_for` picks one from the
strategy that `train.distribution` resolved to. The task only supplies its batches, its loss and
metrics and its callbacks; it never changes its own config to be trained.
"""

import copy
import dataclasses

from nlp_lstm.config.checks import EMA_UNDER_A_STRATEGY
from nlp_lstm.data.inputs import PaddingCounter
from nlp_lstm.errors import ConfigError
from nlp_lstm.training import custom_loop, distribution
from nlp_lstm.training import fit as fitting


class Trainer:
    """Trains `task.model` on one device with `model.fit` and the run's callbacks.

    Args:
        task: Task. A task whose data is read, whose stages are adapted and whose model is built.

    Example:
    >>> from nlp_lstm.training.trainers import Trainer
    >>> Trainer.__name__
    'Trainer'
    """

    def __init__(self, task):
        self.task = task

    def train(self, run_dir, extra_callbacks=(), **fit_options):
        """Trains and returns the Keras History; `fit_options` go to `training.fit.fit` (the tuner
        passes its epochs and verbosity). A streamed corpus caches its token ids in
        RUN_DIR/token_ids."""
        task = self.task
        task.use_run_dir(run_dir)
        counter = PaddingCounter() if task.counts_padding else None
        validation = task.datasets("validation") if task.has_split("validation") else None
        try:
            return fitting.fit(
                task.model,
                task.datasets("train", True, counter),
                validation,
                task.config.train,
                str(run_dir),
                task.steps_per_epoch(),
                counter,
                extra_callbacks=task.training_callbacks(task.model, run_dir)
                + list(extra_callbacks),
                **task.compile_arguments(),
                **fit_options,
            )
        finally:
            task.after_training(task.model)


class DistributedTrainer(Trainer):
    """Trains `task.model` (built in `strategy.scope()`) with the custom tf.distribute loop.

    Each replica reads batches of `train.batch_size / replicas` examples (and
    `train.batch_tokens / replicas` tokens), made by a copy of the task whose config says so; the
    task itself keeps the global config.

    Args:
        task: Task. As for `Trainer`, with the model built under `strategy.scope()`.
        strategy: tf.distribute.Strategy. The strategy the model was built under.
        resume_source: str or None. The run directory a resumed run continues from.
    """

    def __init__(self, task, strategy, resume_source=None):
        super().__init__(task)
        self.strategy = strategy
        self.resume_source = resume_source

    def check(self):
        """Refuses what sharded, replicated training cannot do, naming the keys to change."""
        config = self.task.config
        if getattr(config.data, "stateful_batches", False):
            raise ConfigError(
                "data.stateful_batches carries LSTM states from batch to batch, which sharded "
                "batches cannot do. Received: data.stateful_batches=True with a multi-replica "
                "train.distribution. Set one of them off."
            )
        if config.train.ema_momentum is not None:  # train.distribution: auto, on a cluster
            raise ConfigError(
                f"{EMA_UNDER_A_STRATEGY} Received: train.ema_momentum="
                f"{config.train.ema_momentum} with a tf.distribute strategy."
            )

    def replica_task(self):
        """A shallow copy of the task whose `config.train` has the per-replica batch sizes."""
        task, replicas = self.task, self.strategy.num_replicas_in_sync
        train = task.config.train
        per_replica = dataclasses.replace(
            train,
            batch_size=distribution.per_replica_batch(train.batch_size, replicas),
            batch_tokens=train.batch_tokens // replicas,
        )
        replica = copy.copy(task)
        replica.config = dataclasses.replace(task.config, train=per_replica)
        return replica

    def train(self, run_dir, extra_callbacks=(), **fit_options):
        self.check()
        task = self.task
        task.use_run_dir(run_dir)
        replica = self.replica_task()
        counter = PaddingCounter() if task.counts_padding else None
        try:
            steps = distribution.steps_per_epoch(
                replica.steps_per_epoch(), self.strategy.num_replicas_in_sync
            )
            validation = replica.datasets("validation") if task.has_split("validation") else None
            return custom_loop.fit(
                task.model,
                replica.datasets("train", True, counter),
                validation,
                task.config.train,
                str(run_dir),
                steps,
                self.strategy,
                counter,
                extra_callbacks=task.training_callbacks(task.model, run_dir)
                + list(extra_callbacks),
                resume_source=self.resume_source,
                **task.compile_arguments(),
                **fit_options,
            )
        finally:
            task.after_training(task.model)


def trainer_for(task, strategy=None, resume_source=None):
    """The trainer for `task`: `Trainer` on one device (strategy None), else
    `DistributedTrainer` (`train.distribution` resolved to a tf.distribute strategy)."""
    if strategy is None:
        return Trainer(task)
    return DistributedTrainer(task, strategy, resume_source)
