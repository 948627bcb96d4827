"""LSTMCausalLM: a next-token LSTM language model with a prefill pass and a one-token step.

Training and prompt feeding run whole sequences through the (cuDNN-eligible) LSTM layers;
generation then carries each layer's (h, c) one token at a time through the layers' cells, so a
new token never re-runs the prefix.
"""

import keras
import tensorflow as tf
from keras import ops

from nlp_lstm.models.registry import register_model


def output_logits(hidden, output_layer, projection, embedding, output_bias):
    """float32 logits from a dense output layer, or, with tied embeddings, from the embedding
    table (after an optional projection to its width) plus a bias added in float32."""
    if output_layer is not None:
        return ops.cast(output_layer(hidden), "float32")
    if projection is not None:
        hidden = projection(hidden)
    table = ops.cast(embedding.embeddings, hidden.dtype)
    return ops.cast(ops.matmul(hidden, ops.transpose(table)), "float32") + ops.cast(
        output_bias, "float32"
    )


class _CarriedStates:
    """Each layer's (h, c) carried from one training batch to the next. A plain object, so that
    neither Keras nor tf.Module tracking puts these variables into checkpoints or exports."""

    def __init__(self, batch_size, units, count):
        self.batch_size = batch_size
        self.variables = [
            tf.Variable(tf.zeros([batch_size, units]), trainable=False) for _ in range(count)
        ]

    def read(self, layer_index, dtype):
        h, c = self.variables[2 * layer_index : 2 * layer_index + 2]
        return [ops.cast(h, dtype), ops.cast(c, dtype)]

    def write(self, states):
        for variable, state in zip(self.variables, states):
            variable.assign(ops.cast(tf.stop_gradient(state), variable.dtype))

    def reset(self):
        for variable in self.variables:
            variable.assign(tf.zeros_like(variable))


@register_model("lstm_causal_lm")
class LSTMCausalLM(keras.Model):
    """Embedding -> stacked LSTMs -> logits over the vocabulary for the next token.

    Args:
        vocabulary_size: int. Number of token ids; filled in from the vocabulary stage.
        embedding_dim: int. Size of the token vectors.
        hidden_dim: int. Units per LSTM layer.
        num_layers: int. Number of stacked LSTM layers.
        dropout: float. Dropout on the embeddings and after each LSTM layer.
        tie_embeddings: bool. Share the input embedding with the output layer (a projection
            maps hidden_dim to embedding_dim first when they differ).
        recurrent_dropout: float. Recurrent-state dropout (blocks cuDNN).

    Example:
    >>> import numpy as np, nlp_lstm
    >>> lm = nlp_lstm.models.LSTMCausalLM(vocabulary_size=12, embedding_dim=4, hidden_dim=6)
    >>> lm(np.array([[4, 5, 6]])).shape
    TensorShape([1, 3, 12])
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim=128,
        hidden_dim=256,
        num_layers=2,
        dropout=0.1,
        tie_embeddings=False,
        recurrent_dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for arg, value in (
            ("vocabulary_size", vocabulary_size),
            ("embedding_dim", embedding_dim),
            ("hidden_dim", hidden_dim),
            ("num_layers", num_layers),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{arg}` must be a positive int. Received: {arg}={value!r}.")
        for arg, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"`{arg}` must be in [0, 1). Received: {arg}={value!r}.")
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.tie_embeddings = tie_embeddings
        self.recurrent_dropout = recurrent_dropout
        self._carried = None
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")
        self.lstm_layers = [
            keras.layers.LSTM(
                hidden_dim,
                return_sequences=True,
                return_state=True,
                recurrent_dropout=recurrent_dropout,
                name=f"lstm_{i}",
            )
            for i in range(num_layers)
        ]
        self.dropout_layer = keras.layers.Dropout(dropout)
        self.projection = None
        if tie_embeddings:
            if hidden_dim != embedding_dim:
                self.projection = keras.layers.Dense(embedding_dim, name="projection")
            self.output_bias = self.add_weight(
                shape=(vocabulary_size,), initializer="zeros", name="output_bias"
            )
            self.output_layer = None
        else:
            self.output_layer = keras.layers.Dense(vocabulary_size, name="output")

    def build(self, input_shape):
        self.embedding.build(input_shape)
        shape = tuple(input_shape) + (self.embedding_dim,)
        for layer in self.lstm_layers:
            layer.build(shape)
            shape = shape[:-1] + (self.hidden_dim,)
        if self.projection is not None:
            self.projection.build(shape)
        if self.output_layer is not None:
            self.output_layer.build(shape)
        self.built = True

    def logits(self, hidden):
        return output_logits(
            hidden,
            self.output_layer,
            self.projection,
            self.embedding,
            getattr(self, "output_bias", None),
        )

    def carry_states(self, batch_size):
        """Truncated backpropagation through time: while training, every batch of `batch_size`
        rows starts from the LSTM states the previous batch ended with (row i continues row i),
        and gradients stop at the batch boundary. `None` turns it off. `reset_carried_states()`
        zeroes the states (at the start of each epoch). The states live outside the model's
        weights, so saved models and exports do not hold them."""
        self._carried = (
            None
            if batch_size is None
            else _CarriedStates(batch_size, self.hidden_dim, 2 * self.num_layers)
        )

    def reset_carried_states(self):
        if self._carried is not None:
            self._carried.reset()

    def call(self, ids, training=False):
        carried = self._carried if training else None
        if carried is not None and ids.shape[0] != carried.batch_size:
            carried = None  # a symbolic trace, or a batch that continues no stream
        x = self.dropout_layer(self.embedding(ids), training=training)
        new_states = []
        for index, layer in enumerate(self.lstm_layers):
            initial = None if carried is None else carried.read(index, x.dtype)
            x, h, c = layer(x, initial_state=initial, training=training)
            new_states += [h, c]
            x = self.dropout_layer(x, training=training)
        if carried is not None:
            carried.write(new_states)
        return self.logits(x)

    def prefill(self, ids, mask):
        """Runs the prompt; returns the logits after its last real token and each layer's (h, c)."""
        if not self.built:
            self.build(tuple(ids.shape))
        x = self.embedding(ids)
        states = []
        for layer in self.lstm_layers:
            x, h, c = layer(x, mask=mask)
            states += [h, c]
        last = ops.sum(ops.cast(mask, "int32"), axis=1) - 1
        final = ops.take_along_axis(x, last[:, None, None], axis=1)[:, 0]
        return self.logits(final), states

    def continue_sequence(self, ids, states=None):
        """Runs whole windows from the given (h, c) per layer (zeros when None); returns the
        logits at every position and the states after the last one (stateful evaluation)."""
        x = self.embedding(ids)
        new_states = []
        for index, layer in enumerate(self.lstm_layers):
            initial = None if states is None else [states[2 * index], states[2 * index + 1]]
            x, h, c = layer(x, initial_state=initial)
            new_states += [h, c]
        return self.logits(x), new_states

    def step(self, token, states):
        """One token per row -> next-token logits and the new (h, c) of every layer."""
        x = self.embedding(token)
        new_states = []
        for index, layer in enumerate(self.lstm_layers):
            x, (h, c) = layer.cell(x, [states[2 * index], states[2 * index + 1]])
            new_states += [h, c]
        return self.logits(x), new_states

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                key: getattr(self, key)
                for key in (
                    "vocabulary_size",
                    "embedding_dim",
                    "hidden_dim",
                    "num_layers",
                    "dropout",
                    "tie_embeddings",
                    "recurrent_dropout",
                )
            }
        )
        return config
