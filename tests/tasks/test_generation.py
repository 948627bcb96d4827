"""Sampling in the graph: greedy limits, seeds, batches, empty prompts and unknown characters."""

import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.errors import ConfigError
from nlp_lstm.export.limits import DEFAULT_LIMITS
from nlp_lstm.models import LSTMCausalLM
from nlp_lstm.stages import CharacterTokenizer, TextNormalizer, Vocabulary
from nlp_lstm.stages.preprocessor import Preprocessor
from nlp_lstm.tasks import GenerationTask
from nlp_lstm.tasks.generation.serving import TextGenerator, sample_next

LOGITS = tf.constant(np.random.RandomState(0).normal(size=(4, 30)), tf.float32)
SEED = tf.constant([3, 0], tf.int64)


def _sample(temperature=1.0, top_k=0, top_p=1.0, seed=SEED):
    return sample_next(
        LOGITS, tf.constant(temperature), tf.constant(top_k), tf.constant(top_p), seed
    ).numpy()


def test_greedy_limits_equal_argmax():
    greedy = np.argmax(LOGITS.numpy(), axis=-1)
    np.testing.assert_array_equal(_sample(temperature=0.0), greedy)
    np.testing.assert_array_equal(_sample(top_k=1), greedy)
    np.testing.assert_array_equal(_sample(top_p=1e-9), greedy)


def test_seed_makes_sampling_repeatable_and_seeds_differ():
    np.testing.assert_array_equal(_sample(seed=SEED), _sample(seed=SEED))
    draws = {tuple(_sample(seed=tf.constant([s, 0], tf.int64))) for s in range(10)}
    assert len(draws) > 1


def test_top_k_and_top_p_stay_in_the_allowed_set():
    order = np.argsort(-LOGITS.numpy(), axis=-1)
    for s in range(20):
        picked = _sample(top_k=3, seed=tf.constant([s, 1], tf.int64))
        assert all(p in order[row, :3] for row, p in enumerate(picked))
    probs = tf.nn.softmax(LOGITS).numpy()
    for s in range(20):
        picked = _sample(top_p=0.5, seed=tf.constant([s, 2], tf.int64))
        for row, p in enumerate(picked):
            ranked = probs[row][order[row]]
            allowed = order[row][: np.searchsorted(np.cumsum(ranked), 0.5) + 1]
            assert p in allowed


def _generator(specials=("[PAD]", "[UNK]", "[BOS]", "[EOS]")):
    vocabulary = Vocabulary(
        vocabulary=list(specials) + list("abc .\n"), special_tokens=list(specials)
    )
    stages = [TextNormalizer(form="NFC", lowercase=False), CharacterTokenizer(), vocabulary]
    model = LSTMCausalLM(
        vocabulary_size=len(specials) + 6, embedding_dim=4, hidden_dim=8, num_layers=1
    )
    return TextGenerator(Preprocessor(stages), model, GenerationTask.limits_of(DEFAULT_LIMITS))


def _run(generator, prompts, seed=1, n=12, temperature=1.0):
    out = generator.generate(
        tf.constant(prompts),
        tf.constant(n),
        tf.constant(temperature),
        tf.constant(0),
        tf.constant(1.0),
        tf.constant(seed, tf.int64),
    )
    return [t.decode() for t in out["text"].numpy()], out["token_ids"].numpy()


def test_generator_is_seeded_batched_and_robust():
    generator = _generator()
    prompts = ["ab", "", "zz\u6771\U0001f642", "x" * 4096]
    texts, ids = _run(generator, prompts)
    assert ids.shape == (4, 12)
    again, again_ids = _run(generator, prompts)
    assert texts == again
    np.testing.assert_array_equal(ids, again_ids)
    _, other_ids = _run(generator, prompts, seed=2)
    assert not np.array_equal(ids, other_ids)
    assert set("".join(texts)) <= set("abc .\n")


def test_generator_in_batch_matches_single_prompts():
    generator = _generator()
    _, batch = _run(generator, ["ab", "c"], temperature=0.0)
    _, first = _run(generator, ["ab"], temperature=0.0)
    _, second = _run(generator, ["c"], temperature=0.0)
    np.testing.assert_array_equal(batch, np.concatenate([first, second]))


def test_generator_takes_its_special_ids_from_the_vocabulary():
    five = ("<pad>", "<unk>", "<s>", "</s>", "<sep>")
    generator = _generator(five)
    assert generator.start_id == 2 and generator.num_special == 5
    texts, ids = _run(generator, ["", "ab"], n=30)
    # The fifth special (id 4) may be sampled, but, like every special, it prints as nothing.
    for text, row in zip(texts, ids):
        assert len(text) == int((row >= 5).sum())
    assert int(tf.reduce_all(generator.prompt_ids(tf.constant([""]))[:, :1] == 2))


def test_generator_needs_a_start_token():
    with pytest.raises(ConfigError, match="start token"):
        _generator(("[PAD]", "[UNK]"))
