"""Preprocessor: one stage loop, a get_config round trip, special ids read from the vocabulary."""

import json

import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.errors import ConfigError
from nlp_lstm.stages import SequencePacker, TextNormalizer, Vocabulary, WhitespaceTokenizer
from nlp_lstm.stages.preprocessor import Preprocessor, check_stage_chain

TOKENS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "good", "film"]


def _chain(packer=True, specials=None):
    vocabulary = Vocabulary(
        vocabulary=list(specials or TOKENS[:4]) + TOKENS[4:],
        special_tokens=list(specials or TOKENS[:4]),
    )
    stages = [TextNormalizer(), WhitespaceTokenizer(), vocabulary]
    return stages + ([SequencePacker(sequence_length=4, start_value=2)] if packer else [])


def test_runs_the_chain_in_order():
    pre = Preprocessor(_chain())
    np.testing.assert_array_equal(
        pre(tf.constant(["Good film", "meh"])).numpy(), [[2, 4, 5], [2, 1, 0]]
    )
    assert pre.trimmed(tf.constant(["good good good good"])).to_list() == [[2, 4, 4, 4]]
    assert Preprocessor(_chain(packer=False))(tf.constant(["film x"])).to_list() == [[5, 1]]


def test_get_config_round_trip_is_json_and_equal():
    pre = Preprocessor(_chain())
    config = json.loads(json.dumps(pre.get_config()))
    clone = Preprocessor.from_config(config)
    assert [s.get_config() for s in clone.stages] == [s.get_config() for s in pre.stages]
    text = tf.constant(["good", "", "film film film film film"])
    np.testing.assert_array_equal(clone(text).numpy(), pre(text).numpy())


def test_special_ids_come_from_the_vocabulary():
    assert Preprocessor(_chain()).special_ids == {"pad": 0, "oov": 1, "start": 2, "end": 3}
    two = Preprocessor(_chain(packer=False, specials=["<pad>", "<unk>"]))
    assert two.special_ids == {"pad": 0, "oov": 1} and two.num_special == 2
    with pytest.raises(ConfigError, match="needs a start token.*special_tokens"):
        two.special_id("start", "Translation")


def test_the_chain_needs_exactly_one_vocabulary():
    with pytest.raises(ConfigError, match="exactly one vocabulary"):
        Preprocessor([WhitespaceTokenizer()])
    with pytest.raises(ConfigError, match="exactly one vocabulary"):
        Preprocessor(_chain(packer=False) + [Vocabulary(vocabulary=TOKENS)])


def test_stage_chain_check_names_the_stages_that_do_not_fit():
    stages = [WhitespaceTokenizer(), TextNormalizer(), Vocabulary(vocabulary=TOKENS)]
    with pytest.raises(
        ConfigError,
        match=r"stages\[0\] \(whitespace_tokenizer\) outputs tokens "
        r"but stages\[1\] \(text_normalizer\) expects text",
    ):
        check_stage_chain(stages, "ids", "`stages` (set in p.yaml)")
    with pytest.raises(ConfigError, match="needs packed"):
        check_stage_chain(_chain(packer=False), "packed", "`stages`")


def test_check_outputs_reports_an_unadapted_stage():
    stages = [WhitespaceTokenizer(), Vocabulary()]
    with pytest.raises(ConfigError, match=r"stages\[1\] \(vocabulary\)|no learned state"):
        Preprocessor(stages).check_outputs()
