"""Checking a config: types, then each field's own limits, then the rules that span fields.

`build_config` turns merged plain data into a checked `PipelineConfig` (the fields are declared
in schema.py); the cross-field rules are the short list `CROSS_CHECKS`. `with_values` sets
dotted keys on a checked config and checks it again (tuning trials and seed sweeps use it).
"""

import copy
import dataclasses
import functools
import math
import typing

from nlp_lstm.config.keys import _did_you_mean, describe_origin, set_value
from nlp_lstm.config.schema import _BOUNDS, FIELDS, INTERNAL_KEYS, SPLITS, PipelineConfig
from nlp_lstm.errors import ConfigError

# -- checking: types, each field's own limits, then the rules that span fields ----------------


def check_type(value, hint, key, where):
    name = key.rpartition(".")[2]
    if typing.get_origin(hint) is typing.Union:
        if value is None:
            return None
        hint = typing.get_args(hint)[0]
    expected = typing.get_origin(hint) or hint
    if expected is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:  # YAML 1.1 reads 1e-4 (no dot) as a string; take any spelling float() reads
            value = float(value)
        except (ValueError, OverflowError):
            pass
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(
            f"{where(key)} must be of type {expected.__name__}. Received: "
            f"{name}={value!r} ({type(value).__name__}). Fix it in that file or "
            f"with --set."
        )
    if expected is float and not math.isfinite(value):
        raise ConfigError(
            f"{where(key)} must be a finite number. Received: {name}={value!r}. "
            f"Give a finite value (YAML .nan and .inf are not allowed)."
        )
    return value


def _to_dataclass(cls, raw, prefix, where):
    if not isinstance(raw, dict):
        raise ConfigError(f"{where(prefix.rstrip('.'))} must be a mapping. Received: {raw!r}.")
    names = [f.name for f in dataclasses.fields(cls) if f.name not in INTERNAL_KEYS]
    unknown = [k for k in raw if k not in names]
    if unknown:
        raise ConfigError(
            f"Unknown config key {where(prefix + str(unknown[0]))}."
            f"{_did_you_mean(unknown[0], names)} Valid keys"
            f"{' in ' + prefix.rstrip('.') if prefix else ''}: {', '.join(names)}."
        )
    return cls(
        **{
            f.name: _to_dataclass(f.type, raw[f.name], f"{prefix}{f.name}.", where)
            if dataclasses.is_dataclass(f.type)
            else check_type(raw[f.name], f.type, prefix + f.name, where)
            for f in dataclasses.fields(cls)
            if f.name in raw
        }
    )


def _impossible(where, key, value, fix):
    return ConfigError(
        f"{where(key)} has an impossible value. Received: {key.rpartition('.')[2]}={value!r}. {fix}"
    )


def _check_fields(config, where):
    """Enforces each field's own limits: choices (of each list element), length and bounds."""
    for key, meta in ((k, f.metadata) for k, f in FIELDS.items() if f.metadata):
        value, choices, bounds = (
            functools.reduce(getattr, key.split("."), config),
            meta["choices"],
            meta["bounds"],
        )
        for item in (value if isinstance(value, list) else [value]) if choices else ():
            if item not in choices:
                raise _impossible(where, key, item, f"Choose from: {', '.join(map(str, choices))}.")
        if isinstance(value, list) and len(value) < meta["min_items"]:
            count = "one" if meta["min_items"] == 1 else meta["min_items"]
            raise _impossible(
                where,
                key,
                value,
                f"List at least {count} of: {', '.join(map(str, choices or ()))}.",
            )
        if value is not None and not all(_BOUNDS[k][0](value, v) for k, v in bounds.items()):
            (low, a), (high, b) = sorted(bounds.items()) if len(bounds) == 2 else [(None, 0)] * 2
            text = (
                f"in {'(' if low == 'gt' else '['}{a}, {b}{')' if high == 'lt' else ']'}"
                if low
                else " and ".join(f"{_BOUNDS[k][1]} {v}" for k, v in bounds.items())
            )
            null = f", or null {meta['null']}" if meta["null"] else ""
            raise _impossible(where, key, value, f"It must be {text}{null}.")


def _split_fractions_sum_to_one(config):
    fractions = config.data.split_fractions
    if set(fractions) - set(SPLITS) or "train" not in fractions:
        return "data.split_fractions", fractions, "Use the keys train, validation and test."
    if (
        not all(type(v) in (int, float) and math.isfinite(v) and v >= 0 for v in fractions.values())
        or abs(sum(fractions.values()) - 1) > 1e-6
    ):
        return "data.split_fractions", fractions, "Give non-negative fractions that sum to 1."


