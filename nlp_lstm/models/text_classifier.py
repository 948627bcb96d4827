"""LSTMTextClassifier: LSTMBackbone + sequence pooling + classification head."""

import keras
from keras import ops

from nlp_lstm.models.backbone import LSTMBackbone, padding_mask
from nlp_lstm.models.registry import register_model

POOLINGS = ("last", "mean", "max", "max_mean", "attention")


@register_model("lstm_text_classifier")
class LSTMTextClassifier(keras.Model):
    """Classifies padded id sequences; outputs class probabilities (softmax, float32).

    Args:
        num_classes: int. Number of classes (2 or more); filled in from the data.
        vocabulary_size: int. Number of token ids; filled in from the vocabulary stage.
        embedding_dim: int. Size of the token vectors.
        hidden_dim: int. Units per LSTM direction.
        num_layers: int. Number of stacked LSTM layers.
        bidirectional: bool. Bidirectional LSTMs.
        pooling: str. "last", "mean", "max", "max_mean" (both, concatenated) or "attention".
        dropout: float. Dropout between LSTMs and before the head.
        embedding_dropout: float. Spatial dropout on the token embeddings.
        head_hidden_dim: int. Size of a ReLU layer before the output; 0 for none.
        recurrent_dropout: float. Recurrent-state dropout (blocks cuDNN).
        activation: str. LSTM cell activation ("tanh" keeps cuDNN).
        recurrent_activation: str. LSTM gate activation ("sigmoid" keeps cuDNN).
        unroll: bool. Unroll the LSTMs (blocks cuDNN).
        use_bias: bool. LSTM gate biases (False blocks cuDNN).

    Example:
    >>> import numpy as np, nlp_lstm
    >>> model = nlp_lstm.models.LSTMTextClassifier(num_classes=3, vocabulary_size=20, hidden_dim=4)
    >>> model(np.array([[5, 6, 0], [7, 0, 0]])).shape
    TensorShape([2, 3])
    """

    def __init__(
        self,
        num_classes,
        vocabulary_size,
        embedding_dim=128,
        hidden_dim=128,
        num_layers=1,
        bidirectional=True,
        pooling="max",
        dropout=0.3,
        embedding_dropout=0.0,
        head_hidden_dim=0,
        recurrent_dropout=0.0,
        activation="tanh",
        recurrent_activation="sigmoid",
        unroll=False,
        use_bias=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(
                f"`num_classes` must be an int >= 2. Received: num_classes={num_classes!r}."
            )
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}. Received: pooling={pooling!r}.")
        if not isinstance(head_hidden_dim, int) or head_hidden_dim < 0:
            raise ValueError(
                f"`head_hidden_dim` must be an int >= 0. Received: "
                f"head_hidden_dim={head_hidden_dim!r}."
            )
        self.num_classes = num_classes
        self.pooling = pooling
        self.head_hidden_dim = head_hidden_dim
        self.backbone = LSTMBackbone(
            vocabulary_size,
            embedding_dim=embedding_dim,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            embedding_dropout=embedding_dropout,
            recurrent_dropout=recurrent_dropout,
            activation=activation,
            recurrent_activation=recurrent_activation,
            unroll=unroll,
            use_bias=use_bias,
            name="backbone",
        )
        self.attention_score = (
            keras.layers.Dense(1, use_bias=False, name="attention_score")
            if pooling == "attention"
            else None
        )
        self.head_dropout = keras.layers.Dropout(dropout)
        self.head_hidden = (
            keras.layers.Dense(head_hidden_dim, activation="relu", name="head_hidden")
            if head_hidden_dim
            else None
        )
        self.classifier = keras.layers.Dense(
            num_classes, activation="softmax", dtype="float32", name="classifier"
        )

    def pool(self, sequence, mask):
        weights = ops.cast(mask, sequence.dtype)[..., None]
        if self.pooling == "last":
            # The forward summary sits at the last real step, the backward one at the first
            # (both wherever the padding is).
            positions = ops.arange(ops.shape(mask)[1])[None, :]
            last = ops.max(ops.where(mask, positions, -1), axis=1)
            first = ops.min(ops.where(mask, positions, ops.shape(mask)[1]), axis=1)
            forward = ops.take_along_axis(sequence, last[:, None, None], axis=1)[:, 0]
            if not self.backbone.bidirectional:
                return forward
            backward = ops.take_along_axis(sequence, first[:, None, None], axis=1)[:, 0]
            half = self.backbone.hidden_dim
            return ops.concatenate([forward[:, :half], backward[:, half:]], axis=-1)
        if self.pooling in ("mean", "max", "max_mean"):
            mean = ops.sum(sequence * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
            very_negative = ops.cast(-1e4, sequence.dtype)
            maximum = ops.max(ops.where(weights > 0, sequence, very_negative), axis=1)
            if self.pooling == "mean":
                return mean
            if self.pooling == "max":
                return maximum
            return ops.concatenate([maximum, mean], axis=-1)
        scores = ops.squeeze(self.attention_score(sequence), -1)
        scores = ops.where(mask, ops.cast(scores, "float32"), -1e9)
        attention = ops.cast(ops.softmax(scores, axis=-1), sequence.dtype)[..., None]
        return ops.sum(sequence * attention, axis=1)

    def call(self, ids, training=False):
        sequence = self.backbone(ids, training=training)
        pooled = self.pool(sequence, padding_mask(ids))
        x = self.head_dropout(pooled, training=training)
        if self.head_hidden is not None:
            x = self.head_dropout(self.head_hidden(x), training=training)
        return self.classifier(x)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "pooling": self.pooling,
                "head_hidden_dim": self.head_hidden_dim,
                "dropout": self.backbone.dropout,
            }
        )
        backbone = self.backbone.get_config()
        for key in (
            "vocabulary_size",
            "embedding_dim",
            "hidden_dim",
            "num_layers",
            "bidirectional",
            "recurrent_dropout",
            "activation",
            "recurrent_activation",
            "unroll",
            "use_bias",
            "embedding_dropout",
        ):
            config[key] = backbone[key]
        return config
