"""TranslatorPredictor: `nlp_lstm.load(path).translate(texts)` for a translation export."""

import tensorflow as tf

from nlp_lstm.export.limits import (
    check_option,
    check_texts,
)
from nlp_lstm.tasks.predictor import Predictor, as_text_list


class TranslatorPredictor(Predictor):
    """Translations of texts, from a translator export.

    `translate("a text")` returns one dict, `translate([...])` a list of them:
    `{"translation": str, "score": float}` (the length-normalised log-probability of the best
    hypothesis). `beam_size=1` decodes greedily; both options default to the export's, and both
    must be within its limits (`limits.max_beam_size`, `limits.max_output_length`), as the texts
    (`limits.max_input_chars`): a ValueError says which, before the model runs.
    """

    # The field of a result row that holds the translated text (what the CLI prints).
    text_field = "translation"

    @property
    def defaults(self):
        return {
            "beam_size": int(self.loaded.default_beam_size.numpy()),
            "max_length": int(self.loaded.default_max_length.numpy()),
        }

    def translate(self, texts, beam_size=None, max_length=None, batch_size=None):
        texts, single = as_text_list(texts)
        check_texts(texts, "texts", self.limits)
        defaults = self.defaults
        beam_size = check_option(
            "beam_size", defaults["beam_size"] if beam_size is None else beam_size, self.limits
        )
        max_length = check_option(
            "max_length", defaults["max_length"] if max_length is None else max_length, self.limits
        )
        rows = []
        for batch in self.batches(texts, batch_size):
            text = tf.constant(batch, tf.string)
            if beam_size == 1:
                out = self.signature("translate_greedy")(
                    text=text, max_length=tf.constant(max_length)
                )
            else:
                out = self.signature("translate_with_options")(
                    text=text, beam_size=tf.constant(beam_size), max_length=tf.constant(max_length)
                )
            rows.extend(
                {"translation": t.decode("utf-8"), "score": float(score)}
                for t, score in zip(out["translation"].numpy(), out["score"].numpy())
            )
        return rows[0] if single else rows
