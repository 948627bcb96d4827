"""The config schema: each key's type, default, limits and the tasks that read it; the checks.

`setting(...)` declares a field with its limits beside it. `build_config` turns merged plain data
into a checked `PipelineConfig`: types, then each field's own limits, then the rules that span
fields (`CROSS_CHECKS`). `set_value`, `get_value` and `with_values` address keys by dotted path.
Reading the YAML files is config.py's job.
"""

import copy
import dataclasses
import difflib
import functools
import hashlib
import json
import math
import operator
import typing

from nlp_lstm.errors import ConfigError


# The values of `task`; a field's `tasks=` names some of them. Adding a task starts here.
TASK_NAMES = ("classification", "translation", "generation", "forecasting")


SPLITS = ("train", "validation", "test")


_BOUNDS = {"gt": (operator.gt, ">"), "ge": (operator.ge, ">="), "lt": (operator.lt, "<"),
           "le": (operator.le, "<=")}


def setting(default, help, *, choices=None, gt=None, ge=None, lt=None, le=None, tasks=None,
            null=None, atomic=False, path=False, min_items=0):
    """A dataclass field that carries its limits in `metadata`, where the checker reads them.

    `choices` (for a list: of each element), bounds `gt`/`ge`/`lt`/`le` (null is not checked),
    `tasks`: the tasks that read the key (None: all), `null`: what null means (for messages),
    `atomic`: a later file replaces the mapping whole, `path`: a path relative to its YAML file.
    """
    tasks = tasks.split() if isinstance(tasks, str) else tasks
    if set(tasks or ()) - set(TASK_NAMES):
        raise ValueError(f"setting(tasks={tasks!r}): use names from TASK_NAMES {TASK_NAMES}.")
    bounds = {k: v for k, v in dict(gt=gt, ge=ge, lt=lt, le=le).items() if v is not None}
    metadata = dict(help=help, choices=choices, bounds=bounds, tasks=tasks and tuple(tasks),
                    null=null, atomic=atomic, path=path, min_items=min_items)
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    kind = "default_factory" if isinstance(default, type) else "default"
    return dataclasses.field(**{kind: default}, metadata=metadata)


_Str, _Float = typing.Optional[str], typing.Optional[float]  # null: unset, or disabled


_List, _Dict = typing.Optional[list], typing.Optional[dict]


_CT, _C, _T, _G = "classification translation", "classification", "translation", "generation"
_F = "forecasting"


