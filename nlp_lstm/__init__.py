"""nlp_lstm: LSTM-based NLP pipelines on Keras 3 and TensorFlow, configured by YAML.

Public names are imported on first use, so `import nlp_lstm` (and the CLI's --help) stays fast
and does not start TensorFlow until something needs it.
"""

import importlib

from nlp_lstm.errors import ConfigError, ExportError, InputDataError, NlpLstmError, RunDirError
from nlp_lstm.version import __version__

_LAZY = {
    "models": ("nlp_lstm.models", None),
    "stages": ("nlp_lstm.stages", None),
    "PipelineConfig": ("nlp_lstm.config.loading", "PipelineConfig"),
    "load_config": ("nlp_lstm.config.loading", "load_config"),
    "Preprocessor": ("nlp_lstm.stages.preprocessor", "Preprocessor"),
    "tasks": ("nlp_lstm.tasks", None),
    "Pipeline": ("nlp_lstm.pipeline", "Pipeline"),
    "build_pipeline": ("nlp_lstm.pipeline", "build_pipeline"),
    "load_run": ("nlp_lstm.pipeline", "load_run"),
    "load_export": ("nlp_lstm.export.saved_model", "load_export"),
    "load": ("nlp_lstm.api", "load"),
}

__all__ = [
    "ConfigError",
    "ExportError",
    "InputDataError",
    "NlpLstmError",
    "RunDirError",
    "__version__",
    *_LAZY,
]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'nlp_lstm' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value
