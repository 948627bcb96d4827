"""The tf.data input pipeline: tokenize in batches, trim, cache, shuffle, bucket by length,
prefetch.

Sequences are trimmed (not padded) before bucketing, so each batch is padded only to its own longest
row, and always on the right, which the cuDNN kernel needs. The share of padding tokens is counted
in the pipeline and reported per epoch.

Each epoch's order is a pure function of (seed, epoch): the train datasets read the epoch being
trained from `training_epoch()`, which training sets at the start of every epoch, so a resumed
process shuffles epoch 3 exactly as the uninterrupted one did.
"""

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
TOKENIZE_BATCH = 256
_EPOCH = []


def training_epoch():
    """The process's epoch counter (a tf.int64 Variable, 0-based), created on first use.

    `training.fit` assigns the epoch about to run in `on_epoch_begin`; Keras creates each epoch's
    train iterator after that, so `per_epoch` datasets see the right value.
    """
    if not _EPOCH:
        _EPOCH.append(tf.Variable(0, dtype=tf.int64, trainable=False, name="training_epoch"))
    return _EPOCH[0]


def epoch_seed(seed, epoch):
    """A [2] int64 stateless-op seed for `epoch` of a run seeded with `seed`."""
    return tf.stack([tf.constant(seed or 0, tf.int64), tf.cast(epoch, tf.int64)])


def per_epoch(make):
    """A dataset whose every iteration is `make(epoch)` for the epoch `training_epoch()` holds.

    `make` takes the epoch as an int64 scalar tensor and returns a dataset; the known cardinality
    of `make`'s dataset is kept, so Keras still knows the steps per epoch.
    """
    epoch = training_epoch()
    cardinality = make(tf.constant(0, tf.int64)).cardinality()
    dataset = tf.data.Dataset.from_tensors(0).flat_map(lambda _: make(epoch.read_value()))
    if int(cardinality) >= 0:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(cardinality))
    return dataset


def shuffle_seed(seed, epoch):
    """The int64 seed of epoch `epoch`'s shuffle in a run seeded with `seed` (a tensor)."""
    mixed = tf.constant(seed or 0, tf.int64) * 1000003 + tf.cast(epoch, tf.int64)
    return tf.math.floormod(mixed, 2**31 - 1)


def shuffled_per_epoch(dataset, buffer_size, seed):
    """`dataset` shuffled with a `buffer_size` buffer in an order fixed by (seed, epoch)."""
    return per_epoch(
        lambda epoch: dataset.shuffle(
            buffer_size, seed=shuffle_seed(seed, epoch), reshuffle_each_iteration=False
        )
    )


class PaddingCounter:
    """Counts real and padding positions of the batches that flow through `count`."""

    def __init__(self):
        self.real = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.total = tf.Variable(0, dtype=tf.int64, trainable=False)

    def count(self, ids, label, pad_value):
        self.real.assign_add(tf.reduce_sum(tf.cast(tf.not_equal(ids, pad_value), tf.int64)))
        self.total.assign_add(tf.size(ids, out_type=tf.int64))
        return ids, label

    def reset(self):
        self.real.assign(0)
        self.total.assign(0)

    def share(self):
        total = int(self.total.numpy())
        return 0.0 if not total else 1.0 - int(self.real.numpy()) / total


def trimmed_ids(dataset, preprocessor):
    """Maps a {"text", "label"} dataset to unbatched (ids, label), ids truncated but not padded."""

    def tokenize(example):
        return preprocessor.trimmed(example["text"]), example["label"]

    return (
        dataset.batch(TOKENIZE_BATCH)
        .map(tokenize, num_parallel_calls=AUTOTUNE, deterministic=True)
        .unbatch()
        # tf.data rejects the ragged-derived element spec in bucketing without this map.
        .map(lambda ids, label: (ids, label))
    )


def length_boundaries(lengths, num_buckets):
    """Bucket boundaries at quantiles of the train lengths (bucket i holds lengths < boundary i)."""
    if num_buckets <= 1 or len(lengths) == 0:
        return []
    quantiles = np.quantile(lengths, np.linspace(0, 1, num_buckets + 1)[1:-1])
    return sorted({int(q) + 1 for q in quantiles if int(q) + 1 > 1})


def bucket_batch_sizes(lengths, boundaries, batch_size, batch_tokens=0):
    """Examples per batch in each of the len(boundaries) + 1 buckets: `batch_size` everywhere, or
    with a token budget `batch_tokens`, as many as fit it at the bucket's longest train length
    (at least one)."""
    if not batch_tokens:
        return [batch_size] * (len(boundaries) + 1)
    longest = int(np.max(lengths)) if len(lengths) else 1
    upper = [b - 1 for b in boundaries] + [max(longest, boundaries[-1] if boundaries else 1)]
    return [max(batch_tokens // max(u, 1), 1) for u in upper]


def batches_per_epoch(lengths, boundaries, batch_sizes):
    """Exact number of batches per epoch: each length bucket flushes its partial batch at the end.

    `batch_sizes` is one int, or one per bucket (`bucket_batch_sizes`)."""
    if not boundaries:
        size = batch_sizes if isinstance(batch_sizes, int) else batch_sizes[0]
        return max(int(np.ceil(len(lengths) / size)), 1)
    if isinstance(batch_sizes, int):
        batch_sizes = [batch_sizes] * (len(boundaries) + 1)
    buckets = np.bincount(
        np.searchsorted(boundaries, lengths, side="right"), minlength=len(boundaries) + 1
    )
    return max(int(sum(np.ceil(n / size) for n, size in zip(buckets, batch_sizes))), 1)


def batched(
    dataset, packer, batch_size, boundaries, counter=None, shuffle_buffer=0, seed=None, cache=True
):
    """Batches unbatched (ids, label): cached in memory when `cache` (False: the ids come from
    disk), shuffled when `shuffle_buffer`, length-bucketed when `boundaries` is non-empty,
    right-padded (or left-padded when the packer says so).
    `batch_size` is one int, or one per bucket (`bucket_batch_sizes`)."""
    pad = tf.constant(packer.pad_value, tf.int64)
    if cache:
        dataset = dataset.cache()
    if shuffle_buffer:
        dataset = shuffled_per_epoch(dataset, shuffle_buffer, seed)
    sizes = [batch_size] * (len(boundaries) + 1) if isinstance(batch_size, int) else batch_size
    if boundaries:
        dataset = dataset.bucket_by_sequence_length(
            lambda ids, label: tf.shape(ids)[0],
            bucket_boundaries=boundaries,
            bucket_batch_sizes=sizes,
            padded_shapes=([None], []),
            padding_values=(pad, tf.constant(0, tf.int64)),
        )
    else:
        dataset = dataset.padded_batch(
            sizes[0], padded_shapes=([None], []), padding_values=(pad, tf.constant(0, tf.int64))
        )
    if packer.padding_side == "left":
        dataset = dataset.map(
            lambda ids, label: (packer.pad(tf.RaggedTensor.from_tensor(ids, padding=pad)), label)
        )
    if counter is not None:
        dataset = dataset.map(lambda ids, label: counter.count(ids, label, pad))
    return dataset.prefetch(AUTOTUNE)


def sequence_lengths(dataset):
    """Lengths of every sequence of an unbatched (ids, label) dataset."""
    # In batches: one Python step per row took seconds per 100k rows.
    lengths = dataset.map(lambda ids, _: tf.shape(ids)[0]).batch(4096)
    parts = list(lengths.as_numpy_iterator())
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
