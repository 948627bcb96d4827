"""The translation task's streamed pairs: token-id batches of a streamed split, read from the
ids cached under RUN_DIR/token_ids, and the train lengths the buckets use.
"""

import numpy as np

from nlp_lstm.data.streaming import columns as arrow_data
from nlp_lstm.data.streaming.pairs import pair_batches


def id_batches(task, split, training=False):
    """A function that makes the (ragged source ids, ragged target ids) int64 batches of a
    streamed split of `task` (TranslationTask); `training` keeps only the pairs within the
    length limits (as `TranslationTask.pairs` does in memory)."""
    import tensorflow as tf

    from nlp_lstm.data import inputs

    data, part = task.config.data, task.data.splits[split]

    def encode(source, target):
        s = tf.cast(task.preprocessor(source), tf.int64)
        t = tf.cast(task.target_preprocessor(target), tf.int64)
        if training:
            s_len, t_len = s.row_lengths(), t.row_lengths()
            keep = (
                (s_len > 0) & (s_len <= data.max_source_tokens) & (t_len <= data.max_target_tokens)
            )
            s, t = tf.ragged.boolean_mask(s, keep), tf.ragged.boolean_mask(t, keep)
        return s, t

    return lambda: pair_batches(part["source"], part["target"], inputs.TOKENIZE_BATCH).map(
        encode, num_parallel_calls=inputs.AUTOTUNE, deterministic=True
    )


def streamed_pairs(task, split, training):
    """Unbatched (source ids, target ids) of a streamed split of `task` from its ids cache:
    train (the pairs within the limits) in the order of the epoch (`arrow_data.shuffled_ids`),
    a split being scored truncated to the limits, with the truncations counted in
    `task.length_report` (the train split scored has a cache of all its pairs, "train_all")."""
    import tensorflow as tf

    from nlp_lstm.data import inputs

    data = task.config.data
    if training:
        count, path, train = len(task.train_lengths()), task.ids_path(split), task.config.train
        return inputs.per_epoch(
            lambda epoch: arrow_data.shuffled_ids(
                path, train.shuffle_buffer, task.config.seed, epoch
            ).apply(tf.data.experimental.assert_cardinality(count))
        )
    make, path = id_batches(task, split), task.ids_path("train_all" if split == "train" else split)
    for component, side, limit in (
        (0, "sources", data.max_source_tokens),
        (1, "targets", data.max_target_tokens),
    ):
        lengths = arrow_data.cached_lengths(make, path, component)
        task.length_report[f"{split}_{side}_truncated"] = int(np.sum(lengths > limit))
    return arrow_data.cached_ids(make, path).map(
        lambda s, t: (s[: data.max_source_tokens], t[: data.max_target_tokens])
    )


def train_lengths(task):
    """The source lengths of the train pairs within the limits, from the ids cache; records
    the pairs dropped in `task.length_report["train_pairs_dropped"]`."""
    lengths = arrow_data.cached_lengths(id_batches(task, "train", True), task.ids_path("train"))
    task.length_report["train_pairs_dropped"] = len(task.data.splits["train"]["source"]) - len(
        lengths
    )
    return lengths
