"""Which kernel each LSTM can use, and why not cuDNN: checked before training, recorded in the
manifest.

Keras falls back from cuDNN to the generic kernel silently, so this check names every setting
that blocks it (the conditions of keras/src/backend/tensorflow/rnn.py::cudnn_ok and
layers/rnn/lstm.py).
"""

import warnings

import keras
import tensorflow as tf

from nlp_lstm.errors import ConfigError


def _lstm_layers(model):
    found = []
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.Bidirectional):
            continue
        if isinstance(layer, keras.layers.LSTM):
            found.append(layer)
    return found


def blocking_settings(layer, padding_side="right"):
    """The settings of one LSTM layer that keep it off the cuDNN kernel."""
    reasons = []
    cell = layer.cell
    if layer.use_cudnn is False:
        reasons.append("use_cudnn=False")
    if cell.recurrent_dropout:
        reasons.append(f"recurrent_dropout={cell.recurrent_dropout} (must be 0)")
    if cell.activation is not keras.activations.tanh:
        reasons.append(
            f"activation={getattr(cell.activation, '__name__', cell.activation)} (must be tanh)"
        )
    if cell.recurrent_activation is not keras.activations.sigmoid:
        reasons.append(
            f"recurrent_activation="
            f"{getattr(cell.recurrent_activation, '__name__', cell.recurrent_activation)}"
            f" (must be sigmoid)"
        )
    if layer.unroll:
        reasons.append("unroll=True (must be False)")
    if not cell.use_bias:
        reasons.append("use_bias=False (must be True)")
    if padding_side == "left":
        reasons.append("padding_side=left with a mask (cuDNN needs right padding)")
    return reasons


def cudnn_report(model, padding_side="right"):
    """One entry per LSTM layer: its path, the kernel it is eligible for, and the blocking
    settings."""
    gpu = bool(tf.config.list_physical_devices("GPU"))
    report = []
    for layer in _lstm_layers(model):
        reasons = blocking_settings(layer, padding_side)
        report.append(
            {
                "layer": getattr(layer, "path", None) or layer.name,
                "eligible_kernel": "generic" if reasons else "cudnn",
                "kernel_on_this_machine": "cudnn" if gpu and not reasons else "generic",
                "blocking_settings": reasons,
            }
        )
    return {"gpu_visible": gpu, "layers": sorted(report, key=lambda entry: entry["layer"])}


def check_cudnn(report, strict):
    """Warns (or raises ConfigError when `strict`) if any LSTM cannot use cuDNN."""
    blocked = [entry for entry in report["layers"] if entry["blocking_settings"]]
    if not blocked:
        return
    lines = "; ".join(f"{e['layer']}: {', '.join(e['blocking_settings'])}" for e in blocked)
    message = (
        f"{len(blocked)} LSTM layer(s) cannot use the cuDNN kernel and will run the "
        f"generic, much slower kernel on GPU: {lines}. Use the defaults for these model "
        f"settings (or the stages' padding_side), or set train.strict_cudnn=false to allow it."
    )
    if strict:
        raise ConfigError(message)
    warnings.warn(message, stacklevel=2)


def disable_cudnn(model):
    """Sets use_cudnn=False on every LSTM (including Bidirectional halves) for portable exports."""
    for layer in _lstm_layers(model):
        layer.use_cudnn = False
    return model
