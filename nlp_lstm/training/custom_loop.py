"""The training loop under a tf.distribute strategy (mirrored, multi-worker), driving the same
Keras callbacks as `model.fit`: early stopping, plateaus, checkpoints, TensorBoard, the CSV
history, the time budget, the NaN stop and `training.ResumeState`.

`model.fit` under MultiWorkerMirroredStrategy fails in Keras 3.15 (keras-team/keras#20585), so
each step is `strategy.run` of a replica step in a `tf.function`. The replica's loss is the
task's compile loss as a Keras `Loss` (a loss function is wrapped in one), called as `model.fit`
calls it: with the output's Keras mask, and, in a replica context, already divided by the
replicas in sync (Keras' `scale_loss_for_distribution`), plus `model.losses` divided likewise; so
the replicas' losses sum to the step's mean loss, as `model.fit` computes it in one process when
the replicas' batches are equal. The step all-reduces (sums) the replicas' gradients itself,
clips the sum as `train.clipnorm` / `train.clipvalue` say (Keras' optimizer would clip each
replica's share before it sums them, a different clip from one process's) and applies it with
the optimizer, whose own sum over the replicas is switched off (`_apply_summed`).

Validation runs in every worker on the whole validation split (the weights are the same
everywhere), so every worker's callbacks see the same `val_*` numbers and take the same early-stop
decision; a stop that only one worker's callbacks want (the time budget measures local clocks) is
agreed with one all-reduce at each epoch end, since a worker that stops alone hangs the others.
"""

import dataclasses
import math

import keras
import tensorflow as tf

from nlp_lstm.errors import TrainingError
from nlp_lstm.training import distribution as distributed
from nlp_lstm.training import fit as training


class AgreedStop(keras.callbacks.Callback):
    """At each epoch end, every worker stops if any worker's callbacks asked to stop."""

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy

    def on_epoch_end(self, epoch, logs=None):
        wanted = tf.constant(1.0 if self.model.stop_training else 0.0)
        votes = self.strategy.reduce(
            tf.distribute.ReduceOp.SUM, self.strategy.run(lambda: tf.identity(wanted)), axis=None
        )
        self.model.stop_training = bool(float(votes) > 0)


class _WrappedLoss(keras.losses.Loss):
    """A per-example loss function as a Keras Loss (what `model.compile` makes of one): its
    `__call__` applies the output's mask, the mean over the batch and the replica scaling."""

    def __init__(self, function):
        super().__init__(name=getattr(function, "__name__", "loss"))
        self.function = function

    def call(self, y_true, y_pred):
        return self.function(y_true, y_pred)


def _loss_object(loss):
    """The compile `loss` (a name, a function or a Loss) as a Keras Loss."""
    loss = keras.losses.get(loss) if isinstance(loss, str) else loss
    return loss if isinstance(loss, keras.losses.Loss) else _WrappedLoss(loss)


def clip_gradients(train, gradients):
    """The gradients clipped as Keras' TF optimizer clips them (`train.clipnorm`: each tensor to
    that L2 norm with `tf.clip_by_norm`, else `train.clipvalue`: each element), here applied to
    the gradients summed over all replicas."""
    if train.clipnorm:
        return [None if g is None else tf.clip_by_norm(g, train.clipnorm) for g in gradients]
    if train.clipvalue:
        return [None if g is None else _clip_value(g, train.clipvalue) for g in gradients]
    return list(gradients)


def _clip_value(gradient, limit):
    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(
            tf.clip_by_value(gradient.values, -limit, limit), gradient.indices, gradient.dense_shape
        )
    return tf.clip_by_value(gradient, -limit, limit)


def _apply_summed(optimizer):
    """`optimizer` for gradients that are already summed over the replicas.

    Keras 3.15's TF optimizer sums the gradients over the replicas in `_backend_update_step`
    (`_all_reduce_sum_gradients`, keras/src/backend/tensorflow/optimizer.py) whenever it is
    called in a replica context, and offers no switch to skip that. Called from a merge_call
    (a cross-replica context) it would skip the sum, but its update's `maybe_merge_call` then
    asks for a replica context that is not there (on CPUs, which use merge calls); so this one
    instance's sum is replaced by the identity. The update itself (`extended.update` of each
    mirrored variable), the schedule, weight decay and the step count are Keras' own.
    """
    if not callable(getattr(optimizer, "_all_reduce_sum_gradients", None)):
        raise TrainingError(
            f"This Keras ({keras.__version__}) has no optimizer "
            f"`_all_reduce_sum_gradients`; the distributed loop cannot apply "
            f"summed gradients. Use Keras 3.15 or train.distribution=one_device."
        )
    optimizer._all_reduce_sum_gradients = lambda grads_and_vars: list(grads_and_vars)
    return optimizer


