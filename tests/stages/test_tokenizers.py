"""Tests for nlp_lstm/stages/tokenizers.py: normalization and the tokenizers (each tokenizer's
basic case through run_stage_test is in test_stage_harness.py)."""

import pytest
import tensorflow as tf

from nlp_lstm.errors import ConfigError
from nlp_lstm.stages import (
    CharacterTokenizer,
    TextNormalizer,
    UnicodeScriptTokenizer,
    WhitespaceTokenizer,
    WordPieceTokenizer,
)
from tests.testing import run_stage_test


def utf8(*texts):
    return [t.encode("utf-8") for t in texts]


def run_normalizer_test(kwargs, pairs):
    """run_stage_test on (text, normalized text) pairs."""
    stage, _ = run_stage_test(
        TextNormalizer, kwargs, [text for text, _ in pairs], utf8(*(out for _, out in pairs))
    )
    return stage


# -- TextNormalizer ----------------------------------------------------------------------------


def test_text_normalizer_nfkc_lowercase():
    # Fullwidth C (U+FF23), the "fi" ligature (U+FB01) and upper case all fold under
    # NFKC + casefold.
    run_normalizer_test({}, [("Ｃafé  GREAT", "café  great"), ("ﬁne Film", "fine film")])


def test_text_normalizer_nfkc_without_lowercase():
    run_normalizer_test({"form": "NFKC", "lowercase": False}, [("Ｃafé ﬁ", "Café fi")])


def test_text_normalizer_nfd_decomposes():
    run_normalizer_test({"form": "NFD", "lowercase": False}, [("\u00e9", "e\u0301")])


def test_text_normalizer_form_none_only_lowercases():
    # Without a normalization form the fullwidth letter stays fullwidth (only its case changes).
    stage = run_normalizer_test({"form": None}, [("Ｃafé ﬁ", "ｃafé ﬁ")])
    assert stage.get_config()["form"] is None


def test_text_normalizer_form_none_no_lowercase_is_identity():
    run_normalizer_test({"form": None, "lowercase": False}, [("Ｃafé ﬁ", "Ｃafé ﬁ")])


def test_text_normalizer_replaces_invalid_utf8():
    stage = TextNormalizer()
    out = stage(tf.constant([b"ab\xffc", b"\xc3", b"ok"])).numpy().tolist()
    assert out == [b"ab\xef\xbf\xbdc", b"\xef\xbf\xbd", b"ok"]
    # Inside tf.data too, so serving any bytes never fails.
    ds = tf.data.Dataset.from_tensor_slices([b"x\xfey"]).map(stage)
    assert [x.numpy() for x in ds] == ["x\ufffdy".encode()]


def test_text_normalizer_rejects_non_string_input():
    with pytest.raises(TypeError, match="string"):
        TextNormalizer()(tf.constant([1, 2]))


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"form": "NFX"}, "form"),
        ({"form": "nfkc"}, "form"),
        ({"lowercase": "yes"}, "lowercase"),
        ({"lowercase": 1}, "lowercase"),
    ],
)
def test_text_normalizer_bad_args(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`.*Received: {argument}="):
        TextNormalizer(**kwargs)


# -- WhitespaceTokenizer -----------------------------------------------------------------------


def test_whitespace_tokenizer_batch_is_ragged():
    out = WhitespaceTokenizer()(tf.constant(["a b", "c"]))
    assert isinstance(out, tf.RaggedTensor)
    assert out.to_list() == [[b"a", b"b"], [b"c"]]


def test_whitespace_tokenizer_config_has_no_arguments():
    config = WhitespaceTokenizer(name="ws").get_config()
    assert config == {"name": "ws"}


# -- UnicodeScriptTokenizer --------------------------------------------------------------------


def test_unicode_script_tokenizer_keep_whitespace():
    # Direct calls and the config only: tracing this tokenizer in ds.map takes seconds, and
    # test_stage_harness.py already runs it through ds.map.
    stage = UnicodeScriptTokenizer(keep_whitespace=True)
    assert stage(tf.constant("a  b")).numpy().tolist() == [b"a", b"  ", b"b"]
    assert stage(tf.constant(["a  b", "c"])).to_list() == [[b"a", b"  ", b"b"], [b"c"]]
    config = stage.get_config()
    assert config["keep_whitespace"] is True
    clone = UnicodeScriptTokenizer.from_config(config)
    assert clone(tf.constant("x y")).numpy().tolist() == [b"x", b" ", b"y"]


# -- CharacterTokenizer ------------------------------------------------------------------------


def test_character_tokenizer_replaces_invalid_bytes():
    out = CharacterTokenizer()(tf.constant(b"n\xc3\xa9\xff")).numpy().tolist()
    assert out == utf8("n", "é", "\ufffd")


# -- WordPieceTokenizer ------------------------------------------------------------------------

VOCAB = ["[UNK]", "film", "##s", "a", "the"]


def test_wordpiece_tokenizer_adds_missing_oov_token():
    stage = WordPieceTokenizer(vocabulary=["film", "##s"], oov_token="<unk>")
    assert stage.vocabulary == ["<unk>", "film", "##s"]
    assert stage(tf.constant("films xyz")).numpy().tolist() == [b"film", b"##s", b"<unk>"]


def test_wordpiece_tokenizer_splits_punctuation():
    # BERT-style pre-tokenization splits punctuation from words.
    stage = WordPieceTokenizer(vocabulary=VOCAB + [","])
    assert stage(tf.constant("film,a")).numpy().tolist() == [b"film", b",", b"a"]


def test_wordpiece_tokenizer_adapt_learns_vocabulary():
    # The learner keeps whole words seen at least 10 times (its default lower threshold).
    corpus = ["the film films"] * 12 + ["a filming"]
    stage, _ = run_stage_test(
        WordPieceTokenizer,
        {"vocabulary_size": 40},
        ["the films", "film"],
        [[b"the", b"films"], [b"film"]],
        adapt_data=corpus,
    )
    vocabulary = stage.vocabulary
    assert vocabulary[0] == "[UNK]"
    assert len(vocabulary) == len(set(vocabulary))
    # Every character of the corpus is a piece, both word-initial and word-internal.
    for char in "thefilmsang":
        assert char in vocabulary and "##" + char in vocabulary
    # A rare word is still covered by pieces; an unseen character is OOV.
    pieces = stage(tf.constant("filming q")).numpy().tolist()
    assert b"".join(p.replace(b"##", b"") for p in pieces[:-1]) == b"filming"
    assert pieces[-1] == b"[UNK]"
    # The learned vocabulary is part of the config, so a rebuilt stage needs no adapt.
    clone = WordPieceTokenizer.from_config(stage.get_config())
    assert clone.is_adapted and clone.vocabulary == vocabulary


def test_wordpiece_tokenizer_before_adapt_raises():
    stage = WordPieceTokenizer()
    assert not stage.is_adapted
    with pytest.raises(ConfigError, match=r"WordPieceTokenizer.*adapt\(\)"):
        stage(tf.constant("a film"))


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"vocabulary_size": 4}, "vocabulary_size"),
        ({"vocabulary_size": "big"}, "vocabulary_size"),
    ],
)
def test_wordpiece_tokenizer_bad_args(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`.*Received: {argument}="):
        WordPieceTokenizer(**kwargs)
