"""Forecasting models: history [batch, L, channels] (z-scored) -> forecast [batch, H, targets].

The history holds `input_channels` value channels, then `covariate_channels` covariates (the
calendar features of each row, not scaled): the targets are value channels, RevIN normalises
only the values, and channel independence gives every value channel the shared covariates.

`LSTMForecaster` is an LSTM encoder with a direct multi-step head (all H steps at once), with
the options that let a small RNN match long-horizon Transformers (SegRNN, Lin et al. 2023):
segment-wise input, channel independence and reversible instance normalisation (RevIN).
`LSTMSeq2SeqForecaster` is the classic LSTM encoder-decoder with additive attention, decoding
autoregressively ("LSTMa" in the Informer paper). Every LSTM keeps the cuDNN-eligible defaults.
"""

import keras
import numpy as np
import tensorflow as tf

from nlp_lstm.models.registry import register_model
from nlp_lstm.models.seq2seq import BahdanauAttention


def _check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}.")
    return value


def _check_targets(target_indices, input_channels):
    indices = list(target_indices)
    if not indices or any(
        isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < input_channels
        for i in indices
    ):
        raise ValueError(
            f"`target_indices` must list channel indices in [0, {input_channels}). "
            f"Received: target_indices={target_indices!r}."
        )
    return indices


