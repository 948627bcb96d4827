"""Stages: in-graph text (and numeric) operations as Keras layers. Importing this module fills the
stage registry."""

from nlp_lstm.stages.base import STAGES, PreprocessingStage, register_stage
from nlp_lstm.stages.numeric import CalendarFeatures, Windower, ZScoreScaler
from nlp_lstm.stages.packing import SequencePacker
from nlp_lstm.stages.tokenizers import (
    CharacterTokenizer,
    TextNormalizer,
    UnicodeScriptTokenizer,
    WhitespaceTokenizer,
    WordPieceTokenizer,
)
from nlp_lstm.stages.vocabulary import Vocabulary

__all__ = [
    "STAGES",
    "PreprocessingStage",
    "register_stage",
    "SequencePacker",
    "CharacterTokenizer",
    "TextNormalizer",
    "UnicodeScriptTokenizer",
    "WhitespaceTokenizer",
    "WordPieceTokenizer",
    "Vocabulary",
    "CalendarFeatures",
    "Windower",
    "ZScoreScaler",
]
