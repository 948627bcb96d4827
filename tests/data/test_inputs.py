"""The input pipeline: length buckets, exact batch counts, right padding and the padding share."""

import numpy as np
import tensorflow as tf

from nlp_lstm.data import inputs
from nlp_lstm.stages import SequencePacker


def _unbatched(lengths):
    ids = tf.ragged.constant([[5] * int(n) for n in lengths], dtype=tf.int64)
    return tf.data.Dataset.from_tensor_slices(ids).map(lambda x: (x, tf.constant(1, tf.int64)))


def test_bucketed_batches_match_the_predicted_count_and_pad_on_the_right():
    lengths = np.random.RandomState(0).randint(1, 40, size=300)
    boundaries = inputs.length_boundaries(lengths, 4)
    assert boundaries == sorted(boundaries) and len(boundaries) == 3
    packer = SequencePacker(sequence_length=64)
    counter = inputs.PaddingCounter()
    batches = list(
        inputs.batched(
            _unbatched(lengths), packer, 16, boundaries, counter=counter, shuffle_buffer=100, seed=3
        )
    )
    assert len(batches) == inputs.batches_per_epoch(lengths, boundaries, 16)
    assert sum(ids.shape[0] for ids, _ in batches) == len(lengths)
    for ids, _ in batches:
        ids = ids.numpy()
        real = ids != 0
        # Right padding: once a row has padding, the rest of the row is padding.
        assert (np.diff(real.astype(int), axis=1) <= 0).all()
        assert real[:, 0].all()
    padding = 1 - sum((ids.numpy() != 0).sum() for ids, _ in batches) / sum(
        ids.numpy().size for ids, _ in batches
    )
    assert abs(counter.share() - padding) < 1e-9


def test_bucketing_pads_less_than_one_batch_for_all():
    lengths = np.random.RandomState(1).lognormal(3, 0.8, size=500).astype(int) + 1
    packer = SequencePacker(sequence_length=1000)
    shares = []
    for boundaries in ([], inputs.length_boundaries(lengths, 8)):
        counter = inputs.PaddingCounter()
        for _ in inputs.batched(
            _unbatched(lengths), packer, 32, boundaries, counter=counter, shuffle_buffer=500, seed=1
        ):
            pass
        shares.append(counter.share())
    assert shares[1] < shares[0] / 2


def test_a_token_budget_gives_short_buckets_larger_batches():
    lengths = np.minimum(np.random.RandomState(2).lognormal(3, 0.8, size=600).astype(int) + 1, 300)
    boundaries = inputs.length_boundaries(lengths, 6)
    sizes = inputs.bucket_batch_sizes(lengths, boundaries, 32, batch_tokens=512)
    longest = [b - 1 for b in boundaries] + [int(lengths.max())]
    assert sizes == [max(512 // n, 1) for n in longest]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    assert inputs.bucket_batch_sizes(lengths, boundaries, 32) == [32] * (len(boundaries) + 1)
    batches = list(
        inputs.batched(
            _unbatched(lengths),
            SequencePacker(sequence_length=1000),
            sizes,
            boundaries,
            shuffle_buffer=600,
            seed=4,
        )
    )
    assert len(batches) == inputs.batches_per_epoch(lengths, boundaries, sizes)
    assert sum(ids.shape[0] for ids, _ in batches) == len(lengths)
    assert lengths.max() < 512
    assert max(ids.shape[0] * ids.shape[1] for ids, _ in batches) <= 512


def test_left_padding_is_applied_after_bucketing():
    packer = SequencePacker(sequence_length=10, padding_side="left")
    ((ids, _),) = list(inputs.batched(_unbatched([2, 4]), packer, 2, []))
    assert ids.numpy().tolist() == [[0, 0, 5, 5], [5, 5, 5, 5]]