def compile_for_loop(model, train, steps_per_epoch, loss, strategy):
    """Compiles `model` (built under `strategy.scope()`) with the run's optimizer, without its
    clipping (the train step clips the summed gradients) and without its sum over the replicas
    (`_apply_summed`); returns the loss as a Keras Loss."""
    loss_fn = _loss_object(loss)
    unclipped = dataclasses.replace(train, clipnorm=None, clipvalue=None)
    with strategy.scope():
        model.compile(optimizer=training.build_optimizer(unclipped, steps_per_epoch), loss=loss_fn)
        model.optimizer.build(model.trainable_variables)
    _apply_summed(model.optimizer)
    return loss_fn


def build_train_step(model, loss_fn, train, strategy, metrics=()):
    """The traced step: `strategy.run` of one replica step on a distributed batch; returns the
    step's loss (summed over the replicas: the mean of the global batch) and its examples.

    `model` is compiled by `compile_for_loop`, which returned `loss_fn`.
    """
    replicas = strategy.num_replicas_in_sync

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            replica_loss = loss_fn(y, y_pred)  # Keras divides it by the replicas in sync
            if model.losses:
                replica_loss += tf.add_n(model.losses) / tf.cast(replicas, replica_loss.dtype)
        gradients = tape.gradient(replica_loss, model.trainable_variables)
        present = [i for i, g in enumerate(gradients) if g is not None]
        context = tf.distribute.get_replica_context()
        summed = context.all_reduce(tf.distribute.ReduceOp.SUM, [gradients[i] for i in present])
        clipped = clip_gradients(train, summed)
        model.optimizer.apply_gradients(
            [(g, model.trainable_variables[i]) for g, i in zip(clipped, present)]
        )
        for metric in metrics:
            metric.update_state(y, y_pred)
        examples = tf.cast(tf.shape(tf.nest.flatten(x)[0])[0], tf.float32)
        return replica_loss, examples

    @tf.function(reduce_retracing=True)
    def train_step(batch):
        loss, examples = strategy.run(replica_step, args=batch)
        return (
            strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
            strategy.reduce(tf.distribute.ReduceOp.SUM, examples, axis=None),
        )

    return train_step


def _metric(entry):
    """A fresh metric object for a compile `metrics` entry, as `model.compile` makes it
    (`get_metric` in keras/src/trainers/compile_utils.py), built outside the strategy scope.

    A name gives Keras' metric object under that name ("mse" is MeanSquaredError named "mse",
    with its direction, not a mean of its running results); a function is averaged by
    MeanMetricWrapper.
    """
    if isinstance(entry, keras.metrics.Metric):
        return entry.__class__.from_config(entry.get_config())
    if entry in ("accuracy", "acc"):  # the tasks that say "accuracy" have integer labels
        return keras.metrics.SparseCategoricalAccuracy(name=entry)
    found = keras.metrics.get(entry)
    if isinstance(found, keras.metrics.Metric):
        metric = found.__class__.from_config(found.get_config())
    else:
        metric = keras.metrics.MeanMetricWrapper(found)
    if isinstance(entry, str):
        metric.name = entry
    return metric


def tell_directions(callbacks, metrics):
    """Sets `mode` on the monitoring callbacks (early stopping, plateaus, the best checkpoint)
    whose `monitor` names one of `metrics`, from the metric's direction.

    Under `model.fit` a callback in mode "auto" finds whether a metric such as val_mse is to be
    lowered or raised among the model's compiled metrics (`MonitorCallback._set_monitor_op`);
    the loop's metrics are not compiled into the model, so without this `monitor: val_mse`
    fails as a metric of unknown direction. A metric without a direction is left to Keras, which
    then fails as under `model.fit`.
    """
    directions = {m.name: getattr(m, "_direction", None) for m in metrics}
    for callback in callbacks:
        # Keras' MonitorCallback (not public): a str `monitor` and a `mode`.
        if getattr(callback, "mode", None) != "auto" or not isinstance(
            getattr(callback, "monitor", None), str
        ):
            continue
        direction = directions.get(callback.monitor.removeprefix("val_"))
        if direction in ("up", "down"):
            callback.mode = "max" if direction == "up" else "min"


