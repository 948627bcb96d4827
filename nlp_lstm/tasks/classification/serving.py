"""The classifier's serving module: raw strings in (stages in the graph), label, label id and
probabilities out.
"""

import tensorflow as tf

from nlp_lstm.export.limits import checked_texts


class ClassifierServing(tf.Module):
    """The serving module: preprocessor -> model -> {label, label_id, probabilities}.

    `classify(text)` refuses (InvalidArgumentError) more than `limits["max_batch_rows"]` texts
    or a text longer than `limits["max_input_chars"]` characters, before any preprocessing; no
    texts give empty outputs (`probabilities` [0, num_classes]).

    Args:
        preprocessor: Preprocessor. Text -> packed ids.
        model: LSTMTextClassifier.
        label_names: list of str. Class names by id.
        limits: dict. `export.limits` (max_batch_rows, max_input_chars), baked into the graph.
    """

    def __init__(self, preprocessor, model, label_names, limits):
        super().__init__(name="nlp_lstm_classifier")
        self.preprocessor = preprocessor
        self.model = model
        self.label_names = tf.constant(label_names, dtype=tf.string)
        self.limits = dict(limits)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def classify(self, text):
        text = checked_texts(text, "text", self.limits)
        probabilities = tf.cast(self.model(self.preprocessor(text), training=False), tf.float32)
        label_id = tf.argmax(probabilities, axis=-1)
        return {
            "label": tf.gather(self.label_names, label_id),
            "label_id": label_id,
            "probabilities": probabilities,
        }
