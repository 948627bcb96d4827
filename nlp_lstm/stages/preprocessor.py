"""Preprocessor: a chain of stages as one serializable object that knows its special ids.

Every place that turns text into ids (the tf.data input pipelines, the exported signatures and the
sampling loop) calls a `Preprocessor`, so the stage loop is written once. The special ids (padding,
unknown, start, end) are read from the chain's vocabulary, never assumed.
"""

import keras
import tensorflow as tf

from nlp_lstm.errors import ConfigError
from nlp_lstm.stages import STAGES, SequencePacker, Vocabulary

# What each stage consumes and produces; a chain must go text -> ... -> ids (or packed ids).
STAGE_KINDS = {
    "text_normalizer": ("text", "text"),
    "whitespace_tokenizer": ("text", "tokens"),
    "unicode_script_tokenizer": ("text", "tokens"),
    "character_tokenizer": ("text", "tokens"),
    "wordpiece_tokenizer": ("text", "tokens"),
    "vocabulary": ("tokens", "ids"),
    "sequence_packer": ("ids", "packed"),
}
CHAIN_HINT = "[text_normalizer] -> a tokenizer -> vocabulary [-> sequence_packer]"
# Role of each special token by its position in `Vocabulary.special_tokens`.
SPECIAL_ROLES = ("pad", "oov", "start", "end")


def build_stages(entries, key, where):
    """Stages from config entries `[{type: ..., **kwargs}]`; errors name `key[i]` and its file."""
    if not entries:
        raise ConfigError(
            f"The pipeline has no stages (`{key}`, {where}). List at least a "
            f"tokenizer and a vocabulary."
        )
    return [STAGES.build(entry, where=f"{key}[{i}] of {where}") for i, entry in enumerate(entries)]


def check_stage_chain(stages, wanted, where):
    """Checks that consecutive stages fit, from raw text to `wanted` ("ids" or "packed")."""
    kind, previous = "text", "The raw input"
    for index, stage in enumerate(stages):
        expected, produced = STAGE_KINDS[stage.registry_name]
        if expected != kind:
            raise ConfigError(
                f"{previous} outputs {kind} but stages[{index}] "
                f"({stage.registry_name}) expects {expected}; the two do not fit "
                f"(set in {where}). The chain must be: {CHAIN_HINT}."
            )
        kind, previous = produced, f"stages[{index}] ({stage.registry_name})"
    if kind != wanted:
        ending = "a vocabulary" if wanted == "ids" else "a vocabulary and a sequence_packer"
        raise ConfigError(
            f"The stages end with {previous}, which outputs {kind}; this task needs "
            f"{wanted}. End the stages (set in {where}) with {ending}."
        )


class Preprocessor(tf.Module):
    """Stages (text -> ids) run in order, with the special ids of their vocabulary.

    Args:
        stages: list of PreprocessingStage. In chain order; exactly one is a `Vocabulary`.

    Example:
    >>> import nlp_lstm
    >>> vocab = nlp_lstm.stages.Vocabulary(vocabulary=["[PAD]", "[UNK]", "[BOS]", "[EOS]", "good"])
    >>> pre = nlp_lstm.Preprocessor([nlp_lstm.stages.WhitespaceTokenizer(), vocab])
    >>> pre(tf.constant(["good day"])).to_list()
    [[4, 1]]
    >>> pre.special_ids
    {'pad': 0, 'oov': 1, 'start': 2, 'end': 3}
    >>> nlp_lstm.Preprocessor.from_config(pre.get_config())(tf.constant(["good"])).to_list()
    [[4]]
    """

    def __init__(self, stages):
        super().__init__(name="preprocessor")
        self.stages = list(stages)
        vocabularies = [s for s in self.stages if isinstance(s, Vocabulary)]
        if len(vocabularies) != 1:
            raise ConfigError(
                f"A stage chain needs exactly one vocabulary stage; it has "
                f"{len(vocabularies)}. The chain must be: {CHAIN_HINT}."
            )

    def __call__(self, text):
        x = text
        for stage in self.stages:
            x = stage(x)
        return x

    # -- what the chain knows ----------------------------------------------------------------
    @property
    def vocabulary(self):
        """The chain's `Vocabulary` stage."""
        return next(s for s in self.stages if isinstance(s, Vocabulary))

    @property
    def packer(self):
        """The final `SequencePacker`, or None when the chain ends with ragged ids."""
        return self.stages[-1] if isinstance(self.stages[-1], SequencePacker) else None

    @property
    def special_ids(self):
        """Role -> id of each special token the vocabulary reserves (pad, oov, start, end)."""
        return {
            role: index
            for index, role in enumerate(SPECIAL_ROLES[: len(self.vocabulary.special_tokens)])
        }

    @property
    def num_special(self):
        return len(self.vocabulary.special_tokens)

    def special_id(self, role, what):
        """The id of `role` ("start", "end"), or a ConfigError saying `what` needs it."""
        ids = self.special_ids
        if role not in ids:
            raise ConfigError(
                f"{what} needs a {role} token, but the vocabulary reserves only "
                f"{self.vocabulary.special_tokens} (vocabulary.special_tokens). Give at least "
                f"four special tokens, in the order padding, unknown, start, end."
            )
        return ids[role]

    @property
    def separator(self):
        """How generated tokens are joined back into text ("" for characters)."""
        tokenizers = [s for s in self.stages if hasattr(s, "join_separator")]
        return tokenizers[-1].join_separator if tokenizers else ""

    # -- learning and checking -----------------------------------------------------------------
    def adapt(self, texts):
        """Adapts each stage with learned state on `texts` (a dataset of string batches) run
        through the stages before it, in chain order."""
        for index, stage in enumerate(self.stages):
            if stage.requires_adapt:
                upstream = texts
                for previous in self.stages[:index]:
                    upstream = upstream.map(previous)
                stage.adapt(upstream)

    def check_outputs(self, key="stages"):
        """Pushes two synthetic texts through the adapted chain; it must give int ids: dense
        [batch, length] after a packer, ragged otherwise."""
        x = tf.constant(["synthetic example one", ""])
        for index, stage in enumerate(self.stages):
            try:
                x = stage(x)
            except (tf.errors.InvalidArgumentError, TypeError, ValueError) as err:
                raise ConfigError(
                    f"{key}[{index}] ({stage.registry_name}) fails on the output "
                    f"of the stage before it: {err}"
                ) from err
        ragged = isinstance(x, tf.RaggedTensor)
        if not x.dtype.is_integer or x.shape.rank != 2 or ragged == (self.packer is not None):
            raise ConfigError(
                f"The {key} produce {x.dtype.name} of rank {x.shape.rank}; the "
                f"model needs int ids ({CHAIN_HINT})."
            )

    def trimmed(self, text):
        """Ids truncated (and given start/end ids) by the packer but not padded: ragged."""
        x = text
        for stage in self.stages[:-1] if self.packer else self.stages:
            x = stage(x)
        return self.packer.trim(x) if self.packer else x

    # -- serialization -------------------------------------------------------------------------
    def get_config(self):
        return {"stages": [keras.saving.serialize_keras_object(s) for s in self.stages]}

    @classmethod
    def from_config(cls, config):
        return cls([keras.saving.deserialize_keras_object(s) for s in config["stages"]])
