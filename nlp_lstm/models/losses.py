"""Token-level training objectives of the sequence models: padding never counts."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="nlp_lstm")
class MaskedSequenceLoss(keras.losses.Loss):
    """Token cross-entropy that ignores padding, with optional label smoothing: the mean per
    real token of the batch (under a tf.distribute strategy, of the global batch).

    Args:
        label_smoothing: float. Share of the target probability spread over the vocabulary.
        pad_id: int. The padding id of the target vocabulary.
    """

    def __init__(self, label_smoothing=0.0, pad_id=0, name="masked_sequence_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing
        self.pad_id = pad_id

    def call(self, y_true, y_pred):
        y_true = tf.cast(y_true, tf.int32)
        log_probs = tf.nn.log_softmax(tf.cast(y_pred, tf.float32), axis=-1)
        nll = -tf.gather(log_probs, y_true, batch_dims=2)
        if self.label_smoothing:
            nll = (1.0 - self.label_smoothing) * nll - self.label_smoothing * tf.reduce_mean(
                log_probs, axis=-1
            )
        mask = tf.cast(tf.not_equal(y_true, self.pad_id), tf.float32)
        # One value per sequence, weighted so that the batch mean is the mean per real token.
        per_sequence = tf.reduce_sum(nll * mask, axis=-1)
        tokens = tf.reduce_sum(mask)
        context = tf.distribute.get_replica_context()
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if context is not None and replicas > 1:
            # A replica holds a share of the batch: divide by the tokens of the whole batch, so
            # the replicas' losses sum to the mean per real token of one process. Keras divides
            # each replica's loss by the replicas (scale_loss_for_distribution); so does this.
            tokens = context.all_reduce(tf.distribute.ReduceOp.SUM, tokens) / replicas
        tokens = tf.maximum(tokens, 1.0)
        return per_sequence * tf.cast(tf.shape(y_true)[0], tf.float32) / tokens

    def get_config(self):
        return {
            **super().get_config(),
            "label_smoothing": self.label_smoothing,
            "pad_id": self.pad_id,
        }


@keras.saving.register_keras_serializable(package="nlp_lstm")
class MaskedTokenAccuracy(keras.metrics.Mean):
    """Share of non-padding target tokens whose argmax prediction is right.

    Args:
        pad_id: int. The padding id of the target vocabulary.
    """

    def __init__(self, pad_id=0, name="token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = pad_id

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.int64)
        right = tf.cast(tf.equal(tf.argmax(y_pred, axis=-1), y_true), tf.float32)
        return super().update_state(
            right, sample_weight=tf.cast(tf.not_equal(y_true, self.pad_id), tf.float32)
        )

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}
