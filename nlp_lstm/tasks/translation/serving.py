"""The translator's serving module: source strings in, greedy or beam-search translations out,
with the decoding loop in the graph.
"""

import tensorflow as tf

from nlp_lstm.export.limits import checked_option, checked_texts
from nlp_lstm.models.decoding import beam_search, greedy_decode
from nlp_lstm.tasks.translation.metrics import detokenize


class Translator(tf.Module):
    """Source preprocessor + LSTMSeq2Seq + target id -> text, with greedy and beam decoding.

    Each signature refuses (InvalidArgumentError naming the input and the limit), before any
    decoding: more than `limits["max_batch_rows"]` texts, a text over
    `limits["max_input_chars"]` characters, `beam_size` outside [1, max_beam_size] and
    `max_length` outside [1, max_output_length]. No texts give empty outputs.

    Args:
        source: Preprocessor. Source text -> ragged ids.
        target: Preprocessor. The target side: its vocabulary, special ids and separator.
        model: LSTMSeq2Seq.
        max_source_tokens: int. Longer sources are truncated.
        max_length: int. Default largest number of output tokens.
        beam_size: int. Default beam size (1 decodes greedily).
        length_penalty: float. GNMT length normalisation exponent for beam search.
        limits: dict. `export.limits` (max_batch_rows, max_input_chars, max_output_length,
            max_beam_size), baked into the graph.
    """

    def __init__(
        self,
        source,
        target,
        model,
        max_source_tokens,
        max_length,
        beam_size=4,
        length_penalty=0.6,
        limits=None,
    ):
        super().__init__(name="nlp_lstm_translator")
        self.preprocessor = source
        self.model = model
        self.tokens = tf.constant(target.vocabulary.vocabulary, dtype=tf.string)
        self.separator = target.separator or " "
        self.pad_id = target.special_ids["pad"]
        self.start_id = target.special_id("start", "Translation")
        self.end_id = target.special_id("end", "Translation")
        self.num_special = target.num_special
        self.max_source_tokens = max_source_tokens
        # Variables, so that a loaded export still tells its defaults (`m.default_beam_size`).
        self.default_max_length = tf.Variable(max_length, dtype=tf.int32, trainable=False)
        self.default_beam_size = tf.Variable(beam_size, dtype=tf.int32, trainable=False)
        self.length_penalty = length_penalty
        self.limits = dict(limits)

    def checked(self, text, **options):
        """`text` and the scalar `options`, each refused in the graph when out of limits."""
        return (
            checked_texts(text, "text", self.limits),
            *(checked_option(value, name, self.limits) for name, value in options.items()),
        )

    def source_ids(self, text):
        x = self.preprocessor(text)[:, : self.max_source_tokens]
        return x.to_tensor(default_value=tf.constant(self.pad_id, x.dtype))

    def to_text(self, ids):
        """[batch, length] target ids -> strings (specials print as nothing)."""
        pieces = tf.where(ids < self.num_special, tf.constant(""), tf.gather(self.tokens, ids))
        text = tf.strings.reduce_join(pieces, axis=-1, separator=self.separator)
        if self.separator:
            text = tf.strings.regex_replace(text, " +", " ")
        return detokenize(text)

    def decode(self, text, beam_size, max_length):
        """{"translation", "score", "token_ids"}: the best hypothesis per input."""
        source = self.source_ids(text)
        result = beam_search(
            self.model,
            source,
            self.start_id,
            self.end_id,
            max_length,
            beam_size,
            self.length_penalty,
        )
        ids, scores = result["ids"][:, 0], result["scores"][:, 0]
        return {"translation": self.to_text(ids), "score": scores, "token_ids": ids}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def translate(self, text):
        (text,) = self.checked(text)
        return self.decode(text, self.default_beam_size, self.default_max_length)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="text"),
            tf.TensorSpec([], tf.int32, name="beam_size"),
            tf.TensorSpec([], tf.int32, name="max_length"),
        ]
    )
    def translate_with_options(self, text, beam_size, max_length):
        return self.decode(*self.checked(text, beam_size=beam_size, max_length=max_length))

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="text"),
            tf.TensorSpec([], tf.int32, name="max_length"),
        ]
    )
    def translate_greedy(self, text, max_length):
        text, max_length = self.checked(text, max_length=max_length)
        result = greedy_decode(
            self.model, self.source_ids(text), self.start_id, self.end_id, max_length
        )
        return {
            "translation": self.to_text(result["ids"]),
            "score": result["scores"],
            "token_ids": result["ids"],
        }
