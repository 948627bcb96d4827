"""LSTMBackbone: token embedding plus a stack of (bidirectional) LSTMs, with no task head."""

import keras
from keras import ops

ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear", "gelu")


def padding_mask(ids):
    """True on real tokens. A row with no real token (an empty text) gets position 0 marked real,
    because the cuDNN kernel rejects all-padding rows with a run-time assertion."""
    real = ops.not_equal(ids, 0)
    first = (ops.arange(ops.shape(ids)[1]) == 0)[None, :]
    empty = ops.logical_not(ops.any(real, axis=1, keepdims=True))
    return ops.logical_or(real, ops.logical_and(empty, first))


@keras.saving.register_keras_serializable(package="nlp_lstm")
class LSTMBackbone(keras.layers.Layer):
    """Embedding -> `num_layers` (bi)LSTMs returning sequences; the padding mask follows the ids.

    The defaults keep every LSTM on the cuDNN kernel when a GPU is visible; `recurrent_dropout`,
    non-default activations, `unroll` and `use_bias=False` take it off (see nlp_lstm.models.cudnn).

    Args:
        vocabulary_size: int. Number of token ids (id 0 is padding).
        embedding_dim: int. Size of the token vectors.
        hidden_dim: int. Units per LSTM direction.
        num_layers: int. Number of stacked LSTM layers.
        bidirectional: bool. Run each layer in both directions and concatenate.
        dropout: float. Dropout between LSTM layers.
        embedding_dropout: float. Spatial dropout on the embeddings (drops whole token vectors).
        recurrent_dropout: float. Dropout on the recurrent state (blocks cuDNN).
        activation: str. Cell activation ("tanh" keeps cuDNN).
        recurrent_activation: str. Gate activation ("sigmoid" keeps cuDNN).
        unroll: bool. Unroll the recurrence (blocks cuDNN).
        use_bias: bool. Gate biases (False blocks cuDNN).

    Example:
    >>> import numpy as np, nlp_lstm
    >>> backbone = nlp_lstm.models.LSTMBackbone(vocabulary_size=10, embedding_dim=4, hidden_dim=3)
    >>> backbone(np.array([[4, 5, 0]])).shape
    TensorShape([1, 3, 6])
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim=128,
        hidden_dim=128,
        num_layers=1,
        bidirectional=True,
        dropout=0.0,
        embedding_dropout=0.0,
        recurrent_dropout=0.0,
        activation="tanh",
        recurrent_activation="sigmoid",
        unroll=False,
        use_bias=True,
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
        for arg, value in (
            ("dropout", dropout),
            ("embedding_dropout", embedding_dropout),
            ("recurrent_dropout", recurrent_dropout),
        ):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"`{arg}` must be in [0, 1). Received: {arg}={value!r}.")
        for arg, value in (
            ("activation", activation),
            ("recurrent_activation", recurrent_activation),
        ):
            if value not in ACTIVATIONS:
                raise ValueError(
                    f"`{arg}` must be one of {ACTIVATIONS}. Received: {arg}={value!r}."
                )
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.embedding_dropout = embedding_dropout
        self.recurrent_dropout = recurrent_dropout
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.unroll = unroll
        self.use_bias = use_bias
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")
        self.token_dropout = keras.layers.SpatialDropout1D(embedding_dropout)
        self.recurrent_layers = []
        for index in range(num_layers):
            lstm = keras.layers.LSTM(
                hidden_dim,
                return_sequences=True,
                recurrent_dropout=recurrent_dropout,
                activation=activation,
                recurrent_activation=recurrent_activation,
                unroll=unroll,
                use_bias=use_bias,
                name=f"lstm_{index}",
            )
            if bidirectional:
                lstm = keras.layers.Bidirectional(lstm, name=f"bilstm_{index}")
            self.recurrent_layers.append(lstm)
        self.between_dropout = keras.layers.Dropout(dropout)

    @property
    def output_dim(self):
        return self.hidden_dim * (2 if self.bidirectional else 1)

    def lstm_layers(self):
        """Every keras.layers.LSTM, including those wrapped in Bidirectional."""
        out = []
        for layer in self.recurrent_layers:
            if isinstance(layer, keras.layers.Bidirectional):
                out += [layer.forward_layer, layer.backward_layer]
            else:
                out.append(layer)
        return out

    def build(self, input_shape):
        self.embedding.build(input_shape)
        shape = tuple(input_shape) + (self.embedding_dim,)
        for layer in self.recurrent_layers:
            layer.build(shape)
            shape = shape[:-1] + (self.output_dim,)
        self.built = True

    def call(self, ids, training=False):
        mask = padding_mask(ids)
        x = self.token_dropout(self.embedding(ids), training=training)
        for index, layer in enumerate(self.recurrent_layers):
            if index:
                x = self.between_dropout(x, training=training)
            x = layer(x, mask=mask, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

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
                    "bidirectional",
                    "dropout",
                    "recurrent_dropout",
                    "activation",
                    "recurrent_activation",
                    "unroll",
                    "use_bias",
                    "embedding_dropout",
                )
            }
        )
        return config
