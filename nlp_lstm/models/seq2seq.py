"""LSTMSeq2Seq: a bidirectional LSTM encoder and an attentional LSTM decoder for translation.

Attention sits after the decoder LSTMs (Luong et al., 2015), so teacher-forced training runs
the whole target through the cuDNN-eligible LSTM layers; decoding then carries each decoder
layer's (h, c) one token at a time through the layers' cells (see nlp_lstm.models.decoding).
"""

import keras
from keras import ops

from nlp_lstm.models.backbone import padding_mask
from nlp_lstm.models.causal_lm import output_logits
from nlp_lstm.models.registry import register_model

ATTENTIONS = ("luong", "bahdanau")


def _masked_weights(scores, key_mask):
    """Softmax over the keys in float32; masked keys get exactly 0, an all-masked row all 0."""
    scores = ops.cast(scores, "float32")
    valid = (
        ops.ones_like(scores)
        if key_mask is None
        else ops.cast(ops.cast(key_mask, "bool")[:, None, :], "float32")
    )
    scores = ops.where(valid > 0, scores, -1e9)
    # Zeroing after the exponential (not only the -1e9) keeps padded keys at exactly 0 and
    # gives an all-padding row zero weights instead of a uniform softmax over padding.
    exponentials = ops.exp(scores - ops.max(scores, axis=-1, keepdims=True)) * valid
    return exponentials / ops.maximum(ops.sum(exponentials, axis=-1, keepdims=True), 1e-30)


def _attend(scores, keys, key_mask):
    weights = _masked_weights(scores, key_mask)
    return ops.matmul(ops.cast(weights, keys.dtype), keys), weights


@keras.saving.register_keras_serializable(package="nlp_lstm")
class LuongAttention(keras.layers.Layer):
    """Multiplicative ("general") attention: score(h_t, s) = h_t^T W s.

    `call(query [B, T, Dq], keys [B, S, Dk], key_mask [B, S] bool)` returns the context
    [B, T, Dk] and the float32 weights [B, T, S]. Keys where `key_mask` is False get weight 0;
    a row with no valid key gets all-zero weights and a zero context.

    Example:
    >>> import numpy as np, nlp_lstm
    >>> attention = nlp_lstm.models.LuongAttention()
    >>> mask = np.array([[True, True, True], [True, False, False]])
    >>> context, weights = attention(np.ones((2, 1, 4)), np.ones((2, 3, 5)), mask)
    >>> context.shape, weights.shape
    (TensorShape([2, 1, 5]), TensorShape([2, 1, 3]))
    >>> weights[1, 0].numpy().tolist()
    [1.0, 0.0, 0.0]
    """

    def build(self, query_shape, keys_shape, key_mask_shape=None):
        self.kernel = self.add_weight(
            shape=(query_shape[-1], keys_shape[-1]), initializer="glorot_uniform", name="kernel"
        )

    def call(self, query, keys, key_mask=None):
        scores = ops.matmul(ops.matmul(query, self.kernel), ops.transpose(keys, (0, 2, 1)))
        return _attend(scores, keys, key_mask)


@keras.saving.register_keras_serializable(package="nlp_lstm")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention: score(h_t, s) = v^T tanh(W1 h_t + W2 s).

    Same inputs and outputs as `LuongAttention`.

    Args:
        units: int. Size of the hidden layer inside the score (the length of v).

    Example:
    >>> import numpy as np, nlp_lstm
    >>> attention = nlp_lstm.models.BahdanauAttention(units=3)
    >>> mask = np.array([[True, True, True], [False, False, False]])
    >>> context, weights = attention(np.ones((2, 1, 4)), np.ones((2, 3, 5)), mask)
    >>> weights.numpy().round(3)
    array([[[0.333, 0.333, 0.333]],
           [[0.   , 0.   , 0.   ]]], dtype=float32)
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(f"`units` must be a positive int. Received: units={units!r}.")
        self.units = units
        self.query_dense = keras.layers.Dense(units, use_bias=False, name="query_dense")
        self.key_dense = keras.layers.Dense(units, use_bias=False, name="key_dense")

    def build(self, query_shape, keys_shape, key_mask_shape=None):
        self.query_dense.build(query_shape)
        self.key_dense.build(keys_shape)
        self.score_vector = self.add_weight(
            shape=(self.units,), initializer="glorot_uniform", name="score_vector"
        )

    def call(self, query, keys, key_mask=None):
        hidden = ops.tanh(
            self.query_dense(query)[:, :, None, :] + self.key_dense(keys)[:, None, :, :]
        )
        scores = ops.sum(hidden * self.score_vector, axis=-1)
        return _attend(scores, keys, key_mask)

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config


