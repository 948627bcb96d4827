"""Tests for nlp_lstm/stages/vocabulary.py: the token -> id lookup learned by adapt."""

import pytest
import tensorflow as tf

from nlp_lstm.errors import ConfigError
from nlp_lstm.stages import Vocabulary
from nlp_lstm.stages.vocabulary import DEFAULT_SPECIAL_TOKENS, count_tokens
from tests.testing import run_stage_test

SPECIALS = list(DEFAULT_SPECIAL_TOKENS)


def ragged_batches(rows, batch_size=2):
    """A dataset of ragged token batches, as the tokenizer stage outputs them."""
    return tf.data.Dataset.from_tensor_slices(tf.ragged.constant(rows)).batch(batch_size)


def adapted(rows, **kwargs):
    vocab = Vocabulary(**kwargs)
    vocab.adapt(ragged_batches(rows))
    return vocab


def test_given_vocabulary_lookup():
    vocabulary = SPECIALS + ["good", "film"]
    stage, rows = run_stage_test(
        Vocabulary,
        {"vocabulary": vocabulary},
        [["good", "film"], ["meh"], ["film", "film", "good"]],
        [[4, 5], [1], [5, 5, 4]],
    )
    assert rows == [[4, 5], [1], [5, 5, 4]]
    assert stage.vocabulary_size == 6


def test_adapt_through_run_stage_test():
    # Dense (equal-length) token batches also adapt: "a" x3, "b" x2, "c" x1.
    stage, _ = run_stage_test(
        Vocabulary,
        {},
        [["a", "c"], ["b", "zzz"]],
        [[4, 6], [5, 1]],
        adapt_data=[["a", "b"], ["a", "b"], ["a", "c"]],
    )
    assert stage.vocabulary == SPECIALS + ["a", "b", "c"]


def test_specials_first_then_frequency_ranking():
    vocab = adapted([["b", "a", "b"], ["c", "b", "a"], ["d"]])
    assert vocab.vocabulary[:4] == SPECIALS
    assert vocab.vocabulary[4:] == ["b", "a", "c", "d"]  # b x3, a x2, then c and d x1


def test_ties_broken_alphabetically_and_deterministic():
    rows = [["zeta", "alpha", "mid"], ["mid", "alpha", "zeta"]]
    first = adapted(rows)
    second = adapted(list(reversed([list(reversed(r)) for r in rows])))
    assert first.vocabulary[4:] == ["alpha", "mid", "zeta"]
    assert second.vocabulary == first.vocabulary


def test_specials_in_the_data_are_not_counted_twice():
    vocab = adapted([["[PAD]", "[UNK]", "x"], ["[UNK]", "[EOS]", "x"]])
    assert vocab.vocabulary == SPECIALS + ["x"]


def test_max_size_counts_specials():
    vocab = adapted([["a", "a", "a", "b", "b", "c"]], max_size=6)
    assert vocab.vocabulary == SPECIALS + ["a", "b"]
    assert vocab.vocabulary_size == 6
    assert vocab(tf.constant(["c"])).numpy().tolist() == [1]


def test_min_frequency():
    vocab = adapted([["a", "a", "b", "c", "c", "c"]], min_frequency=2)
    assert vocab.vocabulary == SPECIALS + ["c", "a"]
    assert vocab(tf.constant(["b", "a", "c"])).numpy().tolist() == [1, 5, 4]


def test_oov_is_id_1_and_pad_text_is_not_0():
    vocab = Vocabulary(vocabulary=SPECIALS + ["good"])
    assert vocab.oov_id == 1 and vocab.pad_id == 0
    ids = vocab(tf.constant(["unseen", "[PAD]", "[UNK]", "good", ""])).numpy().tolist()
    # The literal text "[PAD]" in the input must not become padding (id 0).
    assert ids == [1, 1, 1, 4, 1]
    assert 0 not in ids


def test_ragged_in_ragged_out():
    vocab = Vocabulary(vocabulary=SPECIALS + ["good", "film"])
    out = vocab(tf.ragged.constant([["good"], [], ["meh", "film"]]))
    assert isinstance(out, tf.RaggedTensor)
    assert out.dtype == tf.int64
    assert out.to_list() == [[4], [], [1, 5]]


def test_dense_in_dense_out():
    vocab = Vocabulary(vocabulary=SPECIALS + ["good"])
    out = vocab(tf.constant([["good", "x"], ["x", "good"]]))
    assert not isinstance(out, tf.RaggedTensor)
    assert out.numpy().tolist() == [[4, 1], [1, 4]]


def test_custom_special_tokens():
    vocab = adapted([["x", "<s>", "y", "x"]], special_tokens=["<pad>", "<unk>", "<s>"])
    assert vocab.vocabulary == ["<pad>", "<unk>", "<s>", "x", "y"]
    assert vocab(tf.constant(["x", "q", "<pad>"])).numpy().tolist() == [3, 1, 1]


def test_get_config_round_trip():
    vocab = adapted([["b", "a", "b"]], max_size=50, min_frequency=1)
    config = vocab.get_config()
    assert config["vocabulary"] == SPECIALS + ["b", "a"]
    assert config["max_size"] == 50 and config["min_frequency"] == 1
    assert config["special_tokens"] == SPECIALS
    clone = Vocabulary.from_config(config)
    assert clone.get_config() == config
    tokens = tf.ragged.constant([["a", "b", "q"]])
    assert clone(tokens).to_list() == vocab(tokens).to_list() == [[5, 4, 1]]


def test_adapt_handles_non_ascii_tokens():
    vocab = adapted([["café", "東京", "café"]])
    assert vocab.vocabulary[4:] == ["café", "東京"]
    assert vocab(tf.constant(["東京"])).numpy().tolist() == [5]


def test_count_tokens():
    counts = count_tokens(ragged_batches([["a", "b"], ["a"], []]))
    assert counts == {b"a": 2, b"b": 1}


def test_call_before_adapt_raises():
    vocab = Vocabulary()
    assert not vocab.is_adapted
    with pytest.raises(ConfigError, match=r"Vocabulary.*adapt\(\)"):
        vocab(tf.constant(["a"]))
    with pytest.raises(ConfigError, match="adapt"):
        vocab.vocabulary_size  # noqa: B018


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"max_size": 4}, r"`max_size` must be an int > 4.*Received: max_size=4"),
        ({"max_size": "big"}, r"`max_size`.*Received: max_size='big'"),
        ({"min_frequency": 0}, r"`min_frequency` must be an int >= 1.*Received: min_frequency=0"),
        ({"special_tokens": ["[PAD]"]}, r"`special_tokens`.*Received: special_tokens="),
        ({"special_tokens": ["[PAD]", "[PAD]"]}, r"`special_tokens`.*distinct"),
        (
            {"vocabulary": ["good", "[PAD]", "[UNK]", "[BOS]", "[EOS]"]},
            r"`vocabulary` must start with the special tokens",
        ),
        ({"vocabulary": SPECIALS + ["a", "a"]}, r"`vocabulary` has duplicate tokens"),
    ],
)
def test_bad_args(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        Vocabulary(**kwargs)
