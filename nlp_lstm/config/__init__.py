"""Config: YAML loading and composition (`loading`), the schema of every key with its limits
(`schema`), the checks across keys (`checks`), and the name -> class registries that build config
entries (`registry`)."""

from nlp_lstm.config.loading import (
    DATA_DIR_ENV,
    DATA_DIR_PLACEHOLDER,
    DataConfig,
    EmbeddingsConfig,
    EvaluateConfig,
    ExportConfig,
    PipelineConfig,
    TrainConfig,
    TuneConfig,
    config_from_dict,
    describe_origin,
    dump_config,
    format_config,
    get_value,
    load_config,
    parse_override,
    read_yaml,
    set_value,
    setting,
    with_values,
)

__all__ = [
    "DATA_DIR_ENV",
    "DATA_DIR_PLACEHOLDER",
    "DataConfig",
    "EmbeddingsConfig",
    "EvaluateConfig",
    "ExportConfig",
    "PipelineConfig",
    "TrainConfig",
    "TuneConfig",
    "config_from_dict",
    "describe_origin",
    "dump_config",
    "format_config",
    "get_value",
    "load_config",
    "parse_override",
    "read_yaml",
    "set_value",
    "setting",
    "with_values",
]
