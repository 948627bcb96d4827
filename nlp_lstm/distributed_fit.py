"""The training loop under a tf.distribute strategy (mirrored, multi-worker), driving the same
Keras callbacks as `model.fit`: early stopping, plateaus, checkpoints, TensorBoard, the CSV
history, the time budget, the NaN stop and `training.ResumeState`.

`model.fit` under MultiWorkerMirroredStrategy fails in Keras 3.15 (keras-team/keras#20585), so
each step is `strategy.run` of a replica step in a `tf.function`: the replica's mean loss (the
task's Keras loss, with its masks) divided by the replicas in sync, which is what
`tf.nn.compute_average_loss` gives when the replicas' batches are equal; the optimizer sums the
replicas' gradients (Keras 3 all-reduces in `apply_gradients`), clips each replica's share as
Keras does under a strategy, and applies them; `strategy.reduce(SUM)` gives the step's loss.

Validation runs in every worker on the whole validation split (the weights are the same
everywhere), so every worker's callbacks see the same `val_*` numbers and take the same early-stop
decision; a stop that only one worker's callbacks want (the time budget measures local clocks) is
agreed with one all-reduce at each epoch end, since a worker that stops alone hangs the others.
"""

import math

import keras
import tensorflow as tf

from nlp_lstm import distributed, training


class AgreedStop(keras.callbacks.Callback):
    """At each epoch end, every worker stops if any worker's callbacks asked to stop."""

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy

    def on_epoch_end(self, epoch, logs=None):
        wanted = tf.constant(1.0 if self.model.stop_training else 0.0)
        votes = self.strategy.reduce(tf.distribute.ReduceOp.SUM,
                                     self.strategy.run(lambda: tf.identity(wanted)), axis=None)
        self.model.stop_training = bool(float(votes) > 0)


def _metric(entry):
    """A fresh metric object for a compile `metrics` entry (built outside the strategy scope)."""
    if isinstance(entry, keras.metrics.Metric):
        return entry.__class__.from_config(entry.get_config())
    if entry == "accuracy":  # the tasks that say "accuracy" have integer labels
        return keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    return keras.metrics.MeanMetricWrapper(keras.metrics.get(entry), name=entry)


def _sum_over_workers(strategy, metrics):
    """Replaces each metric's variables by their sum over the workers (ratio metrics: totals and
    counts; several local replicas share one object, which scales both alike)."""
    for metric in metrics:
        for variable in metric.variables:
            local = tf.convert_to_tensor(variable)
            total = strategy.reduce(tf.distribute.ReduceOp.SUM,
                                    strategy.run(lambda value=local: tf.identity(value)),
                                    axis=None)
            variable.assign(total)


def fit(model, train_ds, validation_ds, train, run_dir, steps_per_epoch, strategy,
        counter=None, loss="sparse_categorical_crossentropy", metrics=("accuracy",),
        extra_callbacks=(), epochs=None, initial_epoch=0, verbose=None, resume_source=None):
    """Trains `model` (built under `strategy.scope()`) on `train_ds` under `strategy`.

    `train_ds` is the epoch's full batch sequence of per-replica batches, the same in every
    worker; each worker takes its shard (`distributed.shard_batches`), `steps_per_epoch` steps
    per epoch. `resume_source` is where a non-chief worker reads the chief's resume state (it
    writes its own only to its temporary run directory). Returns the Keras History, with
    `epochs_done` as in `training.fit`.
    """
    epochs = train.epochs if epochs is None else epochs
    verbose = train.verbose if verbose is None else verbose
    replicas = strategy.num_replicas_in_sync
    workers = distributed.num_workers(strategy)
    index = distributed.worker_index(strategy)
    local_replicas = replicas // workers
    loss_fn = keras.losses.get(loss) if isinstance(loss, str) else loss
    if not isinstance(loss_fn, keras.losses.Loss):  # a per-example function: mean over the batch
        per_example = loss_fn
        loss_fn = lambda y, y_pred: tf.reduce_mean(per_example(y, y_pred))  # noqa: E731
    with strategy.scope():
        model.compile(optimizer=training.build_optimizer(train, steps_per_epoch), loss=loss_fn)
        model.optimizer.build(model.trainable_variables)
    train_metrics = [_metric(m) for m in metrics]
    val_metrics = [_metric(m) for m in metrics]
    loss_mean, val_loss_mean = keras.metrics.Mean(name="loss"), keras.metrics.Mean(name="val_loss")

    shard = distributed.shard_batches(train_ds, workers, index, steps_per_epoch * local_replicas)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    shard = shard.with_options(options)
    distributed_ds = strategy.distribute_datasets_from_function(lambda context: shard)

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            replica_loss = loss_fn(y, y_pred)
            if model.losses:
                replica_loss += tf.add_n(model.losses)
            scaled = replica_loss / tf.cast(replicas, replica_loss.dtype)
        gradients = tape.gradient(scaled, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        for metric in train_metrics:
            metric.update_state(y, y_pred)
        return scaled

    @tf.function(reduce_retracing=True)
    def train_step(batch):
        per_replica = strategy.run(replica_step, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    @tf.function(reduce_retracing=True)
    def validation_step(x, y):
        y_pred = model(x, training=False)
        val_loss_mean.update_state(loss_fn(y, y_pred), sample_weight=tf.shape(y)[0])
        for metric in val_metrics:
            metric.update_state(y, y_pred)

    run_callbacks = training.callbacks(train, run_dir, counter) + list(extra_callbacks)
    resume = training.ResumeState(f"{run_dir}/checkpoints/resume.npz", run_callbacks,
                                  source=resume_source)
    saved = resume.saved_epoch()
    training.keep_history_before(f"{run_dir}/history.csv",
                                 initial_epoch if saved is None else saved)
    callback_list = keras.callbacks.CallbackList(
        run_callbacks + [AgreedStop(strategy), resume], add_history=True,
        add_progbar=verbose != 0, model=model, verbose=verbose, epochs=epochs,
        steps=steps_per_epoch)
    model.stop_training = False
    model._initial_epoch = initial_epoch
    callback_list.on_train_begin()
    history = callback_list._history
    for epoch in range(model._initial_epoch, epochs):
        if model.stop_training:
            break
        for metric in [loss_mean, *train_metrics]:
            metric.reset_state()
        callback_list.on_epoch_begin(epoch)  # sets inputs.training_epoch(), so before iter()
        iterator = iter(distributed_ds)
        for step in range(steps_per_epoch):
            callback_list.on_train_batch_begin(step)
            step_loss = float(train_step(next(iterator)))
            loss_mean.update_state(step_loss)
            logs = {"loss": step_loss}
            callback_list.on_train_batch_end(step, logs)
            if not math.isfinite(step_loss):
                break
        _sum_over_workers(strategy, train_metrics)
        logs = {"loss": float(loss_mean.result()),
                **{m.name: float(m.result()) for m in train_metrics}}
        if validation_ds is not None:
            for metric in [val_loss_mean, *val_metrics]:
                metric.reset_state()
            for x, y in validation_ds:
                validation_step(x, y)
            logs["val_loss"] = float(val_loss_mean.result())
            logs.update({f"val_{m.name}": float(m.result()) for m in val_metrics})
        callback_list.on_epoch_end(epoch, logs)
    callback_list.on_train_end(logs=None)
    history.epochs_done = max(resume.epochs_done, initial_epoch + len(history.epoch))
    return history
