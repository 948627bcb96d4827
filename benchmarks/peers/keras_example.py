"""Peer 1: the Keras-example text classifier.

What the Keras bidirectional-LSTM example does: `pad_sequences` to one fixed `maxlen` with its
defaults (padding and truncating at the *front*), Embedding(mask_zero=True) + Bidirectional(LSTM)
+ Dense, and `model.fit` on the padded NumPy arrays. Every batch costs `maxlen` steps, whatever
the texts' lengths, and front padding keeps a masked LSTM off the cuDNN kernel on a GPU.
"""

import time

import keras
import numpy as np


class KerasExampleClassifier:
    """The peer, with the same sizes, optimizer and batch size as the model it is compared with.

    Args:
        ids_path: str. The token ids of the train and test splits (`benchmarks.corpora.save_ids`).
        vocabulary_size: int. Token ids (0 is padding).
        num_classes: int. Output classes.
        embedding_dim: int. Token vector size.
        hidden_dim: int. LSTM units per direction.
        dropout: float. Dropout before the output layer.
        maxlen: int. The fixed length every text is padded (or cut) to.
        batch_size: int. Examples per step.
        learning_rate: float. Adam's learning rate.
        clipnorm: float or None. Gradient clipping, as in the compared model.
    """

    name = "Keras example: pad_sequences(maxlen) + Embedding(mask_zero) + Bidirectional(LSTM)"

    def __init__(
        self,
        ids_path,
        vocabulary_size,
        num_classes,
        embedding_dim,
        hidden_dim,
        dropout,
        maxlen,
        batch_size,
        learning_rate,
        clipnorm=None,
    ):
        from benchmarks.corpora import load_ids

        splits = load_ids(ids_path)
        self.batch_size = batch_size
        # The example pads once, before training; that cost is not timed.
        self.train = (
            keras.utils.pad_sequences(splits["train"][0], maxlen=maxlen),
            splits["train"][1],
        )
        self.test = (keras.utils.pad_sequences(splits["test"][0], maxlen=maxlen), splits["test"][1])
        self.model = keras.Sequential(
            [
                keras.Input((None,), dtype="int64"),
                keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True),
                keras.layers.Bidirectional(keras.layers.LSTM(hidden_dim)),
                keras.layers.Dropout(dropout),
                keras.layers.Dense(num_classes, activation="softmax"),
            ]
        )
        self.model.compile(
            optimizer=keras.optimizers.Adam(learning_rate, clipnorm=clipnorm),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )

    def fit_epoch(self):
        """One epoch of `model.fit` on the padded arrays; returns its wall time in seconds."""
        start = time.perf_counter()
        self.model.fit(*self.train, batch_size=self.batch_size, epochs=1, shuffle=True, verbose=0)
        return time.perf_counter() - start

    def accuracy(self):
        probabilities = self.model.predict(self.test[0], batch_size=256, verbose=0)
        return float(np.mean(np.argmax(probabilities, -1) == self.test[1]))

    def count_params(self):
        return int(self.model.count_params())
