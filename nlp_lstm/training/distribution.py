"""Data-parallel training on tf.distribute: which strategy, sharded input, and a loopback cluster.

`train.distribution` picks the strategy (`resolve`). `one_device` trains with `model.fit` exactly
as before; `mirrored` and `multi_worker` train with the custom loop in `distributed_fit.py`,
because `model.fit` under MultiWorkerMirroredStrategy fails in Keras 3.15 (keras-team/keras#20585).

`train.batch_size` is the global batch: each of the R replicas gets batch_size // R examples per
step, so one and two workers at the same batch_size and seed take the same number of steps over
the same data per epoch. Every worker builds the same seeded, length-bucketed batch sequence of
the epoch and keeps every num_workers-th batch (`shard_batches`): each example of an epoch goes
to exactly one worker, and every worker runs the same number of steps (a collective waits for all).

`run_workers` starts N processes of the same `nlp-lstm run` on this machine, with TF_CONFIG for a
cluster on free 127.0.0.1 ports, watches them and stops all when one fails."""

import json
import os

from nlp_lstm.errors import ConfigError, TrainingError

# A collective that waits longer than this for a peer fails instead of hanging. It must exceed the
# longest gap between two collectives (an epoch's validation pass, the chief's checkpoint writes).
COLLECTIVE_TIMEOUT_S = 600.0


def cluster_size(environ):
    """Tasks in the cluster TF_CONFIG names (0 without TF_CONFIG)."""
    raw = environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (ValueError, AttributeError) as err:
        raise ConfigError(
            f"TF_CONFIG is not a JSON object with a `cluster` mapping. Received: "
            f"TF_CONFIG={raw[:200]!r}. Fix the variable or unset it."
        ) from err
    return _workers_in(cluster)


def resolve(distribution, environ=None, num_gpus=None):
    """The strategy kind `train.distribution` means here: one_device, mirrored or multi_worker."""
    environ = os.environ if environ is None else environ
    tasks = cluster_size(environ)
    if distribution == "auto":
        if tasks > 1:
            return "multi_worker"
        if num_gpus is None:
            import tensorflow as tf

            num_gpus = len(tf.config.list_physical_devices("GPU"))
        return "mirrored" if num_gpus > 1 else "one_device"
    if distribution == "multi_worker" and not tasks:
        raise ConfigError(
            "train.distribution is multi_worker, but TF_CONFIG names no cluster. "
            "Received: train.distribution='multi_worker'. Start the run with "
            "`nlp-lstm run PIPELINE --workers N`, set TF_CONFIG on every node, or "
            "set train.distribution to auto or one_device."
        )
    return distribution


def make_strategy(kind):
    """The tf.distribute strategy of a resolved kind (None for one_device: plain `model.fit`).

    MultiWorkerMirroredStrategy must be created before TensorFlow runs any op in the process.
    """
    import tensorflow as tf

    if kind == "one_device":
        return None
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    options = tf.distribute.experimental.CommunicationOptions(
        timeout_seconds=COLLECTIVE_TIMEOUT_S,
        implementation=tf.distribute.experimental.CommunicationImplementation.RING,
    )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def _cluster(strategy):
    """(the strategy's cluster resolver, the cluster it names as a dict), or (None, {}) outside a
    multi-worker cluster."""
    resolver = getattr(strategy.extended, "_cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    return (resolver, cluster) if cluster else (None, {})


def _workers_in(cluster):
    """Tasks of a cluster mapping (job name -> addresses) that train: all but parameter servers."""
    return sum(len(tasks) for name, tasks in cluster.items() if name != "ps")


def worker_index(strategy):
    """This process's task index in the cluster (0 outside a multi-worker cluster)."""
    resolver, _ = _cluster(strategy)
    return 0 if resolver is None else int(resolver.task_id)


def num_workers(strategy):
    _, cluster = _cluster(strategy)
    return _workers_in(cluster) if cluster else 1


def describe(strategy):
    """{"strategy", "workers", "replicas", "cluster"} of a run, for its manifest (None: one
    device, `model.fit`)."""
    if strategy is None:
        return {"strategy": "one_device", "workers": 1, "replicas": 1}
    _, cluster = _cluster(strategy)
    return {
        "strategy": "multi_worker" if cluster else "mirrored",
        "workers": _workers_in(cluster) if cluster else 1,
        "replicas": int(strategy.num_replicas_in_sync),
        **({"cluster": cluster} if cluster else {}),
    }


def is_chief(strategy):
    """True in the process that writes the run directory (task 0; every one-process strategy)."""
    if strategy is None:
        return True
    resolver, cluster = _cluster(strategy)
    if resolver is None:
        return True
    kind = resolver.task_type
    return kind == "chief" or (
        kind == "worker" and int(resolver.task_id) == 0 and "chief" not in cluster
    )


def per_replica_batch(batch_size, replicas, key="train.batch_size"):
    """Examples per replica of a global batch; the global batch must split evenly."""
    if batch_size % replicas:
        raise ConfigError(
            f"{key} is the global batch and must be a multiple of the {replicas} "
            f"replicas. Received: {key.rpartition('.')[2]}={batch_size}. Set it to "
            f"{max(batch_size // replicas, 1) * replicas} or "
            f"{(batch_size // replicas + 1) * replicas}."
        )
    return batch_size // replicas


def steps_per_epoch(batches, num_replicas):
    """Steps per epoch when `batches` per-replica batches are dealt out to `num_replicas`: the
    remainder (fewer than one batch per replica) is dropped, so every replica runs as many."""
    steps = batches // num_replicas
    if steps < 1:
        raise TrainingError(
            f"The train split gives {batches} batches per epoch, fewer than the "
            f"{num_replicas} replicas. Lower train.batch_size or use fewer "
            f"workers."
        )
    return steps


def shard_batches(dataset, num_shards, index, batches):
    """The batches of shard `index` of `num_shards`, exactly `batches` of them.

    `dataset` is the epoch's batch sequence, the same in every worker (seeded shuffle, then length
    buckets); worker `index` keeps batches index, index + num_shards, ..., so no example is in two
    workers' shards. `batches` must be at most the shortest shard's length
    (`steps_per_epoch(...)` times the worker's local replicas).
    """
    return dataset.shard(num_shards, index).take(batches)