class _Forecaster(keras.Model):
    """What both forecasters share: their sizes, the value/covariate split, RevIN, get_config."""

    config_keys = ()

    def __init__(
        self,
        input_length,
        horizon,
        input_channels,
        target_indices,
        revin=False,
        covariate_channels=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_length = _check_int("input_length", input_length)
        self.horizon = _check_int("horizon", horizon)
        self.input_channels = _check_int("input_channels", input_channels)
        self.covariate_channels = _check_int("covariate_channels", covariate_channels, 0)
        self.target_indices = _check_targets(target_indices, input_channels)
        self.revin = bool(revin)
        if self.revin:
            self.revin_weight = self.add_weight(
                shape=(input_channels,), initializer="ones", name="revin_weight"
            )
            self.revin_bias = self.add_weight(
                shape=(input_channels,), initializer="zeros", name="revin_bias"
            )

    def split_channels(self, history):
        """(values [batch, L, input_channels], covariates [batch, L, covariate_channels])."""
        history = tf.cast(history, tf.float32)
        channels = self.input_channels + self.covariate_channels
        if history.shape[-1] is not None and history.shape[-1] != channels:
            raise ValueError(
                f"The history must have {channels} channels (input_channels="
                f"{self.input_channels} values, then covariate_channels="
                f"{self.covariate_channels} covariates). Received shape "
                f"{history.shape}."
            )
        return history[..., : self.input_channels], history[..., self.input_channels :]

    def with_covariates(self, x, covariates):
        """`x` with the covariates appended on the last axis (none: `x` itself)."""
        return tf.concat([x, covariates], axis=-1) if self.covariate_channels else x

    def normalise(self, x):
        """(RevIN-normalised values x, statistics to undo it): each window by its own mean and
        std."""
        if not self.revin:
            return x, None
        mean = tf.reduce_mean(x, axis=1, keepdims=True)
        std = tf.sqrt(tf.math.reduce_variance(x, axis=1, keepdims=True) + 1e-5)
        return (x - mean) / std * self.revin_weight + self.revin_bias, (mean, std)

    def denormalise(self, y, stats):
        """The targets' forecast `y` back on the window's level and scale (RevIN's inverse)."""
        if stats is None:
            return y
        bias = tf.gather(self.revin_bias, self.target_indices)
        return self.rescale(y - bias, stats) + tf.gather(stats[0], self.target_indices, axis=-1)

    def rescale(self, y, stats):
        """`y` in the targets' RevIN scale back on the window's scale, not its level (a
        residual); `y` itself without RevIN."""
        if stats is None:
            return y
        weight = tf.gather(self.revin_weight, self.target_indices)
        return y / (weight + 1e-10) * tf.gather(stats[1], self.target_indices, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            input_length=self.input_length,
            horizon=self.horizon,
            input_channels=self.input_channels,
            covariate_channels=self.covariate_channels,
            target_indices=self.target_indices,
            revin=self.revin,
            **{key: getattr(self, key) for key in self.config_keys},
        )
        return config


@register_model("lstm_forecaster")
class LSTMForecaster(_Forecaster):
    """LSTM encoder + a dense head that predicts all H steps at once.

    The history is cut into L / W segments of `segment_length` W rows; each segment is embedded
    (dense + ReLU) as one step, so the recurrence runs L / W steps (W = 1: one step per row).
    With `channel_independence`, every channel is a separate univariate series through one
    shared model (the channels are folded into the batch), and each series gets the covariates
    as extra channels. With `revin`, each window's values are normalised by their own
    per-channel mean and std, and the forecast de-normalised (the covariates are left as
    they are).

    Args:
        input_length: int. L; filled in from the windower.
        horizon: int. H; filled in from the windower.
        input_channels: int. Value channels of the history; filled in from the data.
        target_indices: list of int. The value channels predicted, in output order; filled in.
        units: int. LSTM units (and the segment embedding size).
        num_layers: int. Stacked LSTM layers.
        segment_length: int. W; must divide input_length.
        channel_independence: bool. One shared model over each channel.
        revin: bool. Reversible instance normalisation.
        dropout: float. Dropout on the LSTM's final state.
        linear_skip: bool. Forecast = an NLinear map of each target channel's window (the
            window minus its last value, one [L, H] matrix shared by the channels, plus the
            last value) + the LSTM's forecast as a residual (scaled by the window's std under
            RevIN). The LSTM's head starts at zero and the task fits the linear map by least
            squares on the train windows before training (`set_linear_map`), so training
            starts from the in-run linear peer's forecast and the LSTM learns what it misses.
        freeze_linear_skip: bool. Keep the fitted linear map fixed in training (only the LSTM's
            residual trains).
        covariate_channels: int. Covariate channels after the values (the calendar features);
            filled in from the stages.

    Example:
    >>> import numpy as np, nlp_lstm
    >>> model = nlp_lstm.models.LSTMForecaster(input_length=8, horizon=3, input_channels=2,
    ...                                        target_indices=[1], units=4, segment_length=4,
    ...                                        channel_independence=True, revin=True)
    >>> model(np.zeros([5, 8, 2], "float32")).shape
    TensorShape([5, 3, 1])
    >>> calendar = nlp_lstm.models.LSTMForecaster(input_length=8, horizon=3, input_channels=2,
    ...                                           target_indices=[1], units=4,
    ...                                           covariate_channels=3)
    >>> calendar(np.zeros([5, 8, 2 + 3], "float32")).shape
    TensorShape([5, 3, 1])
    """

    config_keys = (
        "units",
        "num_layers",
        "segment_length",
        "channel_independence",
        "dropout",
        "linear_skip",
        "freeze_linear_skip",
    )

    def __init__(
        self,
        input_length,
        horizon,
        input_channels,
        target_indices,
        units=64,
        num_layers=1,
        segment_length=1,
        channel_independence=False,
        revin=False,
        dropout=0.0,
        linear_skip=False,
        freeze_linear_skip=False,
        covariate_channels=0,
        **kwargs,
    ):
        super().__init__(
            input_length,
            horizon,
            input_channels,
            target_indices,
            revin,
            covariate_channels,
            **kwargs,
        )
        self.units = _check_int("units", units)
        self.num_layers = _check_int("num_layers", num_layers)
        self.segment_length = _check_int("segment_length", segment_length)
        if input_length % segment_length:
            raise ValueError(
                f"`segment_length` must divide input_length={input_length}. "
                f"Received: segment_length={segment_length!r}."
            )
        self.channel_independence = bool(channel_independence)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}.")
        self.dropout = float(dropout)
        self.outputs_per_series = 1 if self.channel_independence else len(self.target_indices)
        self.embed = keras.layers.Dense(units, activation="relu", name="segment_embedding")
        self.lstm_layers = [
            keras.layers.LSTM(units, return_sequences=i < num_layers - 1, name=f"lstm_{i}")
            for i in range(num_layers)
        ]
        self.drop = keras.layers.Dropout(self.dropout)
        self.linear_skip = bool(linear_skip)
        # With the linear map, the LSTM's residual starts at zero: the forecast starts as the
        # linear map's.
        self.head = keras.layers.Dense(
            horizon * self.outputs_per_series,
            name="head",
            kernel_initializer="zeros" if self.linear_skip else "glorot_uniform",
        )
        self.skip = keras.layers.Dense(horizon, name="linear_skip") if self.linear_skip else None
        if freeze_linear_skip and not self.linear_skip:
            raise ValueError(
                "`freeze_linear_skip` needs linear_skip=True. Received: "
                "freeze_linear_skip=True, linear_skip=False."
            )
        self.freeze_linear_skip = bool(freeze_linear_skip)
        if self.freeze_linear_skip:
            self.skip.trainable = False

    def call(self, history, training=False):
        history, covariates = self.split_channels(history)
        x, stats = self.normalise(history)
        batch = tf.shape(x)[0]
        channels = self.input_channels + self.covariate_channels
        if self.channel_independence:
            # [B, L, C] -> [B * C, L, 1], row b * C + c; tf.repeat gives row b * C + c the
            # covariates of window b.
            x = tf.reshape(tf.transpose(x, [0, 2, 1]), [-1, self.input_length, 1])
            if self.covariate_channels:
                covariates = tf.repeat(covariates, self.input_channels, axis=0)
            channels = 1 + self.covariate_channels
        x = self.with_covariates(x, covariates)
        steps = self.input_length // self.segment_length
        x = tf.reshape(x, [-1, steps, self.segment_length * channels])
        h = self.embed(x)
        for layer in self.lstm_layers:
            h = layer(h, training=training)
        y = self.head(self.drop(h, training=training))
        if self.channel_independence:
            y = tf.reshape(y, [batch, self.input_channels, self.horizon])
            y = tf.gather(tf.transpose(y, [0, 2, 1]), self.target_indices, axis=-1)
        else:
            y = tf.reshape(y, [batch, self.horizon, self.outputs_per_series])
        if self.skip is None:
            return self.denormalise(y, stats)
        return self.rescale(y, stats) + self.linear_forecast(history)

    def linear_forecast(self, history):
        """The NLinear part: values [batch, L, channels] -> [batch, H, targets]."""
        targets = tf.gather(history, self.target_indices, axis=-1)
        last = targets[:, -1:, :]
        window = tf.transpose(targets - last, [0, 2, 1])  # [batch, targets, L]
        return tf.transpose(self.skip(window), [0, 2, 1]) + last

    def set_linear_map(self, weights):
        """Sets the linear map from `weights` [L + 1, H] (rows: the window's steps, then the
        bias), as `forecast_metrics.LinearPeer.fit` computes them. Returns the model."""
        weights = np.asarray(weights, np.float32)
        if self.skip is None or weights.shape != (self.input_length + 1, self.horizon):
            raise ValueError(
                f"set_linear_map needs linear_skip=True and weights of shape "
                f"[{self.input_length + 1}, {self.horizon}]. Received: "
                f"linear_skip={self.linear_skip}, shape {list(weights.shape)}."
            )
        self.skip.set_weights([weights[:-1], weights[-1]])
        return self


