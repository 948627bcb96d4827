"""SequencePacker: truncate, add start/end ids and pad, after a tokenizer and a vocabulary."""

import re

import numpy as np
import tensorflow as tf

from nlp_lstm.stages.base import PreprocessingStage, register_stage

PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100)$")


@register_stage("sequence_packer")
class SequencePacker(PreprocessingStage):
    """Truncates id sequences, adds optional start/end ids and pads them into a dense batch.

    A batch is padded to its longest row, capped at `sequence_length`, so short batches stay short
    (the input pipeline's length buckets depend on it). Every row keeps at least one position, so an
    empty text never yields an all-padding row (which the cuDNN kernel rejects).

    Args:
        sequence_length: int or str. Maximum length after packing, or "pNN" to take the NN-th
            percentile of the train lengths during `adapt()` (e.g. "p95").
        truncate: str. "tail" drops tokens from the end (keeps the head), "head" drops the start.
        padding_side: str. "right" (default; required by the cuDNN kernel with masks) or "left".
        pad_value: int. Id used for padding.
        start_value: int or None. Id put before each sequence.
        end_value: int or None. Id put after each sequence.
        resolved_length: int or None. The length learned from a percentile (set by `adapt()`).

    Example:
    >>> import nlp_lstm
    >>> packer = nlp_lstm.stages.SequencePacker(sequence_length=4)
    >>> packer(tf.constant([5, 6, 7, 8, 9])).numpy().tolist()
    [5, 6, 7, 8]
    >>> packer(tf.ragged.constant([[5, 6], [7, 8, 9]])).numpy().tolist()
    [[5, 6, 0], [7, 8, 9]]
    """

    adapt_hint = "Give an int `sequence_length` or call `adapt()` to learn the percentile first."
    config_keys = (
        "sequence_length",
        "truncate",
        "padding_side",
        "pad_value",
        "start_value",
        "end_value",
        "resolved_length",
    )

    def __init__(
        self,
        sequence_length=128,
        truncate="tail",
        padding_side="right",
        pad_value=0,
        start_value=None,
        end_value=None,
        resolved_length=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        num_special = (start_value is not None) + (end_value is not None)
        if isinstance(sequence_length, str):
            if not PERCENTILE.match(sequence_length):
                raise ValueError(
                    f"`sequence_length` must be an int or a percentile such as 'p95'. "
                    f"Received: sequence_length={sequence_length!r}."
                )
        elif (
            not isinstance(sequence_length, int)
            or isinstance(sequence_length, bool)
            or sequence_length <= num_special
        ):
            raise ValueError(
                f"`sequence_length` must be > number of start/end tokens "
                f"({num_special}). Received: sequence_length={sequence_length!r}."
            )
        if truncate not in ("head", "tail"):
            raise ValueError(
                f"`truncate` must be 'head' or 'tail'. Received: truncate={truncate!r}."
            )
        if padding_side not in ("left", "right"):
            raise ValueError(
                f"`padding_side` must be 'left' or 'right'. Received: "
                f"padding_side={padding_side!r}."
            )
        self.sequence_length = sequence_length
        self.truncate = truncate
        self.padding_side = padding_side
        self.pad_value = pad_value
        self.start_value = start_value
        self.end_value = end_value
        self.resolved_length = resolved_length

    @property
    def is_adapted(self):
        return isinstance(self.sequence_length, int) or self.resolved_length is not None

    @property
    def length(self):
        self.check_adapted()
        return (
            self.sequence_length if isinstance(self.sequence_length, int) else self.resolved_length
        )

    @property
    def requires_adapt(self):
        return not isinstance(self.sequence_length, int)

    def adapt(self, dataset):
        if isinstance(self.sequence_length, int):
            return
        lengths = np.concatenate(
            [
                b.row_lengths().numpy()
                if isinstance(b, tf.RaggedTensor)
                else np.full([b.shape[0]], b.shape[1])
                for b in dataset
            ]
        )
        num_special = (self.start_value is not None) + (self.end_value is not None)
        quantile = float(self.sequence_length[1:])
        self.resolved_length = int(np.ceil(np.percentile(lengths, quantile))) + num_special
        self.resolved_length = max(self.resolved_length, num_special + 1)

    def trim(self, ids):
        """Truncates and adds start/end ids, keeping the ragged shape (used before bucketing)."""
        unbatched = not isinstance(ids, tf.RaggedTensor) and ids.shape.rank == 1
        if unbatched:
            ids = tf.RaggedTensor.from_tensor(ids[tf.newaxis])
        elif not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        keep = self.length - (self.start_value is not None) - (self.end_value is not None)
        ids = ids[:, :keep] if self.truncate == "tail" else ids[:, -keep:] if keep else ids[:, :0]
        rows = tf.shape(ids.row_lengths())[0]
        pieces = []
        if self.start_value is not None:
            pieces.append(tf.fill([rows, 1], tf.cast(self.start_value, ids.dtype)))
        pieces.append(ids)
        if self.end_value is not None:
            pieces.append(tf.fill([rows, 1], tf.cast(self.end_value, ids.dtype)))
        if len(pieces) > 1:
            ids = tf.concat(
                [
                    tf.RaggedTensor.from_tensor(p) if not isinstance(p, tf.RaggedTensor) else p
                    for p in pieces
                ],
                axis=1,
            )
        return ids[0] if unbatched else ids

    def pad(self, ids):
        """Pads a ragged batch to its longest row (at least 1) on `padding_side`."""
        pad = tf.cast(self.pad_value, ids.dtype)
        dense = ids.to_tensor(default_value=pad)
        # An all-empty batch still gets one (padding) column, so shapes are never [batch, 0].
        dense = tf.pad(
            dense, [[0, 0], [0, tf.maximum(1 - tf.shape(dense)[1], 0)]], constant_values=pad
        )
        width = tf.shape(dense, out_type=tf.int64)[1]
        if self.padding_side == "right":
            return dense
        source = tf.range(width)[tf.newaxis, :] - (width - ids.row_lengths()[:, tf.newaxis])
        shifted = tf.gather(dense, tf.maximum(source, 0), batch_dims=1)
        return tf.where(source >= 0, shifted, pad)

    def call(self, inputs):
        self.check_adapted()
        unbatched = not isinstance(inputs, tf.RaggedTensor) and inputs.shape.rank == 1
        ids = self.trim(inputs[tf.newaxis] if unbatched else inputs)
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        dense = self.pad(ids)
        return dense[0] if unbatched else dense
