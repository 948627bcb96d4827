"""Tests for nlp_lstm/models/text_classifier.py (and the backbone it uses)."""

import keras
import numpy as np
import pytest

from nlp_lstm.models import MODELS, LSTMBackbone, LSTMTextClassifier
from nlp_lstm.models.backbone import padding_mask
from nlp_lstm.models.text_classifier import POOLINGS
from tests.testing import run_model_test

# Right-padded ids; the last row is all padding (an empty text).
IDS = np.array(
    [
        [4, 5, 6, 0, 0],
        [7, 8, 0, 0, 0],
        [4, 9, 5, 6, 0],
        [7, 8, 9, 7, 8],
        [4, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ],
    dtype=np.int64,
)
LABELS = np.array([0, 1, 0, 1, 0, 1])


def tiny(**kwargs):
    args = {
        "num_classes": 2,
        "vocabulary_size": 10,
        "embedding_dim": 4,
        "hidden_dim": 4,
        "dropout": 0.0,
    }
    args.update(kwargs)
    return LSTMTextClassifier(**args)


def check_probabilities(out, num_rows, num_classes):
    out = np.asarray(out)
    assert out.shape == (num_rows, num_classes)
    assert np.all(np.isfinite(out)), out
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-5)


# Every pooling with bidirectional LSTMs, plus the unidirectional paths that differ ("last"
# reads the backward half from position 0 only when bidirectional). A forward pass each; the
# fit and reload of run_model_test is slow, so these combinations run it under --run-slow.
FORWARD_CASES = [
    {"pooling": "last"},
    {"pooling": "mean"},
    {"pooling": "max"},
    {"pooling": "max_mean", "head_hidden_dim": 3},
    {"pooling": "attention"},
    {"pooling": "last", "bidirectional": False},
    {"pooling": "attention", "bidirectional": False, "num_layers": 2},
]


@pytest.mark.parametrize("kwargs", FORWARD_CASES, ids=lambda k: "-".join(map(str, k.values())))
def test_forward_pass(kwargs):
    model = tiny(num_classes=3, **kwargs)
    out = model(IDS)
    check_probabilities(out, len(IDS), 3)  # IDS ends with an all-padding row: no NaN
    assert out.dtype == "float32"
    # An all-padding batch of one column (what the packer emits for "") gives no NaN either.
    check_probabilities(model(np.zeros([2, 1], dtype=np.int64)), 2, 3)
    if kwargs.get("head_hidden_dim"):
        assert model.head_hidden.units == kwargs["head_hidden_dim"]
    else:
        assert model.head_hidden is None
    if kwargs.get("num_layers"):
        assert len(model.backbone.recurrent_layers) == kwargs["num_layers"]


@pytest.mark.parametrize("pooling", ["last", "max_mean"])
def test_extra_right_padding_does_not_change_outputs(pooling):
    model = tiny(pooling=pooling)
    wider = np.pad(IDS, [[0, 0], [0, 3]])
    np.testing.assert_allclose(model(wider), model(IDS), atol=1e-6)


def run_classifier_test(**kwargs):
    """run_model_test on IDS with three Adam steps, trained in a graph as a run trains."""
    args = {
        "num_classes": 2,
        "vocabulary_size": 10,
        "embedding_dim": 4,
        "hidden_dim": 4,
        "dropout": 0.0,
        **kwargs,
    }
    return run_model_test(
        LSTMTextClassifier,
        args,
        IDS,
        (len(IDS), 2),
        LABELS,
        "sparse_categorical_crossentropy",
        learning_rate=0.05,
        steps=3,
        run_eagerly=False,
    )


# The fast case (unidirectional "last" pooling with a head layer) is in test_model_harness.py.
@pytest.mark.slow
@pytest.mark.parametrize("bidirectional", [True, False], ids=["bi", "uni"])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_run_model_test_every_pooling(pooling, bidirectional):
    reloaded = run_classifier_test(pooling=pooling, bidirectional=bidirectional)
    check_probabilities(reloaded(IDS), len(IDS), 2)


