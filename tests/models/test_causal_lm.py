"""LSTMCausalLM: shapes, the carried state equals a full re-run, training lowers the loss, reload."""

import keras
import numpy as np
import pytest

from nlp_lstm.models import LSTMCausalLM


@pytest.mark.parametrize("tie, layers", [(False, 1), (True, 2)])
def test_step_by_step_state_matches_full_rerun(tie, layers):
    model = LSTMCausalLM(vocabulary_size=20, embedding_dim=6, hidden_dim=8, num_layers=layers,
                         tie_embeddings=tie, dropout=0.0)
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


def test_training_lowers_the_loss_and_reloads(tmp_path):
    model = LSTMCausalLM(vocabulary_size=12, embedding_dim=8, hidden_dim=16, num_layers=1)
    ids = np.tile(np.arange(4, 12), (16, 2))
    x, y = ids[:, :-1], ids[:, 1:]
    model.compile(optimizer=keras.optimizers.Adam(0.02),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, batch_size=4, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before / 2
    model.save(tmp_path / "lm.keras")
    reloaded = keras.saving.load_model(tmp_path / "lm.keras")
    np.testing.assert_allclose(reloaded(x[:2]), model(x[:2]), atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [({"hidden_dim": 0}, "hidden_dim"),
                                           ({"dropout": 1.0}, "dropout")])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSTMCausalLM(vocabulary_size=10, **kwargs)