def _data_source_is_complete(config):
    data = config.data
    needs = {
        "files": ("path", "train"),
        "label_files": ("label_files",),
        "sample": ("sample",),
        "hub": ("hub_name",),
    }[data.source]
    if all(getattr(data, n) is None for n in needs):
        return (
            "data.source",
            data.source,
            f"source={data.source} needs data.{' or data.'.join(needs)}.",
        )
    if data.source == "files" and data.path and data.train:
        return (
            "data.path",
            data.path,
            (
                "Give either data.path (one file, split by fractions) "
                "or data.train/validation/test, not both."
            ),
        )
    if bool(data.source_language) != bool(data.target_language):
        return (
            f"data.{'source' if data.source_language else 'target'}_language",
            data.source_language or data.target_language,
            "Give both data.source_language and data.target_language (line-aligned files), "
            "or neither (a table with data.source_column and data.target_column).",
        )


def _numpy_embeddings_have_words(config):
    embeddings = config.embeddings
    if embeddings.format == "numpy" and embeddings.path and not embeddings.words:
        return "embeddings.words", None, "format=numpy needs a word list file in embeddings.words."


def _one_target_vocabulary(config):
    # (A task that reads neither key refuses both: `Task.check_config_keys`.)
    if config.shared_vocabulary and config.target_stages:
        return (
            "target_stages",
            config.target_stages,
            (
                "With shared_vocabulary: true both sides use `stages`; remove target_stages or set "
                "shared_vocabulary: false."
            ),
        )


def _model_and_stages_have_types(config):
    if not isinstance(config.model, dict) or "type" not in config.model:
        return (
            "model",
            config.model,
            ("The model section needs a `type` key, e.g. type: lstm_text_classifier."),
        )
    for key in ("stages", "target_stages"):
        for index, stage in enumerate(getattr(config, key)):
            if not isinstance(stage, dict) or "type" not in stage:
                return key, stage, f"{key}[{index}] must be a mapping with a `type` key."


def _token_budget_needs_buckets(config):
    # (A task that reads no token budget refuses it: `Task.check_config_keys`.)
    train = config.train
    if train.batch_tokens and not train.bucketing:
        return (
            "train.batch_tokens",
            train.batch_tokens,
            (
                "A token budget sizes the batches of length buckets: it needs train.bucketing: "
                "true; set it to 0 otherwise."
            ),
        )


def _sharded_batches_are_not_stateful(config):
    # Each worker keeps every N-th batch, so no worker sees consecutive windows of a stream.
    if config.train.distribution in ("mirrored", "multi_worker") and getattr(
        config.data, "stateful_batches", False
    ):
        return (
            "train.distribution",
            config.train.distribution,
            (
                "data.stateful_batches carries LSTM states from one batch to the next, which "
                "batches sharded over replicas cannot do. Set train.distribution to one_device or "
                "data.stateful_batches to false."
            ),
        )


EMA_UNDER_A_STRATEGY = (
    "train.ema_momentum keeps a moving average of the weights inside the Keras optimizer, which "
    "cannot copy it into the weights from the replica step of the distributed loop. Set "
    "train.distribution to one_device or train.ema_momentum to null."
)


def _distributed_loop_has_no_ema(config):
    # Keras 3.15 copies the averages into the weights with a merge_call inside a cond, which
    # tf.distribute refuses in a replica step ("merge_call called while defining a new graph").
    if (
        config.train.distribution in ("mirrored", "multi_worker")
        and config.train.ema_momentum is not None
    ):
        return "train.distribution", config.train.distribution, EMA_UNDER_A_STRATEGY


# The rules that span several fields; each returns None or (key, value received, the fix).
CROSS_CHECKS = (
    _split_fractions_sum_to_one,
    _data_source_is_complete,
    _numpy_embeddings_have_words,
    _one_target_vocabulary,
    _model_and_stages_have_types,
    _token_budget_needs_buckets,
    _sharded_batches_are_not_stateful,
    _distributed_loop_has_no_ema,
)


# -- building configs --------------------------------------------------------------------------


def build_config(raw, where, **internal):
    """The checked `PipelineConfig` of merged plain data; `internal`: sources and provenance."""
    config = dataclasses.replace(_to_dataclass(PipelineConfig, raw, "", where), **internal)
    _check_fields(config, where)
    for problem in filter(None, (check(config) for check in CROSS_CHECKS)):
        raise _impossible(where, *problem)
    return config


def config_from_dict(raw):
    """Builds a `PipelineConfig` from plain data (a saved `config.yaml` or a notebook dict)."""
    raw, where = copy.deepcopy(raw), lambda key: f"`{key}`"
    sources = check_type(raw.pop("sources", []), list, "sources", where)
    return build_config(raw, where, sources=sources)


def with_values(config, values, origin="search space"):
    """A new checked config with `values` (dotted key -> value) set, as `set_value` does.

    The name, sources and provenance are kept; the changed keys are marked as set by `origin`.
    """
    raw, provenance = config.to_dict(), dict(config.provenance)
    raw.pop("sources")
    for key, value in values.items():
        set_value(raw, key, value, provenance, origin)
    return build_config(
        raw,
        functools.partial(describe_origin, provenance),
        sources=list(config.sources),
        provenance=provenance,
    )
