"""Tests for nlp_lstm/models/cudnn.py: which LSTMs can use the cuDNN kernel, and why not."""

import warnings

import keras
import numpy as np
import pytest

from nlp_lstm.errors import ConfigError
from nlp_lstm.models import LSTMTextClassifier, check_cudnn, cudnn_report, disable_cudnn


def tiny(**kwargs):
    """A built model (layer paths are only assigned by the first call)."""
    model = unbuilt(**kwargs)
    model(np.zeros([1, 1], dtype=np.int64))
    return model


def unbuilt(**kwargs):
    args = {"num_classes": 2, "vocabulary_size": 10, "embedding_dim": 2, "hidden_dim": 2}
    args.update(kwargs)
    return LSTMTextClassifier(**args)


@pytest.fixture(scope="module")
def default_model():
    """Two bidirectional layers with the default settings: four LSTMs."""
    return tiny(num_layers=2, bidirectional=True)


def test_defaults_are_all_cudnn_eligible_including_both_bidirectional_halves(default_model):
    report = cudnn_report(default_model)
    layers = report["layers"]
    assert len(layers) == 4
    names = sorted(entry["layer"].rsplit("/", 1)[-1] for entry in layers)
    assert names == ["backward_lstm_0", "backward_lstm_1", "forward_lstm_0", "forward_lstm_1"]
    for entry in layers:
        assert entry["eligible_kernel"] == "cudnn"
        assert entry["blocking_settings"] == []
        expected = "cudnn" if report["gpu_visible"] else "generic"
        assert entry["kernel_on_this_machine"] == expected
    assert [e["layer"] for e in layers] == sorted(e["layer"] for e in layers)


def test_unidirectional_report_lists_each_layer():
    report = cudnn_report(tiny(num_layers=2, bidirectional=False))
    assert [e["layer"].rsplit("/", 1)[-1] for e in report["layers"]] == ["lstm_0", "lstm_1"]
    assert all(e["eligible_kernel"] == "cudnn" for e in report["layers"])


@pytest.mark.parametrize(
    "kwargs, padding_side, reason",
    [
        ({"recurrent_dropout": 0.2}, "right", "recurrent_dropout=0.2"),
        ({"activation": "relu"}, "right", "activation=relu"),
        ({"recurrent_activation": "tanh"}, "right", "recurrent_activation=tanh"),
        ({"unroll": True}, "right", "unroll=True"),
        ({"use_bias": False}, "right", "use_bias=False"),
        ({}, "left", "padding_side=left"),
    ],
)
def test_each_blocking_setting_is_reported(kwargs, padding_side, reason):
    report = cudnn_report(tiny(bidirectional=False, **kwargs), padding_side=padding_side)
    (entry,) = report["layers"]
    assert entry["eligible_kernel"] == "generic"
    assert entry["kernel_on_this_machine"] == "generic"
    assert len(entry["blocking_settings"]) == 1
    assert entry["blocking_settings"][0].startswith(reason)


def test_blocking_settings_cover_both_bidirectional_halves():
    report = cudnn_report(tiny(bidirectional=True, recurrent_dropout=0.2))
    assert len(report["layers"]) == 2
    for entry in report["layers"]:
        assert entry["eligible_kernel"] == "generic"
        assert entry["blocking_settings"] == ["recurrent_dropout=0.2 (must be 0)"]


def test_several_blocking_settings_are_listed_together():
    report = cudnn_report(
        tiny(
            recurrent_dropout=0.1,
            activation="relu",
            unroll=True,
            use_bias=False,
            bidirectional=False,
        ),
        padding_side="left",
    )
    (entry,) = report["layers"]
    reasons = " | ".join(entry["blocking_settings"])
    for reason in (
        "recurrent_dropout=0.1",
        "activation=relu",
        "unroll=True",
        "use_bias=False",
        "padding_side=left",
    ):
        assert reason in reasons
    assert len(entry["blocking_settings"]) == 5


def test_check_cudnn_is_silent_when_all_eligible(default_model):
    report = cudnn_report(default_model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_cudnn(report, strict=False)
        check_cudnn(report, strict=True)


def test_check_cudnn_warns_when_not_strict():
    report = cudnn_report(tiny(activation="relu", bidirectional=False))
    with pytest.warns(
        UserWarning,
        match=r"1 LSTM layer\(s\) cannot use the cuDNN kernel.*"
        r"activation=relu.*strict_cudnn",
    ):
        check_cudnn(report, strict=False)


def test_check_cudnn_raises_when_strict():
    report = cudnn_report(tiny(unroll=True, bidirectional=False), padding_side="left")
    with pytest.raises(
        ConfigError,
        match=r"1 LSTM layer\(s\) cannot use the cuDNN kernel.*"
        r"unroll=True.*padding_side=left",
    ):
        check_cudnn(report, strict=True)


def test_disable_cudnn_sets_use_cudnn_false_everywhere():
    model = tiny(num_layers=2, bidirectional=True)
    lstms = model.backbone.lstm_layers()
    assert len(lstms) == 4
    assert disable_cudnn(model) is model
    for layer in lstms:
        assert isinstance(layer, keras.layers.LSTM)
        assert layer.use_cudnn is False
    report = cudnn_report(model)
    assert len(report["layers"]) == 4
    assert all(e["blocking_settings"] == ["use_cudnn=False"] for e in report["layers"])


def test_report_on_an_unbuilt_model():
    report = cudnn_report(unbuilt(bidirectional=True))
    assert len(report["layers"]) == 2
    assert all(entry["layer"] for entry in report["layers"])
