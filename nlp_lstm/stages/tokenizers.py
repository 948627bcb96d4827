"""Text normalization and tokenizers from tensorflow-text (the only module that imports it).

Every tokenizer takes a string scalar or a batch of strings and returns string tokens: a 1-D tensor
for one example, a `tf.RaggedTensor` of shape [batch, None] for a batch.
"""

import tensorflow as tf
import tensorflow_text as tf_text

from nlp_lstm.stages.base import PreprocessingStage, register_stage

NORMALIZATION_FORMS = ("NFC", "NFKC", "NFD", "NFKD", None)


def _as_strings(inputs):
    inputs = tf.convert_to_tensor(inputs) if not isinstance(inputs, tf.RaggedTensor) else inputs
    if inputs.dtype != tf.string:
        raise TypeError(f"Expected string inputs, received dtype={inputs.dtype.name}.")
    return inputs


@register_stage("text_normalizer")
class TextNormalizer(PreprocessingStage):
    """Repairs invalid UTF-8, applies Unicode normalization and (optionally) lowercases.

    Invalid byte sequences become U+FFFD instead of failing, so any input bytes are safe in serving.

    Args:
        form: str or None. Unicode normalization form: "NFKC" (default), "NFC", "NFD", "NFKD" or
            None.
        lowercase: bool. Case-fold the text (Unicode-aware, with NFKC folding when form is NFKC).

    Example:
    >>> import nlp_lstm
    >>> stage = nlp_lstm.stages.TextNormalizer()
    >>> stage(tf.constant(["Ｃafé  GREAT"])).numpy()[0].decode()
    'café  great'
    """

    config_keys = ("form", "lowercase")

    def __init__(self, form="NFKC", lowercase=True, **kwargs):
        super().__init__(**kwargs)
        if form not in NORMALIZATION_FORMS:
            raise ValueError(
                f"`form` must be one of {NORMALIZATION_FORMS}. Received: form={form!r}."
            )
        if not isinstance(lowercase, bool):
            raise ValueError(
                f"`lowercase` must be true or false. Received: lowercase={lowercase!r}."
            )
        self.form = form
        self.lowercase = lowercase

    def call(self, inputs):
        text = tf.strings.unicode_transcode(
            _as_strings(inputs), input_encoding="UTF-8", output_encoding="UTF-8", errors="replace"
        )
        if self.lowercase and self.form == "NFKC":
            return tf_text.case_fold_utf8(text)
        if self.form:
            text = tf_text.normalize_utf8(text, self.form)
        if self.lowercase:
            text = tf.strings.lower(text, encoding="utf-8")
        return text


@register_stage("whitespace_tokenizer")
class WhitespaceTokenizer(PreprocessingStage):
    """Splits on Unicode whitespace.

    Example:
    >>> import nlp_lstm
    >>> nlp_lstm.stages.WhitespaceTokenizer()(tf.constant("a witty  film")).numpy().tolist()
    [b'a', b'witty', b'film']
    """

    join_separator = " "  # how generated tokens are joined back into text

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._tokenizer = tf_text.WhitespaceTokenizer()

    def call(self, inputs):
        return self._tokenizer.tokenize(_as_strings(inputs))


@register_stage("unicode_script_tokenizer")
class UnicodeScriptTokenizer(PreprocessingStage):
    """Splits on whitespace and where the Unicode script changes (words, punctuation, CJK runs).

    Args:
        keep_whitespace: bool. Keep whitespace runs as tokens.

    Example:
    >>> import nlp_lstm
    >>> nlp_lstm.stages.UnicodeScriptTokenizer()(tf.constant("witty, fun!")).numpy().tolist()
    [b'witty', b',', b'fun', b'!']
    """

    config_keys = ("keep_whitespace",)
    join_separator = " "

    def __init__(self, keep_whitespace=False, **kwargs):
        super().__init__(**kwargs)
        self.keep_whitespace = bool(keep_whitespace)
        self._tokenizer = tf_text.UnicodeScriptTokenizer(keep_whitespace=self.keep_whitespace)

    def call(self, inputs):
        return self._tokenizer.tokenize(_as_strings(inputs))


@register_stage("character_tokenizer")
class CharacterTokenizer(PreprocessingStage):
    """Splits text into Unicode characters (code points), invalid bytes replaced by U+FFFD.

    Example:
    >>> import nlp_lstm
    >>> nlp_lstm.stages.CharacterTokenizer()(tf.constant("né")).numpy().tolist() == [
    ...     "n".encode(),
    ...     "é".encode(),
    ... ]
    True
    """

    join_separator = ""

    def call(self, inputs):
        return tf.strings.unicode_split(_as_strings(inputs), "UTF-8", errors="replace")


@register_stage("wordpiece_tokenizer")
class WordPieceTokenizer(PreprocessingStage):
    """WordPiece subwords (BERT-style pre-tokenization), with a vocabulary learned by `adapt`.

    Args:
        vocabulary: list of str or None. The wordpiece vocabulary; learned from the train split by
            `adapt()` when None.
        vocabulary_size: int. Target vocabulary size for `adapt()`.
        oov_token: str. Token for words that cannot be split into known pieces.
        suffix_indicator: str. Prefix of word-internal pieces.

    Example:
    >>> import nlp_lstm
    >>> tok = nlp_lstm.stages.WordPieceTokenizer(vocabulary=["[UNK]", "film", "##s", "a"])
    >>> tok(tf.constant("a films")).numpy().tolist()
    [b'a', b'film', b'##s']
    """

    config_keys = ("vocabulary", "vocabulary_size", "oov_token", "suffix_indicator")
    requires_adapt = True
    join_separator = " "

    def __init__(
        self,
        vocabulary=None,
        vocabulary_size=8000,
        oov_token="[UNK]",
        suffix_indicator="##",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(vocabulary_size, int) or vocabulary_size < 8:
            raise ValueError(
                f"`vocabulary_size` must be an int >= 8. Received: "
                f"vocabulary_size={vocabulary_size!r}."
            )
        self.vocabulary_size = vocabulary_size
        self.oov_token = oov_token
        self.suffix_indicator = suffix_indicator
        self.vocabulary = None
        self._tokenizer = None
        if vocabulary is not None:
            self.set_vocabulary(list(vocabulary))

    @property
    def is_adapted(self):
        return self._tokenizer is not None

    def set_vocabulary(self, vocabulary):
        if self.oov_token not in vocabulary:
            vocabulary = [self.oov_token] + vocabulary
        self.vocabulary = list(vocabulary)
        self._tokenizer = tf_text.FastWordpieceTokenizer(
            vocab=self.vocabulary,
            suffix_indicator=self.suffix_indicator,
            unknown_token=self.oov_token,
            token_out_type=tf.string,
            no_pretokenization=False,
        )

    def adapt(self, dataset):
        from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as bert_vocab

        vocabulary = bert_vocab.bert_vocab_from_dataset(
            dataset.map(lambda x: tf.reshape(x, [-1])),
            vocab_size=self.vocabulary_size,
            reserved_tokens=[self.oov_token],
            bert_tokenizer_params={"lower_case": False},
            learn_params={},
        )
        self.set_vocabulary(vocabulary)

    def call(self, inputs):
        self.check_adapted()
        return self._tokenizer.tokenize(_as_strings(inputs))
