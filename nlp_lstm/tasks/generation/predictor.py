"""GeneratorPredictor: `nlp_lstm.load(path).generate(prompts)` for a language-model export."""

import tensorflow as tf

from nlp_lstm.export.limits import check_option, check_texts
from nlp_lstm.tasks.predictor import Predictor, as_text_list


class GeneratorPredictor(Predictor):
    """Text sampled after prompts, from a language-model export.

    `generate("a prompt")` returns the continuation (a string), `generate([...])` a list of them.
    `temperature=0` is greedy; `top_k=0` and `top_p=1` keep every token; the same `seed` gives
    the same text. `max_new_tokens` defaults to 200 (or the export's limit, if lower);
    `max_new_tokens=0` gives empty continuations and an empty list an empty list.
    Prompts and `max_new_tokens` must be within the export's limits (`limits.max_input_chars`,
    `limits.max_new_tokens`): a ValueError says which, before the model runs.
    """

    def generate(
        self,
        prompts,
        max_new_tokens=None,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        seed=0,
        batch_size=None,
    ):
        prompts, single = as_text_list(prompts, "prompts")
        if max_new_tokens is None:
            max_new_tokens = min(200, self.limits["max_new_tokens"])
        check_texts(prompts, "prompts", self.limits)
        values = dict(
            max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p
        )
        options = {
            name: tf.constant(check_option(name, value, self.limits))
            for name, value in values.items()
        }
        options["seed"] = tf.constant(check_option("seed", seed, self.limits), tf.int64)
        texts = []
        for batch in self.batches(prompts, batch_size):
            out = self.signature("generate")(prompt=tf.constant(batch, tf.string), **options)
            texts.extend(t.decode("utf-8", errors="replace") for t in out["text"].numpy())
        return texts[0] if single else texts
