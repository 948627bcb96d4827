"""LSTMSeq2Seq and its attention: masking, carried state equals teacher forcing, fit, reload."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.models import MODELS, BahdanauAttention, LSTMSeq2Seq, LuongAttention, cudnn_report

SOURCE = np.array([[4, 5, 6, 7, 0], [8, 9, 0, 0, 0], [0, 0, 0, 0, 0]])
TARGET = np.array([[1, 4, 5, 6, 7, 3], [1, 8, 9, 2, 0, 0], [1, 3, 3, 3, 3, 3]])


def tiny(**kwargs):
    args = {
        "source_vocabulary_size": 12,
        "target_vocabulary_size": 12,
        "embedding_dim": 8,
        "hidden_dim": 8,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "dropout": 0.0,
    }
    args.update(kwargs)
    return LSTMSeq2Seq(**args)


@pytest.mark.parametrize(
    "layer", [LuongAttention(), BahdanauAttention(units=5)], ids=["luong", "bahdanau"]
)
def test_attention_gives_padding_exactly_zero_weight(layer):
    rng = np.random.RandomState(0)
    query = rng.normal(size=(3, 2, 4)).astype("float32")
    keys = rng.normal(size=(3, 5, 6)).astype("float32")
    mask = np.array(
        [[True, True, True, False, False], [True, False, True, True, True], [False] * 5]
    )
    context, weights = layer(query, keys, mask)
    context, weights = np.asarray(context), np.asarray(weights)
    assert weights.shape == (3, 2, 5) and context.shape == (3, 2, 6)
    assert weights.dtype == np.float32
    assert np.all(np.isfinite(weights)) and np.all(np.isfinite(context))
    assert np.all(weights[~np.broadcast_to(mask[:, None, :], weights.shape)] == 0.0)
    np.testing.assert_allclose(weights[:2].sum(axis=-1), 1.0, atol=1e-6)
    assert np.all(weights[2] == 0.0) and np.all(context[2] == 0.0)
    np.testing.assert_allclose(context, weights @ keys, atol=1e-5)


@pytest.mark.parametrize("attention, tie", [("luong", False), ("bahdanau", True)])
def test_decode_step_matches_teacher_forced_call(attention, tie):
    model = tiny(attention=attention, tie_embeddings=tie, embedding_dim=6)
    full = np.asarray(model((SOURCE, TARGET)))
    assert full.shape == (3, 6, 12) and full.dtype == np.float32
    teacher_weights = np.asarray(model.attention_weights(SOURCE, TARGET))
    encoder_outputs, source_mask, states = model.encode(SOURCE)
    assert tuple(encoder_outputs.shape) == (3, 5, 8) and len(states) == 4
    np.testing.assert_array_equal(source_mask, SOURCE != 0)
    for position in range(TARGET.shape[1]):
        logits, states, weights = model.decode_step(
            TARGET[:, position], states, encoder_outputs, source_mask
        )
        np.testing.assert_allclose(logits, full[:, position], atol=1e-5)
        np.testing.assert_allclose(weights, teacher_weights[:, position], atol=1e-6)


def test_padding_and_empty_sources_are_harmless():
    model = tiny(attention="bahdanau")
    short = np.asarray(model((SOURCE[:2, :4], TARGET[:2])))
    np.testing.assert_allclose(model((SOURCE[:2], TARGET[:2])), short, atol=1e-5)
    weights = np.asarray(model.attention_weights(SOURCE, TARGET))
    assert weights.shape == (3, 6, 5)
    assert np.all(weights[0, :, 4] == 0) and np.all(weights[1, :, 2:] == 0)
    assert np.all(weights[2] == 0)
    assert np.all(np.isfinite(model((SOURCE, TARGET))))
    assert np.all(np.isfinite(model((np.zeros((2, 0), "int64"), TARGET[:2]))))


@pytest.mark.slow  # trains for several epochs, ~15 s
def test_fit_lowers_the_loss_and_save_load_round_trip(tmp_path):
    model = tiny(decoder_layers=1, hidden_dim=16)
    rng = np.random.RandomState(0)
    source = rng.randint(3, 12, size=(32, 4))
    decoder_in = np.concatenate([np.ones((32, 1), "int64"), source], axis=1)
    target = np.concatenate([source, np.full((32, 1), 2)], axis=1)
    data = tf.data.Dataset.from_tensor_slices(((source, decoder_in), target)).batch(8)
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
    )
    before = model.evaluate(data, verbose=0)
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    assert model.evaluate(data, verbose=0) < before
    model.save(tmp_path / "seq2seq.keras")
    reloaded = keras.saving.load_model(tmp_path / "seq2seq.keras")
    assert isinstance(reloaded, LSTMSeq2Seq)
    assert reloaded.get_config() == model.get_config()
    np.testing.assert_array_equal(reloaded((SOURCE, TARGET)), model((SOURCE, TARGET)))


def test_tied_model_save_load_round_trip(tmp_path):
    model = tiny(attention="bahdanau", tie_embeddings=True, embedding_dim=6)
    expected = np.asarray(model((SOURCE, TARGET)))
    model.save(tmp_path / "tied.keras")
    reloaded = keras.saving.load_model(tmp_path / "tied.keras")
    np.testing.assert_array_equal(reloaded((SOURCE, TARGET)), expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden_dim": 7}, r"`hidden_dim` must be even.*Received: hidden_dim=7"),
        ({"hidden_dim": 0}, r"`hidden_dim` must be a positive int"),
        ({"encoder_layers": 0}, r"`encoder_layers` must be a positive int.*encoder_layers=0"),
        ({"target_vocabulary_size": 1}, r"`target_vocabulary_size` must be an int >= 2"),
        ({"attention": "dot"}, r"`attention` must be one of \('luong', 'bahdanau'\).*'dot'"),
        ({"dropout": 1.0}, r"`dropout` must be in \[0, 1\).*dropout=1.0"),
        ({"tie_embeddings": "yes"}, r"`tie_embeddings` must be a bool"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny(**kwargs)


def test_invalid_attention_units():
    with pytest.raises(ValueError, match=r"`units` must be a positive int. Received: units=0"):
        BahdanauAttention(units=0)


def test_mixed_precision_keeps_float32_logits_and_carried_state():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = tiny(attention="bahdanau", tie_embeddings=True, embedding_dim=6)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    full = model((SOURCE, TARGET))
    assert full.dtype == "float32" and np.all(np.isfinite(full))
    encoder_outputs, source_mask, states = model.encode(SOURCE)
    assert encoder_outputs.dtype == "bfloat16"
    for position in range(3):
        logits, states, weights = model.decode_step(
            TARGET[:, position], states, encoder_outputs, source_mask
        )
        assert logits.dtype == "float32" and weights.dtype == "float32"
        np.testing.assert_allclose(logits, full[:, position], atol=0.05)


def test_every_lstm_is_cudnn_eligible_and_registered():
    model = tiny()
    model((SOURCE, TARGET))
    report = cudnn_report(model, "right")
    names = sorted(entry["layer"].rsplit("/", 1)[-1] for entry in report["layers"])
    assert names == [
        "backward_encoder_lstm_0",
        "backward_encoder_lstm_1",
        "decoder_lstm_0",
        "decoder_lstm_1",
        "forward_encoder_lstm_0",
        "forward_encoder_lstm_1",
    ]
    assert all(entry["eligible_kernel"] == "cudnn" for entry in report["layers"])
    assert MODELS.get("lstm_seq2seq") is LSTMSeq2Seq
    assert keras.saving.get_registered_object("nlp_lstm>LSTMSeq2Seq") is LSTMSeq2Seq