def _sum_over_workers(strategy, metrics):
    """Replaces each metric's variables by their sum over the workers (ratio metrics: totals and
    counts; several local replicas share one object, which scales both alike)."""
    for metric in metrics:
        for variable in metric.variables:
            local = tf.convert_to_tensor(variable)
            total = strategy.reduce(
                tf.distribute.ReduceOp.SUM,
                strategy.run(lambda value=local: tf.identity(value)),
                axis=None,
            )
            variable.assign(total)


def fit(
    model,
    train_ds,
    validation_ds,
    train,
    run_dir,
    steps_per_epoch,
    strategy,
    counter=None,
    loss="sparse_categorical_crossentropy",
    metrics=("accuracy",),
    extra_callbacks=(),
    epochs=None,
    initial_epoch=0,
    verbose=None,
    resume_source=None,
):
    """Trains `model` (built under `strategy.scope()`) on `train_ds` under `strategy`.

    `train_ds` is the epoch's full batch sequence of per-replica batches, the same in every
    worker; each worker takes its shard (`distributed.shard_batches`), `steps_per_epoch` steps
    per epoch. `resume_source` is where a non-chief worker reads the chief's resume state (it
    writes its own only to its temporary run directory). Returns the Keras History, with
    `epochs_done` as in `training.fit`.
    """
    epochs = train.epochs if epochs is None else epochs
    verbose = train.verbose if verbose is None else verbose
    workers = distributed.num_workers(strategy)
    index = distributed.worker_index(strategy)
    local_replicas = strategy.num_replicas_in_sync // workers
    loss_fn = compile_for_loop(model, train, steps_per_epoch, loss, strategy)
    train_metrics = [_metric(m) for m in metrics]
    val_metrics = [_metric(m) for m in metrics]
    loss_mean, val_loss_mean = keras.metrics.Mean(name="loss"), keras.metrics.Mean(name="val_loss")

    shard = distributed.shard_batches(train_ds, workers, index, steps_per_epoch * local_replicas)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    shard = shard.with_options(options)
    distributed_ds = strategy.distribute_datasets_from_function(lambda context: shard)
    train_step = build_train_step(model, loss_fn, train, strategy, train_metrics)

    @tf.function(reduce_retracing=True)
    def validation_step(x, y):
        y_pred = model(x, training=False)
        value = loss_fn(y, y_pred)  # outside strategy.run: not divided by the replicas
        if model.losses:
            value += tf.add_n(model.losses)
        # Weighted as model.fit weighs its loss tracker: by the examples of the batch.
        val_loss_mean.update_state(value, sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
        for metric in val_metrics:
            metric.update_state(y, y_pred)

    run_callbacks = training.callbacks(train, run_dir, counter) + list(extra_callbacks)
    tell_directions(run_callbacks, train_metrics)
    resume = training.ResumeState(
        f"{run_dir}/checkpoints/resume.npz", run_callbacks, source=resume_source
    )
    saved = resume.saved_epoch()
    training.keep_history_before(
        f"{run_dir}/history.csv", initial_epoch if saved is None else saved
    )
    callback_list = keras.callbacks.CallbackList(
        run_callbacks + [AgreedStop(strategy), resume],
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=steps_per_epoch,
    )
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
            step_loss, examples = train_step(next(iterator))
            step_loss = float(step_loss)
            # As model.fit's loss tracker: the epoch's loss weighs each step by its examples.
            loss_mean.update_state(step_loss, sample_weight=float(examples))
            logs = {"loss": step_loss}
            callback_list.on_train_batch_end(step, logs)
            if not math.isfinite(step_loss):
                break
        _sum_over_workers(strategy, train_metrics)
        logs = {
            "loss": float(loss_mean.result()),
            **{m.name: float(m.result()) for m in train_metrics},
        }
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