@pytest.mark.slow
@pytest.mark.parametrize("bidirectional", [True, False], ids=["bi", "uni"])
def test_run_model_test_two_layers_and_head(bidirectional):
    reloaded = run_classifier_test(
        pooling="attention", bidirectional=bidirectional, num_layers=2, head_hidden_dim=3
    )
    assert reloaded.get_config()["num_layers"] == 2
    assert len(reloaded.backbone.lstm_layers()) == (4 if bidirectional else 2)
    check_probabilities(reloaded(IDS), len(IDS), 2)


def test_get_config_round_trip():
    model = tiny(
        pooling="max_mean",
        num_layers=2,
        head_hidden_dim=3,
        bidirectional=False,
        recurrent_dropout=0.1,
        activation="relu",
        unroll=True,
        use_bias=False,
    )
    config = model.get_config()
    for key, value in {
        "num_classes": 2,
        "vocabulary_size": 10,
        "embedding_dim": 4,
        "hidden_dim": 4,
        "num_layers": 2,
        "bidirectional": False,
        "pooling": "max_mean",
        "dropout": 0.0,
        "head_hidden_dim": 3,
        "recurrent_dropout": 0.1,
        "activation": "relu",
        "recurrent_activation": "sigmoid",
        "unroll": True,
        "use_bias": False,
    }.items():
        assert config[key] == value, key
    clone = LSTMTextClassifier.from_config(config)
    assert clone.get_config() == config
    assert clone.backbone.lstm_layers()[1].cell.use_bias is False


def test_from_config_with_same_weights_gives_same_outputs():
    model = tiny(pooling="mean")
    clone = LSTMTextClassifier.from_config(model.get_config())
    ids = IDS[:2, :3]
    model(ids)
    clone(ids)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(ids), model(ids), atol=1e-6)


def test_backbone_output_shape():
    for bidirectional, width in ((True, 6), (False, 3)):
        backbone = LSTMBackbone(
            vocabulary_size=10, embedding_dim=4, hidden_dim=3, bidirectional=bidirectional
        )
        assert tuple(backbone(IDS).shape) == (len(IDS), IDS.shape[1], width)
        assert backbone.output_dim == width


def test_padding_mask_keeps_first_position():
    mask = np.asarray(padding_mask(np.array([[0, 0, 0], [5, 0, 6]])))
    assert mask.tolist() == [[True, False, False], [True, False, True]]


def test_registered_under_lstm_text_classifier():
    assert MODELS.get("lstm_text_classifier") is LSTMTextClassifier
    assert keras.saving.get_registered_object("nlp_lstm>LSTMTextClassifier") is LSTMTextClassifier
    model = MODELS.build(
        {"type": "lstm_text_classifier", "hidden_dim": 2, "embedding_dim": 2},
        num_classes=3,
        vocabulary_size=7,
    )
    assert model.num_classes == 3 and model.backbone.vocabulary_size == 7


def test_last_pooling_with_left_padding_reads_the_last_token():
    model = tiny(pooling="last", bidirectional=False)
    out = np.asarray(model(np.array([[0, 0, 0, 5], [0, 0, 0, 6]])))
    # Two different texts must not get identical probabilities.
    assert np.any(out[0] != out[1]), out
    # And a left-padded row should match the same row right-padded.
    left = model(np.array([[0, 0, 5, 6]]))
    right = model(np.array([[5, 6, 0, 0]]))
    np.testing.assert_allclose(left, right, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 2.0}, "num_classes"),
        ({"pooling": "sum"}, "pooling"),
        ({"head_hidden_dim": -1}, "head_hidden_dim"),
        ({"head_hidden_dim": 2.5}, "head_hidden_dim"),
        ({"vocabulary_size": 0}, "vocabulary_size"),
        ({"embedding_dim": True}, "embedding_dim"),
        ({"hidden_dim": 0}, "hidden_dim"),
        ({"num_layers": 0}, "num_layers"),
        ({"dropout": 1.0}, "dropout"),
        ({"embedding_dropout": -0.5}, "embedding_dropout"),
        ({"recurrent_dropout": -0.1}, "recurrent_dropout"),
        ({"activation": "swish"}, "activation"),
        ({"recurrent_activation": "hard_sigmoid"}, "recurrent_activation"),
    ],
)
def test_bad_args(kwargs, argument):
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
        tiny(**kwargs)