@dataclasses.dataclass(frozen=True)
class DataConfig:
    source: str = setting("files", "files (path, or train/validation/test), label_files (a file of "
                          "lines per label, like MR), sample (shipped in the package) or hub",
                          choices=("files", "label_files", "sample", "hub"))
    format: str = setting("auto", "auto infers the format from the file suffix", tasks=_CT,
                          choices=("auto", "csv", "tsv", "json", "jsonl", "text", "parquet"))
    path: _Str = setting(None, "one file (or glob) of all examples, split by fractions", path=True)
    train: _Str = setting(None, "train file (or glob); splits not given are cut from it", path=True)
    validation: _Str = setting(None, "validation file (or glob)", path=True, tasks=_CT)
    test: _Str = setting(None, "test file (or glob)", path=True, tasks=_CT)
    label_files: _Dict = setting(None, "source=label_files: label -> file (or glob) of lines",
                                 atomic=True, path=True, tasks=_C)
    sample: _Str = setting(None, "source=sample: a set in nlp_lstm/samples, e.g. sentiment")
    hub_name: _Str = setting(None, "source=hub: a Hugging Face Hub dataset", tasks=_C)
    hub_config: _Str = setting(None, "source=hub: its config", tasks=_C)
    hub_splits: _Dict = setting(None, "source=hub: split -> hub split", atomic=True, tasks=_C)
    text_column: str = setting("text", "column of the input text", tasks=_C)
    label_column: str = setting("label", "column of the label", tasks=_C)
    labels: _List = setting(None, "fixed label order; default: the sorted train labels", tasks=_C)
    split_fractions: dict = setting(dict(train=0.8, validation=0.1, test=0.1), "fractions of the "
                                    "splits cut by seeded, stratified sampling", atomic=True)
    split_seed: int = setting(1337, "seed of the split, independent of the training seed so that "
                              "splits stay fixed", tasks=_CT)
    delimiter: _Str = setting(None, "csv/tsv delimiter; default , or tab", tasks=_CT)
    max_examples: int = setting(0, "keep at most this many examples per split (for tiny runs; "
                                "generation: characters of the corpus); 0 keeps all", ge=0)
    window_length: int = setting(128, "tokens per training window (the context in training)",
                                 gt=0, tasks=_G)
    random_window_offsets: bool = setting(True, "start each training window at a seeded random "
                                          "offset in its slot, drawn anew every epoch", tasks=_G)
    stateful_batches: bool = setting(False, "truncated BPTT: the train split becomes batch_size "
                                     "streams and each batch starts from the states the previous "
                                     "one ended with (reset every epoch)", tasks=_G)
    source_column: str = setting("source", "column of the source text", tasks=_T)
    target_column: str = setting("target", "column of the target text", tasks=_T)
    source_language: _Str = setting(None, "line-aligned files (line i translates line i): "
                                    "replaces `{lang}` in data.path/train/...", tasks=_T)
    target_language: _Str = setting(None, "the other language code of source_language", tasks=_T)
    column_names: _List = setting(None, "header-less csv/tsv: the column names, in order",
                                  tasks=_T)
    max_source_tokens: int = setting(80, "longer training pairs are dropped and evaluation "
                                     "sources truncated", gt=0, tasks=_T)
    max_target_tokens: int = setting(80, "longer training pairs are dropped", gt=0, tasks=_T)
    timestamp_column: str = setting("date", "column of the timestamps (regular steps)", tasks=_F)
    timestamp_format: _Str = setting(None, "strptime format, e.g. %d-%m-%y; null: inferred",
                                     tasks=_F)
    feature_columns: _List = setting(None, "input series columns; null: all but the timestamp",
                                     tasks=_F)
    target_columns: _List = setting(None, "predicted columns; null: all inputs (multivariate) or "
                                    "the last one", tasks=_F)
    variables: str = setting("multivariate", "all in, all out; one in, one out; all in, targets "
                             "out", choices=("multivariate", "univariate", "multivariate_to_one"),
                             tasks=_F)
    split: str = setting("fractions", "time-ordered split_fractions, split_borders (rows or dates)"
                         " or the ETT protocol (12/4/4 months)",
                         choices=("fractions", "rows", "dates", "ett"), tasks=_F)
    split_borders: _Dict = setting(None, "split rows/dates: first row (or date) of validation, "
                                   "test and optionally `end` (excluded)", atomic=True, tasks=_F)
    fill_gaps: str = setting("none", "none: a timestamp gap is an error; forward or linear fill;"
                             " keep: rows are the steps (trading days)",
                             choices=("none", "forward", "linear", "keep"), tasks=_F)


