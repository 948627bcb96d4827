"""LSTMCausalLM: the carried state equals a full re-run, padded prefill, carried training states
(shapes, a fit step and the reload are in test_model_harness.py)."""

import numpy as np
import pytest

from nlp_lstm.models import LSTMCausalLM


@pytest.mark.parametrize("tie, layers", [(False, 1), (True, 2)])
def test_step_by_step_state_matches_full_rerun(tie, layers):
    model = LSTMCausalLM(
        vocabulary_size=20,
        embedding_dim=6,
        hidden_dim=8,
        num_layers=layers,
        tie_embeddings=tie,
        dropout=0.0,
    )
    ids = np.array([[4, 5, 6, 7, 8, 9], [9, 8, 7, 6, 5, 4]])
    full = np.asarray(model(ids))
    assert full.shape == (2, 6, 20)
    logits, states = model.prefill(ids[:, :2], np.ones((2, 2), dtype=bool))
    np.testing.assert_allclose(logits, full[:, 1], atol=1e-5)
    for position in range(2, 6):
        logits, states = model.step(ids[:, position], states)
        np.testing.assert_allclose(logits, full[:, position], atol=1e-5)


def test_prefill_with_padding_uses_the_last_real_token():
    model = LSTMCausalLM(vocabulary_size=20, embedding_dim=6, hidden_dim=8, num_layers=1)
    padded = np.array([[4, 5, 0, 0]])
    logits, _ = model.prefill(padded, padded != 0)
    np.testing.assert_allclose(logits, np.asarray(model(padded[:, :2]))[:, -1], atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match", [({"hidden_dim": 0}, "hidden_dim"), ({"dropout": 1.0}, "dropout")]
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSTMCausalLM(vocabulary_size=10, **kwargs)


def test_carried_states_continue_rows_across_training_batches():
    """carry_states: batch 2 starts where batch 1 ended, row by row, like one long pass."""
    model = LSTMCausalLM(
        vocabulary_size=20, embedding_dim=6, hidden_dim=8, num_layers=2, dropout=0.0
    )
    ids = np.random.default_rng(0).integers(1, 20, size=(3, 8))
    full = np.asarray(model(ids))
    weights_before = len(model.weights)
    model.carry_states(3)
    first = np.asarray(model(ids[:, :4], training=True))
    second = np.asarray(model(ids[:, 4:], training=True))
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), full, atol=1e-5)
    # The carried states are no weights: checkpoints and exports never hold them.
    assert len(model.weights) == weights_before
    # Inference ignores them (zero states); a reset starts training from zero states again.
    assert not np.allclose(np.asarray(model(ids[:, 4:])), second, atol=1e-4)
    model.reset_carried_states()
    np.testing.assert_allclose(np.asarray(model(ids[:, :4], training=True)), full[:, :4], atol=1e-5)
    model.carry_states(None)
    np.testing.assert_allclose(
        np.asarray(model(ids[:, 4:], training=True)), np.asarray(model(ids[:, 4:])), atol=1e-6
    )