@register_model("lstm_seq2seq")
class LSTMSeq2Seq(keras.Model):
    """Translates id sequences: BiLSTM encoder -> LSTM decoder -> attention -> float32 logits.

    `call((source_ids [B, S], decoder_input_ids [B, T]))` gives teacher-forced logits [B, T, V];
    train it with `fit` on `((source_ids, decoder_input_ids), target_ids)`, with a loss that
    ignores the padding id 0 (the logits at padded target positions are meaningless). Id 0 is
    padding in both vocabularies; sources are right-padded. The decoder starts from tanh
    projections of the top encoder layer's final forward and backward states, one per decoder
    layer. Every LSTM keeps the cuDNN-eligible defaults. For greedy and beam search decoding
    use `nlp_lstm.models.decoding`.

    Args:
        source_vocabulary_size: int. Number of source token ids; filled in by the pipeline.
        target_vocabulary_size: int. Number of target token ids; filled in by the pipeline.
        embedding_dim: int. Size of the token vectors (source and target).
        hidden_dim: int. Decoder units; even, as each encoder direction has hidden_dim // 2.
        encoder_layers: int. Number of stacked bidirectional encoder LSTMs.
        decoder_layers: int. Number of stacked decoder LSTMs.
        attention: str. Attention score: "luong" (multiplicative) or "bahdanau" (additive).
        dropout: float. Dropout on the embeddings, between LSTM layers and on the attentional
            hidden state.
        tie_embeddings: bool. Share the decoder input embedding with the output layer (a
            projection maps hidden_dim to embedding_dim first when they differ).

    Example:
    >>> import numpy as np, nlp_lstm
    >>> model = nlp_lstm.models.LSTMSeq2Seq(source_vocabulary_size=12, target_vocabulary_size=10,
    ...                                     embedding_dim=4, hidden_dim=6)
    >>> model((np.array([[4, 5, 0]]), np.array([[1, 7]]))).shape
    TensorShape([1, 2, 10])
    >>> model.attention_weights(np.array([[4, 5, 0]]), np.array([[1, 7]]))[0, :, 2].numpy()
    array([0., 0.], dtype=float32)
    """

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        embedding_dim=128,
        hidden_dim=256,
        encoder_layers=2,
        decoder_layers=1,
        attention="luong",
        dropout=0.2,
        tie_embeddings=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for arg, value in (
            ("source_vocabulary_size", source_vocabulary_size),
            ("target_vocabulary_size", target_vocabulary_size),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                raise ValueError(
                    f"`{arg}` must be an int >= 2 (id 0 is padding). Received: {arg}={value!r}."
                )
        for arg, value in (
            ("embedding_dim", embedding_dim),
            ("hidden_dim", hidden_dim),
            ("encoder_layers", encoder_layers),
            ("decoder_layers", decoder_layers),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{arg}` must be a positive int. Received: {arg}={value!r}.")
        if hidden_dim % 2:
            raise ValueError(
                f"`hidden_dim` must be even: each encoder direction has "
                f"hidden_dim // 2 units. Received: hidden_dim={hidden_dim!r}."
            )
        if attention not in ATTENTIONS:
            raise ValueError(
                f"`attention` must be one of {ATTENTIONS}. Received: attention={attention!r}."
            )
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not 0.0 <= dropout < 1.0
        ):
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}.")
        if not isinstance(tie_embeddings, bool):
            raise ValueError(
                f"`tie_embeddings` must be a bool. Received: tie_embeddings={tie_embeddings!r}."
            )
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.attention = attention
        self.dropout = dropout
        self.tie_embeddings = tie_embeddings
        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size, embedding_dim, name="source_embedding"
        )
        self.encoder_lstms = [
            keras.layers.Bidirectional(
                keras.layers.LSTM(
                    hidden_dim // 2,
                    return_sequences=True,
                    return_state=True,
                    name=f"encoder_lstm_{i}",
                ),
                name=f"encoder_bilstm_{i}",
            )
            for i in range(encoder_layers)
        ]
        self.state_bridges = [
            keras.layers.Dense(hidden_dim, activation="tanh", name=f"bridge_{kind}_{i}")
            for i in range(decoder_layers)
            for kind in ("h", "c")
        ]
        self.target_embedding = keras.layers.Embedding(
            target_vocabulary_size, embedding_dim, name="target_embedding"
        )
        self.decoder_lstms = [
            keras.layers.LSTM(
                hidden_dim, return_sequences=True, return_state=True, name=f"decoder_lstm_{i}"
            )
            for i in range(decoder_layers)
        ]
        self.attention_layer = (
            LuongAttention(name="attention")
            if attention == "luong"
            else BahdanauAttention(hidden_dim, name="attention")
        )
        self.attentional_dense = keras.layers.Dense(
            hidden_dim, activation="tanh", name="attentional_dense"
        )
        self.dropout_layer = keras.layers.Dropout(dropout)
        self.projection = None
        if tie_embeddings:
            if hidden_dim != embedding_dim:
                self.projection = keras.layers.Dense(embedding_dim, name="projection")
            self.output_bias = self.add_weight(
                shape=(target_vocabulary_size,), initializer="zeros", name="output_bias"
            )
            self.output_layer = None
        else:
            self.output_layer = keras.layers.Dense(
                target_vocabulary_size, dtype="float32", name="output"
            )

    def build(self, input_shape):
        source_shape, target_shape = (tuple(shape) for shape in input_shape)
        self.source_embedding.build(source_shape)
        shape = source_shape + (self.embedding_dim,)
        for layer in self.encoder_lstms:
            layer.build(shape)
            shape = shape[:-1] + (self.hidden_dim,)
        for layer in self.state_bridges:
            layer.build((None, self.hidden_dim))
        self.target_embedding.build(target_shape)
        query_shape = target_shape + (self.embedding_dim,)
        for layer in self.decoder_lstms:
            layer.build(query_shape)
            query_shape = target_shape + (self.hidden_dim,)
        self.attention_layer.build(query_shape, shape)
        self.attentional_dense.build(target_shape + (2 * self.hidden_dim,))
        if self.projection is not None:
            self.projection.build(query_shape)
        if self.output_layer is not None:
            self.output_layer.build(query_shape)
        self.built = True

    def logits(self, hidden):
        return output_logits(
            hidden,
            self.output_layer,
            self.projection,
            self.target_embedding,
            getattr(self, "output_bias", None),
        )

    def _build_if_needed(self):
        if not self.built:
            self.build(((None, None), (None, None)))

    def encode(self, source_ids, training=False):
        """Source ids [B, S] -> (encoder outputs [B, S', H], source mask [B, S'] bool, decoder
        states [h1, c1, h2, c2, ...]). S' = max(S, 1): an empty source gets one padding column."""
        self._build_if_needed()
        source_ids = ops.convert_to_tensor(source_ids)
        missing = ops.maximum(1 - ops.shape(source_ids)[1], 0)
        source_ids = ops.pad(source_ids, [[0, 0], [0, missing]])
        source_mask = ops.not_equal(source_ids, 0)
        # The LSTMs get a mask with position 0 real in all-padding rows (cuDNN rejects empty
        # rows); attention uses the true mask, so such rows attend to nothing.
        lstm_mask = padding_mask(source_ids)
        x = self.dropout_layer(self.source_embedding(source_ids), training=training)
        for index, layer in enumerate(self.encoder_lstms):
            if index:
                x = self.dropout_layer(x, training=training)
            x, forward_h, forward_c, backward_h, backward_c = layer(
                x, mask=lstm_mask, training=training
            )
        final_h = ops.concatenate([forward_h, backward_h], axis=-1)
        final_c = ops.concatenate([forward_c, backward_c], axis=-1)
        states = [
            bridge(final_h if index % 2 == 0 else final_c)
            for index, bridge in enumerate(self.state_bridges)
        ]
        return x, source_mask, states

    def _teacher_forced(self, source_ids, decoder_input_ids, training):
        encoder_outputs, source_mask, states = self.encode(source_ids, training=training)
        x = self.dropout_layer(self.target_embedding(decoder_input_ids), training=training)
        for index, layer in enumerate(self.decoder_lstms):
            if index:
                x = self.dropout_layer(x, training=training)
            x = layer(x, initial_state=states[2 * index : 2 * index + 2], training=training)[0]
        context, weights = self.attention_layer(x, encoder_outputs, source_mask)
        hidden = self.attentional_dense(ops.concatenate([context, x], axis=-1))
        hidden = self.dropout_layer(hidden, training=training)
        return self.logits(hidden), weights

    def call(self, inputs, training=False):
        source_ids, decoder_input_ids = inputs
        return self._teacher_forced(source_ids, decoder_input_ids, training)[0]

    def decode_step(self, token_ids, states, encoder_outputs, source_mask):
        """One token per row [N] -> (next-token logits [N, V] float32, new decoder states,
        attention weights [N, S]); `states` and the encoder outputs come from `encode`."""
        self._build_if_needed()
        x = self.target_embedding(token_ids)
        new_states = []
        for index, layer in enumerate(self.decoder_lstms):
            x, (h, c) = layer.cell(x, [states[2 * index], states[2 * index + 1]])
            new_states += [h, c]
        context, weights = self.attention_layer(x[:, None, :], encoder_outputs, source_mask)
        hidden = self.attentional_dense(ops.concatenate([context[:, 0], x], axis=-1))
        return self.logits(hidden), new_states, weights[:, 0]

    def attention_weights(self, source_ids, decoder_input_ids):
        """Teacher-forced attention weights [B, T, S] (for heatmaps); 0 on source padding."""
        return self._teacher_forced(source_ids, decoder_input_ids, training=False)[1]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                key: getattr(self, key)
                for key in (
                    "source_vocabulary_size",
                    "target_vocabulary_size",
                    "embedding_dim",
                    "hidden_dim",
                    "encoder_layers",
                    "decoder_layers",
                    "attention",
                    "dropout",
                    "tie_embeddings",
                )
            }
        )
        return config
