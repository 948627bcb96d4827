"""Token -> id lookup with special tokens, learned from the train split by `adapt`."""

import collections

import tensorflow as tf

from nlp_lstm.stages.base import PreprocessingStage, register_stage

DEFAULT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")


def count_tokens(dataset):
    """Counts string tokens over a dataset of (ragged) token batches."""
    counts = collections.Counter()
    for batch in dataset:
        values = (
            batch.flat_values if isinstance(batch, tf.RaggedTensor) else tf.reshape(batch, [-1])
        )
        counts.update(values.numpy().tolist())
    return counts


@register_stage("vocabulary")
class Vocabulary(PreprocessingStage):
    """Maps string tokens to int64 ids: specials first ([PAD]=0, [UNK]=1, [BOS]=2, [EOS]=3), then
    tokens.

    Tokens are ranked by frequency (ties broken alphabetically, so the result is deterministic).

    Args:
        vocabulary: list of str or None. Full token list including specials; learned by `adapt()`
            when None.
        max_size: int. Largest vocabulary size, specials included.
        min_frequency: int. Tokens seen fewer times in the train split map to the OOV id.
        special_tokens: list of str. Reserved tokens; the first is padding, the second is OOV.

    Example:
    >>> import nlp_lstm
    >>> vocab = nlp_lstm.stages.Vocabulary(
    ...     vocabulary=["[PAD]", "[UNK]", "[BOS]", "[EOS]", "good", "film"]
    ... )
    >>> vocab(tf.constant(["good", "film", "meh"])).numpy().tolist()
    [4, 5, 1]
    >>> vocab(tf.ragged.constant([["good"], ["meh", "film"]])).to_list()
    [[4], [1, 5]]
    """

    config_keys = ("vocabulary", "max_size", "min_frequency", "special_tokens")
    requires_adapt = True

    def __init__(
        self,
        vocabulary=None,
        max_size=20000,
        min_frequency=1,
        special_tokens=DEFAULT_SPECIAL_TOKENS,
        **kwargs,
    ):
        super().__init__(**kwargs)
        special_tokens = list(special_tokens)
        if len(special_tokens) < 2 or len(set(special_tokens)) != len(special_tokens):
            raise ValueError(
                f"`special_tokens` needs at least a padding and an OOV token, all "
                f"distinct. Received: special_tokens={special_tokens!r}."
            )
        if not isinstance(max_size, int) or max_size <= len(special_tokens):
            raise ValueError(
                f"`max_size` must be an int > {len(special_tokens)} (the special "
                f"tokens). Received: max_size={max_size!r}."
            )
        if not isinstance(min_frequency, int) or min_frequency < 1:
            raise ValueError(
                f"`min_frequency` must be an int >= 1. Received: min_frequency={min_frequency!r}."
            )
        self.max_size = max_size
        self.min_frequency = min_frequency
        self.special_tokens = special_tokens
        self.vocabulary = None
        self._table = None
        if vocabulary is not None:
            self.set_vocabulary(list(vocabulary))

    @property
    def is_adapted(self):
        return self._table is not None

    @property
    def pad_id(self):
        return 0

    @property
    def oov_id(self):
        return 1

    def id_of(self, token):
        return self.vocabulary.index(token)

    @property
    def vocabulary_size(self):
        self.check_adapted()
        return len(self.vocabulary)

    def set_vocabulary(self, vocabulary):
        if vocabulary[: len(self.special_tokens)] != self.special_tokens:
            raise ValueError(
                f"`vocabulary` must start with the special tokens "
                f"{self.special_tokens}. Received: {vocabulary[: len(self.special_tokens)]}."
            )
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("`vocabulary` has duplicate tokens.")
        self.vocabulary = list(vocabulary)
        # Special tokens are ids the stages insert; the same strings in user text are just unknown.
        first = len(self.special_tokens)
        keys = tf.constant(self.vocabulary[first:], dtype=tf.string)
        values = tf.range(first, len(self.vocabulary), dtype=tf.int64)
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, values), default_value=self.oov_id
        )

    def adapt(self, dataset):
        counts = count_tokens(dataset)
        specials = set(s.encode() for s in self.special_tokens)
        ranked = sorted(
            ((n, t) for t, n in counts.items() if n >= self.min_frequency and t not in specials),
            key=lambda item: (-item[0], item[1]),
        )
        room = self.max_size - len(self.special_tokens)
        tokens = [t.decode("utf-8", errors="replace") for _, t in ranked[:room]]
        self.set_vocabulary(self.special_tokens + tokens)

    def call(self, inputs):
        self.check_adapted()
        if isinstance(inputs, tf.RaggedTensor):
            return inputs.with_flat_values(self._table.lookup(inputs.flat_values))
        return self._table.lookup(tf.convert_to_tensor(inputs))
