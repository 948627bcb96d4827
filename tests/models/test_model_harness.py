"""Every registered model through `run_model_test`: one case per MODELS entry (output shape, one
Adam step on a fixed batch lowers the loss, get_config, .keras reload), and a test that a model
without a case fails. The model files hold each model's other behaviour."""

import keras
import numpy as np
import pytest

from nlp_lstm.models import MODELS
from nlp_lstm.models.losses import MaskedSequenceLoss
from tests.testing import run_model_test

RNG = np.random.default_rng(0)

# Right-padded ids; the last row is all padding (an empty text).
CLASSIFIER_IDS = np.array(
    [[4, 5, 6, 0, 0], [7, 8, 0, 0, 0], [4, 9, 5, 6, 0], [7, 8, 9, 7, 8], [4, 0, 0, 0, 0], [0] * 5]
)
LM_IDS = np.tile(np.arange(4, 12), (4, 2))
# Source, decoder input (start id 1 first) and target (end id 3 last), right-padded with 0.
SOURCE = np.array([[4, 5, 6, 7, 0], [8, 9, 0, 0, 0], [0, 0, 0, 0, 0]])
DECODER_IN = np.array([[1, 4, 5, 6, 7], [1, 8, 9, 0, 0], [1, 0, 0, 0, 0]])
TARGET = np.array([[4, 5, 6, 7, 3], [8, 9, 3, 0, 0], [3, 0, 0, 0, 0]])
HISTORY_2 = RNG.normal(size=(5, 8, 2)).astype("float32")
HISTORY_3 = RNG.normal(size=(5, 6, 3)).astype("float32")

# registry name -> run_model_test arguments after the class.
MODEL_CASES = {
    "lstm_text_classifier": dict(
        # unidirectional "last" pooling with a hidden head layer: the cheapest to trace
        init_kwargs=dict(
            num_classes=2,
            vocabulary_size=10,
            embedding_dim=4,
            hidden_dim=4,
            dropout=0.0,
            pooling="last",
            bidirectional=False,
            head_hidden_dim=4,
        ),
        input_data=CLASSIFIER_IDS,
        expected_output_shape=(6, 2),
        targets=np.array([0, 1, 0, 1, 0, 1]),
        loss="sparse_categorical_crossentropy",
        learning_rate=0.05,
    ),
    "lstm_causal_lm": dict(
        init_kwargs=dict(
            vocabulary_size=12, embedding_dim=8, hidden_dim=16, num_layers=1, dropout=0.0
        ),
        input_data=LM_IDS[:, :-1],
        expected_output_shape=(4, 15, 12),
        targets=LM_IDS[:, 1:],
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ),
    "lstm_seq2seq": dict(
        init_kwargs=dict(
            source_vocabulary_size=12,
            target_vocabulary_size=10,
            embedding_dim=8,
            hidden_dim=8,
            encoder_layers=1,
            decoder_layers=1,
            dropout=0.0,
        ),
        input_data=(SOURCE, DECODER_IN),
        expected_output_shape=(3, 5, 10),
        targets=TARGET,
        loss=MaskedSequenceLoss(),
    ),
    "lstm_forecaster": dict(
        init_kwargs=dict(
            input_length=8,
            horizon=3,
            input_channels=2,
            target_indices=[1],
            units=4,
            segment_length=4,
            channel_independence=True,
            revin=True,
        ),
        input_data=HISTORY_2,
        expected_output_shape=(5, 3, 1),
        targets=RNG.normal(size=(5, 3, 1)).astype("float32"),
        loss="mse",
    ),
    "lstm_seq2seq_forecaster": dict(
        init_kwargs=dict(
            input_length=6, horizon=2, input_channels=3, target_indices=[0, 2], units=4
        ),
        input_data=HISTORY_3,
        expected_output_shape=(5, 2, 2),
        targets=RNG.normal(size=(5, 2, 2)).astype("float32"),
        loss="mse",
    ),
}


def test_every_registered_model_has_a_case():
    assert set(MODEL_CASES) == set(MODELS.names())


@pytest.mark.parametrize("name", sorted(MODEL_CASES))
def test_run_model_test(name):
    cls = MODELS.get(name)
    reloaded = run_model_test(cls, **MODEL_CASES[name])
    assert isinstance(reloaded, cls)