@register_model("lstm_seq2seq_forecaster")
class LSTMSeq2SeqForecaster(_Forecaster):
    """LSTM encoder-decoder with additive (Bahdanau) attention, decoding autoregressively.

    The decoder starts from the encoder's final states and the last observed target values;
    each step feeds its own previous prediction and the attention context back in (in training
    too: no teacher forcing, so training and inference decode the same way).

    Args:
        input_length: int. L; filled in from the windower.
        horizon: int. H; filled in from the windower.
        input_channels: int. Value channels of the history; filled in from the data.
        target_indices: list of int. The value channels predicted, in output order; filled in.
        units: int. Encoder and decoder LSTM units.
        attention_units: int. Size of the attention score's hidden layer.
        revin: bool. Reversible instance normalisation (of the values only).
        covariate_channels: int. Covariate channels after the values (the calendar features),
            which the encoder reads; filled in from the stages.

    Example:
    >>> import numpy as np, nlp_lstm
    >>> model = nlp_lstm.models.LSTMSeq2SeqForecaster(input_length=6, horizon=2, input_channels=3,
    ...                                               target_indices=[0, 2], units=4)
    >>> model(np.zeros([5, 6, 3], "float32")).shape
    TensorShape([5, 2, 2])
    """

    config_keys = ("units", "attention_units")

    def __init__(
        self,
        input_length,
        horizon,
        input_channels,
        target_indices,
        units=64,
        attention_units=32,
        revin=False,
        covariate_channels=0,
        **kwargs,
    ):
        super().__init__(
            input_length,
            horizon,
            input_channels,
            target_indices,
            revin,
            covariate_channels,
            **kwargs,
        )
        self.units = _check_int("units", units)
        self.attention_units = _check_int("attention_units", attention_units)
        self.encoder = keras.layers.LSTM(
            units, return_sequences=True, return_state=True, name="encoder"
        )
        self.decoder = keras.layers.LSTM(units, return_state=True, name="decoder")
        self.attention = BahdanauAttention(attention_units, name="attention")
        self.output_layer = keras.layers.Dense(len(self.target_indices), name="output")

    def call(self, history, training=False):
        values, covariates = self.split_channels(history)
        x, stats = self.normalise(values)
        keys, h, c = self.encoder(self.with_covariates(x, covariates), training=training)
        previous = tf.gather(x[:, -1, :], self.target_indices, axis=-1)
        context = tf.zeros_like(h)
        outputs = []
        for _ in range(self.horizon):
            step = tf.concat([previous, context], axis=-1)[:, tf.newaxis, :]
            out, h, c = self.decoder(step, initial_state=[h, c], training=training)
            context, _ = self.attention(out[:, tf.newaxis, :], keys)
            context = context[:, 0, :]
            previous = self.output_layer(tf.concat([out, context], axis=-1))
            outputs.append(previous)
        return self.denormalise(tf.stack(outputs, axis=1), stats)
