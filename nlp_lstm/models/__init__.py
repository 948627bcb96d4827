"""Models: an LSTM backbone and task models. Importing this module fills the model registry."""

from nlp_lstm.models.backbone import LSTMBackbone
from nlp_lstm.models.causal_lm import LSTMCausalLM
from nlp_lstm.models.cudnn import check_cudnn, cudnn_report, disable_cudnn
from nlp_lstm.models.forecasting import LSTMForecaster, LSTMSeq2SeqForecaster
from nlp_lstm.models.registry import MODELS, register_model
from nlp_lstm.models.seq2seq import BahdanauAttention, LSTMSeq2Seq, LuongAttention
from nlp_lstm.models.text_classifier import LSTMTextClassifier

__all__ = [
    "LSTMBackbone",
    "LSTMCausalLM",
    "LSTMSeq2Seq",
    "LSTMTextClassifier",
    "BahdanauAttention",
    "LuongAttention",
    "MODELS",
    "register_model",
    "check_cudnn",
    "cudnn_report",
    "disable_cudnn",
    "LSTMForecaster",
    "LSTMSeq2SeqForecaster",
]
