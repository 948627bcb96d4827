"""ClassifierPredictor: `nlp_lstm.load(path).predict(texts)` for a classification export."""

import tensorflow as tf

from nlp_lstm.export.limits import check_texts
from nlp_lstm.tasks.predictor import Predictor, as_text_list


class ClassifierPredictor(Predictor):
    """Labels and probabilities for texts, from a classifier export.

    `predict("a text")` returns one dict, `predict([...])` a list of them:
    `{"label": str, "probability": float, "probabilities": {label: float}}`. Texts longer than
    the export's `limits.max_input_chars` are refused (ValueError) before the model runs.
    """

    @property
    def labels(self):
        """Class names by id, as the export records them."""
        return list(self.metadata["labels"])

    def predict(self, texts, batch_size=None):
        texts, single = as_text_list(texts)
        check_texts(texts, "texts", self.limits)
        signature = self.signature(self.metadata["signature"])
        labels, rows = self.labels, []
        for batch in self.batches(texts, batch_size):
            probabilities = signature(text=tf.constant(batch, tf.string))["probabilities"].numpy()
            for probs in probabilities.astype(float):
                best = int(probs.argmax())
                rows.append(
                    {
                        "label": labels[best],
                        "probability": float(probs[best]),
                        "probabilities": dict(zip(labels, map(float, probs))),
                    }
                )
        return rows[0] if single else rows