@dataclasses.dataclass(frozen=True)
class EmbeddingsConfig:
    path: _Str = setting(None, "pretrained vectors: a GloVe/word2vec/fastText text file, a .npy "
                         "matrix (with words) or kumo:glove-6b-50d; null: none", path=True)
    format: str = setting("auto", "text (GloVe, fastText .vec), word2vec (a header line) or numpy",
                          choices=("auto", "text", "word2vec", "numpy"))
    words: _Str = setting(None, "format=numpy: one word per line, in row order", path=True)
    trainable: bool = setting(True, "fine-tune the vectors (true) or freeze them")
    lowercase_fallback: bool = setting(True, "look a missing word up lowercased")
    oov_std: float = setting(0.1, "std of the random init of words without a vector", ge=0)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    batch_size: int = setting(32, "examples per step", gt=0)
    epochs: int = setting(10, "upper bound; early stopping may end sooner", gt=0)
    optimizer: str = setting("adam", "the Keras optimizer",
                             choices=("adam", "adamw", "sgd", "rmsprop", "nadam"))
    learning_rate: float = setting(1.0e-3, "peak learning rate", gt=0)
    lr_schedule: str = setting("constant", "learning-rate schedule",
                               choices=("constant", "cosine", "exponential", "reduce_on_plateau"))
    lr_decay_rate: float = setting(0.5, "exponential: factor per epoch; reduce_on_plateau: factor "
                                   "on a plateau", gt=0, le=1)
    warmup_epochs: float = setting(0.0, "linear warmup (cosine and exponential)", ge=0)
    weight_decay: float = setting(0.0, "decoupled weight decay (adamw)", ge=0)
    clipnorm: _Float = setting(1.0, "clip each gradient to this L2 norm", gt=0,
                               null="to disable clipping")
    clipvalue: _Float = setting(None, "clip each gradient element to +-clipvalue", gt=0,
                                null="to disable clipping")
    label_smoothing: float = setting(0.0, "target probability spread uniformly", ge=0, tasks=_T)
    loss: str = setting("mse", "training loss (mae: SegRNN's)", choices=("mse", "mae"), tasks=_F)
    ema_momentum: _Float = setting(None, "evaluate, checkpoint and export an exponential moving "
                                   "average of the weights (e.g. 0.99)", gt=0, lt=1,
                                   null="to disable it")
    early_stopping_patience: int = setting(3, "epochs without improvement; 0 disables", ge=0)
    time_budget_minutes: _Float = setting(None, "stop before an epoch projected to end past this "
                                          "(across resumes); the schedule still spans epochs",
                                          gt=0, null="for no time limit")
    monitor: str = setting("val_loss", "metric of early stopping, checkpoints and plateaus")
    bucketing: bool = setting(True, "batch examples of similar length together", tasks=_CT)
    num_buckets: int = setting(8, "length buckets (from train length quantiles)", gt=0, tasks=_CT)
    batch_tokens: int = setting(0, "with bucketing: tokens per batch at each bucket's longest "
                                "length (short texts come in larger batches); 0 uses batch_size",
                                ge=0, tasks=_CT)
    shuffle_buffer: int = setting(10000, "examples in the shuffle buffer", gt=0, tasks=_CT)
    strict_cudnn: bool = setting(False, "fail (not warn) when a layer cannot use cuDNN")
    precision: str = setting("float32", "the Keras dtype policy",
                             choices=("float32", "mixed_bfloat16", "mixed_float16"))
    deterministic: bool = setting(True, "op determinism: equal metrics for equal seeds")
    verbose: int = setting(1, "0 silent, 1 progress bars, 2 a line per epoch", choices=(0, 1, 2))


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    splits: list = setting(["validation", "test"], "the splits scored", choices=SPLITS)
    batch_size: int = setting(128, "examples per evaluation batch", gt=0)
    beam_size: int = setting(4, "beam of evaluation and export (1: greedy)", gt=0, tasks=_T)
    length_penalty: float = setting(0.6, "GNMT length normalisation exponent", ge=0, tasks=_T)
    max_output_tokens: int = setting(0, "most output tokens; 0: max_target_tokens", ge=0, tasks=_T)
    seasonal_period: int = setting(24, "steps per season of the seasonal-naive baseline", gt=0,
                                   tasks=_F)


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    verify: bool = setting(True, "reload the SavedModel and compare it with the Keras model")
    signature: str = setting("serving_default", "name of the string-in signature")


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    algorithm: str = setting("random", "the keras-tuner algorithm",
                             choices=("random", "grid", "hyperband", "bayesian"))
    max_trials: int = setting(10, "trials to run (hyperband: at most)", gt=0)
    objective: str = setting("val_accuracy", "a metric training logs, e.g. val_loss")
    direction: str = setting("auto", "auto: min if it names a loss", choices=("auto", "max", "min"))
    executions_per_trial: int = setting(1, "trainings per trial, averaged", gt=0)
    hyperband_factor: int = setting(3, "hyperband: reduction factor between brackets")
    keep_best_checkpoints: int = setting(3, "trial checkpoints kept (the best K)", ge=0)
    search_space: dict = setting({}, "config key -> {choice: [...]}, {min, max[, step][, "
                                 "sampling]} or {boolean: true}; `when: {key: values}` if needed",
                                 atomic=True)


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    name: str = setting("pipeline", "run directory prefix; default: the pipeline file's stem")
    task: str = setting("classification", "the task the pipeline runs", choices=TASK_NAMES)
    seed: int = setting(1337, "seeds Python, NumPy and TF once per run")
    steps: list = setting(["train", "evaluate", "export"], "the steps run, in order", min_items=1,
                          choices=("train", "evaluate", "export"))
    data: DataConfig = setting(DataConfig, "where the examples come from")
    stages: list = setting([], "[{type: ..., **kwargs}], in order")
    target_stages: list = setting([], "the target side's stages; empty: the definition of "
                                  "`stages` with a vocabulary of its own", tasks=_T)
    shared_vocabulary: bool = setting(False, "one vocabulary learned on source and target text",
                                      tasks=_T)
    model: dict = setting({}, "{type: ..., **kwargs}")
    embeddings: EmbeddingsConfig = setting(EmbeddingsConfig, "pretrained word vectors", tasks=_C)
    train: TrainConfig = setting(TrainConfig, "how the model is fit")
    evaluate: EvaluateConfig = setting(EvaluateConfig, "how the model is scored")
    export: ExportConfig = setting(ExportConfig, "the SavedModel export")
    tune: TuneConfig = setting(TuneConfig, "the hyperparameter search")
    # Filled by load_config: the files merged, in order, and which one set each dotted key.
    sources: list = dataclasses.field(default_factory=list)
    provenance: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def where(self, key):
        """Names the file that set `key` (dotted), for error messages."""
        return describe_origin(self.provenance, key)

    def to_dict(self):
        """The resolved config as plain data (what runs save), without the provenance."""
        out = dataclasses.asdict(self)
        out.pop("provenance")
        return out

    def hash(self):
        """A stable hash of the resolved config (not its sources), recorded in the manifest."""
        blob = json.dumps({k: v for k, v in self.to_dict().items() if k != "sources"},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _walk_fields(cls, prefix=""):
    for f in dataclasses.fields(cls):
        yield prefix + f.name, f
        yield from _walk_fields(f.type, f"{prefix}{f.name}.") if dataclasses.is_dataclass(
            f.type) else ()


FIELDS = dict(_walk_fields(PipelineConfig))  # dotted key -> its dataclasses.Field
INTERNAL_KEYS = ("sources", "provenance")  # filled by the loader, not keys a file sets


def describe_origin(provenance, key):
    """`key` plus the file that set it, or the file that set its section when it is a default."""
    if key in provenance:
        return f"`{key}` (set in {provenance[key]})"
    probe = key.rpartition(".")[0]
    while probe:
        if probe in provenance:
            return f"`{key}` (default; section `{probe}` set in {provenance[probe]})"
        probe = probe.rpartition(".")[0]
    return f"`{key}` (default)"


def mark_origin(provenance, dotted, value, origin):
    """Records that `origin` set `dotted` and every key inside it, forgetting the old ones."""
    for stale in [k for k in provenance if k.startswith(dotted + ".")]:
        del provenance[stale]
    provenance[dotted] = origin
    for key, item in value.items() if isinstance(value, dict) else ():
        mark_origin(provenance, f"{dotted}.{key}", item, origin)


# -- dotted keys --------------------------------------------------------------------------------

def set_value(raw, dotted_key, value, provenance=None, origin="--set"):
    """Sets a dotted key (`train.epochs`, `stages.3.sequence_length`) in a config's plain data.

    `--set` and the search space's trial values both go through here; missing mappings on the way
    are created. `raw` and `provenance` (dotted key -> origin, or None) are changed in place;
    `origin` (e.g. "--set") names what set the value, in messages.
    """
    node, parts = raw, dotted_key.split(".")
    for i, part in enumerate(parts):
        here, problem = ".".join(parts[:i]), None
        if isinstance(node, list) and not (part.isdigit() and int(part) < len(node)):
            problem = f"{here} has {len(node)} entries; {part!r} is not a valid index. " + (
                f"Use 0 to {len(node) - 1}." if node else f"Set the whole list: {here}=[...].")
        elif not isinstance(node, (dict, list)):
            problem = f"{here} is not a section (it holds {node!r}). Set `{here}` or fix the key."
        if problem:
            raise ConfigError(f"Cannot set `{dotted_key}` to {value!r} ({origin}): {problem}")
        part = int(part) if isinstance(node, list) else part
        if i == len(parts) - 1:
            node[part] = value
        else:
            if isinstance(node, dict) and node.get(part) is None:
                node[part] = {}
            node = node[part]
    if provenance is not None:
        mark_origin(provenance, dotted_key, value, origin)


def get_value(source, dotted_key):
    """Reads a dotted key of a `PipelineConfig` or of plain data; a key nothing sets is None.

    A key that a config section does not have is an error (a typo), not None.
    """
    node = source
    for part in dotted_key.split("."):
        if dataclasses.is_dataclass(node):
            names = [f.name for f in dataclasses.fields(node)]
            if part not in names:
                raise ConfigError(f"`{dotted_key}` is not a config key: there is no {part!r}."
                                  f"{_did_you_mean(part, names)} Valid: {', '.join(names)}.")
            node = getattr(node, part)
        elif isinstance(node, list):
            node = node[int(part)] if part.isdigit() and int(part) < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node


# -- checking: types, each field's own limits, then the rules that span fields ----------------

def _did_you_mean(name, names):
    close = difflib.get_close_matches(str(name), names, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


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
        raise ConfigError(f"{where(key)} must be of type {expected.__name__}. Received: "
                          f"{name}={value!r} ({type(value).__name__}). Fix it in that file or "
                          f"with --set.")
    if expected is float and not math.isfinite(value):
        raise ConfigError(f"{where(key)} must be a finite number. Received: {name}={value!r}. "
                          f"Give a finite value (YAML .nan and .inf are not allowed).")
    return value


def _to_dataclass(cls, raw, prefix, where):
    if not isinstance(raw, dict):
        raise ConfigError(f"{where(prefix.rstrip('.'))} must be a mapping. Received: {raw!r}.")
    names = [f.name for f in dataclasses.fields(cls) if f.name not in INTERNAL_KEYS]
    unknown = [k for k in raw if k not in names]
    if unknown:
        raise ConfigError(f"Unknown config key {where(prefix + str(unknown[0]))}."
                          f"{_did_you_mean(unknown[0], names)} Valid keys"
                          f"{' in ' + prefix.rstrip('.') if prefix else ''}: {', '.join(names)}.")
    return cls(**{f.name: _to_dataclass(f.type, raw[f.name], f"{prefix}{f.name}.", where)
                  if dataclasses.is_dataclass(f.type) else
                  check_type(raw[f.name], f.type, prefix + f.name, where)
                  for f in dataclasses.fields(cls) if f.name in raw})


def _impossible(where, key, value, fix):
    return ConfigError(f"{where(key)} has an impossible value. Received: "
                       f"{key.rpartition('.')[2]}={value!r}. {fix}")


def _check_fields(config, where):
    """Enforces each field's own limits: choices (of each list element), length and bounds."""
    for key, meta in ((k, f.metadata) for k, f in FIELDS.items() if f.metadata):
        value, choices, bounds = functools.reduce(getattr, key.split("."), config), \
            meta["choices"], meta["bounds"]
        for item in (value if isinstance(value, list) else [value]) if choices else ():
            if item not in choices:
                raise _impossible(where, key, item, f"Choose from: {', '.join(map(str, choices))}.")
        if isinstance(value, list) and len(value) < meta["min_items"]:
            count = "one" if meta["min_items"] == 1 else meta["min_items"]
            raise _impossible(where, key, value, f"List at least {count} of: "
                                                 f"{', '.join(map(str, choices or ()))}.")
        if value is not None and not all(_BOUNDS[k][0](value, v) for k, v in bounds.items()):
            (low, a), (high, b) = sorted(bounds.items()) if len(bounds) == 2 else [(None, 0)] * 2
            text = f"in {'(' if low == 'gt' else '['}{a}, {b}{')' if high == 'lt' else ']'}" \
                if low else " and ".join(f"{_BOUNDS[k][1]} {v}" for k, v in bounds.items())
            null = f", or null {meta['null']}" if meta["null"] else ""
            raise _impossible(where, key, value, f"It must be {text}{null}.")


def _split_fractions_sum_to_one(config):
    fractions = config.data.split_fractions
    if set(fractions) - set(SPLITS) or "train" not in fractions:
        return "data.split_fractions", fractions, "Use the keys train, validation and test."
    if not all(type(v) in (int, float) and math.isfinite(v) and v >= 0 for v in
               fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        return "data.split_fractions", fractions, "Give non-negative fractions that sum to 1."


def _data_source_is_complete(config):
    data = config.data
    needs = {"files": ("path", "train"), "label_files": ("label_files",),
             "sample": ("sample",), "hub": ("hub_name",)}[data.source]
    if all(getattr(data, n) is None for n in needs):
        return "data.source", data.source, \
            f"source={data.source} needs data.{' or data.'.join(needs)}."
    if data.source == "files" and data.path and data.train:
        return "data.path", data.path, ("Give either data.path (one file, split by fractions) "
                                        "or data.train/validation/test, not both.")
    if bool(data.source_language) != bool(data.target_language):
        return (f"data.{'source' if data.source_language else 'target'}_language",
                data.source_language or data.target_language,
                "Give both data.source_language and data.target_language (line-aligned files), "
                "or neither (a table with data.source_column and data.target_column).")


def _numpy_embeddings_have_words(config):
    embeddings = config.embeddings
    if embeddings.format == "numpy" and embeddings.path and not embeddings.words:
        return "embeddings.words", None, "format=numpy needs a word list file in embeddings.words."


def _target_side_is_translation_only(config):
    if config.task != "translation" and (config.target_stages or config.shared_vocabulary):
        return ("target_stages" if config.target_stages else "shared_vocabulary",
                config.target_stages or config.shared_vocabulary,
                "target_stages and shared_vocabulary are for task: translation only.")
    if config.shared_vocabulary and config.target_stages:
        return "target_stages", config.target_stages, (
            "With shared_vocabulary: true both sides use `stages`; remove target_stages or set "
            "shared_vocabulary: false.")


def _model_and_stages_have_types(config):
    if not isinstance(config.model, dict) or "type" not in config.model:
        return "model", config.model, ("The model section needs a `type` key, e.g. "
                                       "type: lstm_text_classifier.")
    for key in ("stages", "target_stages"):
        for index, stage in enumerate(getattr(config, key)):
            if not isinstance(stage, dict) or "type" not in stage:
                return key, stage, f"{key}[{index}] must be a mapping with a `type` key."


def _token_budget_needs_buckets(config):
    train, tasks = config.train, FIELDS["train.batch_tokens"].metadata["tasks"]
    if train.batch_tokens and (not train.bucketing or config.task not in tasks):
        return "train.batch_tokens", train.batch_tokens, (
            f"A token budget sizes the batches of length buckets: it needs train.bucketing: "
            f"true and a {' or '.join(tasks)} task; set it to 0 otherwise.")


# The rules that span several fields; each returns None or (key, value received, the fix).
CROSS_CHECKS = (_split_fractions_sum_to_one, _data_source_is_complete,
                _numpy_embeddings_have_words, _target_side_is_translation_only,
                _model_and_stages_have_types, _token_budget_needs_buckets)


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
    return build_config(raw, functools.partial(describe_origin, provenance),
                  sources=list(config.sources), provenance=provenance)
