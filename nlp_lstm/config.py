"""Load pipeline YAML, compose fragments (rightmost wins), apply `--set` overrides, check strictly.

A pipeline file may list fragments under `compose:`; they are merged in order, then the pipeline's
own keys, then `--set key.path=value` overrides. Every leaf remembers the file that set it, so an
error names both the key and the file to edit.
"""

import copy
import dataclasses
import difflib
import hashlib
import json
import os
import typing
from pathlib import Path

import yaml

from nlp_lstm.errors import ConfigError

DATA_DIR_ENV = "NLP_LSTM_DATA_DIR"
DATA_DIR_PLACEHOLDER = "{data_dir}"


@dataclasses.dataclass(frozen=True)
class DataConfig:
    # Where the examples come from: "files" (train/validation/test or path), "label_files"
    # (one line-per-example file per label, like MR), "sample" (a set shipped in the package) or "hub".
    source: str = "files"
    # "auto" infers csv/tsv/json/jsonl/text/parquet from the file suffix.
    format: str = "auto"
    # A single file (or glob) holding all examples; split by `split_fractions`.
    path: typing.Optional[str] = None
    # Given splits: files (or globs) per split. Splits not given are cut from train.
    train: typing.Optional[str] = None
    validation: typing.Optional[str] = None
    test: typing.Optional[str] = None
    # source=label_files: label -> file with one example per line.
    label_files: typing.Optional[dict] = None
    # source=sample: name of a sample set in nlp_lstm/samples (e.g. "sentiment").
    sample: typing.Optional[str] = None
    # source=hub: a Hugging Face Hub dataset name, its config, and the hub split per split.
    hub_name: typing.Optional[str] = None
    hub_config: typing.Optional[str] = None
    hub_splits: typing.Optional[dict] = None
    # Column holding the input text.
    text_column: str = "text"
    # Column holding the label (classification).
    label_column: str = "label"
    # Fixed label order; default: sorted distinct labels of the train split.
    labels: typing.Optional[list] = None
    # Fractions used when splits are cut by seeded, stratified sampling.
    split_fractions: dict = dataclasses.field(
        default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1})
    # Seed of the split; independent of the training seed so that splits stay fixed.
    split_seed: int = 1337
    # Delimiter for csv/tsv; default "," for csv and "\t" for tsv.
    delimiter: typing.Optional[str] = None
    # Keep at most this many examples per split (for tiny test runs); 0 keeps all.
    # For generation: keep at most this many characters of the corpus.
    max_examples: int = 0
    # Generation: tokens per training window (the model sees this much context while training).
    window_length: int = 128
    # Generation: start each training window at a random offset within its slot, drawn anew
    # every epoch (seeded), so the model does not see the same cuts every epoch. Evaluation
    # windows always start at fixed multiples of window_length.
    random_window_offsets: bool = True
    # Generation: truncated backpropagation through time. The train split becomes
    # train.batch_size contiguous streams; batch k holds window k of every stream, and each batch
    # starts from the LSTM states the previous one ended with (reset every epoch; with
    # random_window_offsets the streams start at a fresh seeded offset each epoch). Training then
    # matches the stateful evaluation; a partial last batch is dropped.
    stateful_batches: bool = False
    # Translation from tables (csv/tsv/json/parquet/sample): the source and target text columns.
    source_column: str = "source"
    target_column: str = "target"
    # Translation from line-aligned files (line i of one translates line i of the other):
    # `{lang}` in data.path/train/validation/test is replaced by each language code.
    source_language: typing.Optional[str] = None
    target_language: typing.Optional[str] = None
    # Header-less csv/tsv files: the column names, in order (e.g. [english, spanish]).
    column_names: typing.Optional[list] = None
    # Translation: training pairs with more source/target tokens than this are dropped, and
    # evaluation sources are truncated to max_source_tokens; both counts are reported.
    max_source_tokens: int = 80
    max_target_tokens: int = 80


@dataclasses.dataclass(frozen=True)
class EmbeddingsConfig:
    # Pretrained vectors: a GloVe/word2vec/fastText text file, a .npy matrix (with `words`),
    # or "kumo:glove-6b-50d" (the optional `glove` extra). None disables pretrained vectors.
    path: typing.Optional[str] = None
    # "auto", "text" (GloVe/fastText .vec), "word2vec" (text with a header line) or "numpy".
    format: str = "auto"
    # For format=numpy: a text file with one word per line, in matrix row order.
    words: typing.Optional[str] = None
    # Fine-tune the vectors (true) or keep them frozen (false).
    trainable: bool = True
    # Look words up lowercased when the exact form is missing.
    lowercase_fallback: bool = True
    # Standard deviation of the random init of words that have no pretrained vector.
    oov_std: float = 0.1


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 32  # examples per step
    epochs: int = 10  # upper bound; early stopping may end sooner
    optimizer: str = "adam"  # adam, adamw, sgd, rmsprop, nadam
    learning_rate: float = 1.0e-3  # peak learning rate
    lr_schedule: str = "constant"  # constant, cosine, exponential, reduce_on_plateau
    lr_decay_rate: float = 0.5  # exponential: factor per epoch; reduce_on_plateau: factor on plateau
    warmup_epochs: float = 0.0  # linear warmup length, in epochs (cosine and exponential)
    weight_decay: float = 0.0  # decoupled weight decay (adamw)
    clipnorm: typing.Optional[float] = 1.0  # clip each gradient to this L2 norm; null disables
    clipvalue: typing.Optional[float] = None  # clip each gradient element to +-clipvalue
    label_smoothing: float = 0.0  # translation: share of target probability spread uniformly
    # Keep an exponential moving average of the weights with this momentum (e.g. 0.99) and
    # evaluate, checkpoint and export the averaged weights; null disables it.
    ema_momentum: typing.Optional[float] = None
    early_stopping_patience: int = 3  # epochs without improvement before stopping; 0 disables
    # Stop before an epoch that would end past this many minutes of training (projected from
    # the slowest epoch so far; counted across resumes). The learning-rate schedule still spans
    # train.epochs, so size epochs to fit and keep this as the guard; null disables it.
    time_budget_minutes: typing.Optional[float] = None
    monitor: str = "val_loss"  # metric watched by early stopping, checkpoints and plateaus
    bucketing: bool = True  # group examples of similar length into batches
    num_buckets: int = 8  # number of length buckets (from train length quantiles)
    # With bucketing: a token budget per training batch instead of a fixed batch_size; each
    # bucket's batch holds as many examples as fit this many tokens at the bucket's longest
    # length (so short texts come in larger batches). 0 uses batch_size for every bucket.
    batch_tokens: int = 0
    shuffle_buffer: int = 10000  # examples in the shuffle buffer
    strict_cudnn: bool = False  # fail (instead of warn) when a layer cannot use the cuDNN kernel
    precision: str = "float32"  # float32, mixed_bfloat16 or mixed_float16
    deterministic: bool = True  # enable_op_determinism: identical metrics for identical seeds
    verbose: int = 1  # 0 silent, 1 progress bars, 2 one line per epoch


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    splits: list = dataclasses.field(default_factory=lambda: ["validation", "test"])  # splits scored
    batch_size: int = 128  # examples per evaluation batch
    beam_size: int = 4  # translation: beam size for evaluation and the export (1: greedy)
    length_penalty: float = 0.6  # translation: GNMT length normalisation exponent of beam search
    max_output_tokens: int = 0  # translation: most output tokens; 0 uses data.max_target_tokens


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    verify: bool = True  # reload the SavedModel and compare its outputs with the Keras model
    signature: str = "serving_default"  # name of the string-in signature


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    algorithm: str = "random"  # random, grid, hyperband or bayesian (keras-tuner)
    max_trials: int = 10  # trials to run (hyperband: an upper bound)
    objective: str = "val_accuracy"  # a metric logged by training, e.g. val_accuracy or val_loss
    direction: str = "auto"  # max, min, or auto (min for names containing "loss", else max)
    executions_per_trial: int = 1  # trainings per trial (averaged) to reduce seed noise
    hyperband_factor: int = 3  # hyperband: reduction factor between brackets
    keep_best_checkpoints: int = 3  # trial checkpoints kept (the best K); the rest are deleted
    # Config key -> range: {choice: [...]}, {min, max[, step][, sampling: linear|log]},
    # {boolean: true}; optional `when: {key: value or [values]}` makes an entry conditional.
    search_space: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    name: str = "pipeline"  # run directory prefix; default: the pipeline file's stem
    task: str = "classification"  # classification, translation or generation
    seed: int = 1337  # seeds Python, NumPy and TF once per run
    steps: list = dataclasses.field(default_factory=lambda: ["train", "evaluate", "export"])
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    stages: list = dataclasses.field(default_factory=list)  # [{type: ..., **kwargs}], in order
    # Translation: the target-side stages; empty means the same definition as `stages`, with a
    # vocabulary of its own (see shared_vocabulary).
    target_stages: list = dataclasses.field(default_factory=list)
    # Translation: one vocabulary (and wordpiece vocabulary) learned on source and target text.
    shared_vocabulary: bool = False
    model: dict = dataclasses.field(default_factory=dict)  # {type: ..., **kwargs}
    embeddings: EmbeddingsConfig = dataclasses.field(default_factory=EmbeddingsConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = dataclasses.field(default_factory=EvaluateConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)
    tune: TuneConfig = dataclasses.field(default_factory=TuneConfig)
    # Files that made up this config, in merge order (filled by load_config).
    sources: list = dataclasses.field(default_factory=list)
    # Which file set each dotted key (filled by load_config; used in error messages).
    provenance: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def where(self, key):
        """Names the file that set `key` (dotted), for error messages."""
        return describe_origin(self.provenance, key)

    def to_dict(self):
        """The resolved config as plain data (what `config show` prints and runs save)."""
        out = dataclasses.asdict(self)
        out.pop("provenance")
        return out

    def hash(self):
        """A stable hash of the resolved config, recorded in the run manifest."""
        blob = json.dumps({k: v for k, v in self.to_dict().items() if k != "sources"},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


CHOICES = {
    "task": ("classification", "translation", "generation"),
    "steps": ("train", "evaluate", "export"),
    "data.source": ("files", "label_files", "sample", "hub"),
    "data.format": ("auto", "csv", "tsv", "json", "jsonl", "text", "parquet"),
    "embeddings.format": ("auto", "text", "word2vec", "numpy"),
    "train.optimizer": ("adam", "adamw", "sgd", "rmsprop", "nadam"),
    "train.lr_schedule": ("constant", "cosine", "exponential", "reduce_on_plateau"),
    "train.precision": ("float32", "mixed_bfloat16", "mixed_float16"),
    "train.verbose": (0, 1, 2),
    "evaluate.splits": ("train", "validation", "test"),
    "tune.algorithm": ("random", "grid", "hyperband", "bayesian"),
    "tune.direction": ("auto", "max", "min"),
}
POSITIVE = {"train.batch_size", "train.epochs", "train.learning_rate", "train.num_buckets",
            "train.shuffle_buffer", "evaluate.batch_size", "data.window_length", "tune.max_trials",
            "data.max_source_tokens", "data.max_target_tokens", "evaluate.beam_size",
            "tune.executions_per_trial"}
NON_NEGATIVE = {"train.batch_tokens", "train.label_smoothing", "evaluate.max_output_tokens", "evaluate.length_penalty", "tune.keep_best_checkpoints", "embeddings.oov_std", "train.weight_decay", "train.warmup_epochs", "train.early_stopping_patience",
                "data.max_examples"}


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


def read_yaml(path):
    """Reads one YAML mapping; syntax errors name the file, line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"Config file not found: {path}. Check the path.") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text (byte {err.start}). Save it as UTF-8.") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{where}: invalid YAML: {problem}. Fix the syntax there.") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, "
                          f"received a {type(data).__name__}.")
    return data


# Mappings that are one value: a later file replaces them whole instead of merging keys into them.
ATOMIC_KEYS = {"data.split_fractions", "data.label_files", "data.hub_splits", "tune.search_space"}


def _merge(base, update, origin, provenance, prefix=""):
    """Deep-merges `update` into `base` in place (mappings merge, everything else is replaced)."""
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(base.get(key), dict) and \
                dotted not in ATOMIC_KEYS:
            provenance.setdefault(dotted, origin)
            _merge(base[key], value, origin, provenance, dotted + ".")
        else:
            base[key] = copy.deepcopy(value)
            for stale in [k for k in provenance if k.startswith(dotted + ".")]:
                del provenance[stale]
            provenance[dotted] = origin
            if isinstance(value, dict):
                _record(value, origin, provenance, dotted + ".")


def _record(mapping, origin, provenance, prefix):
    for key, value in mapping.items():
        provenance[f"{prefix}{key}"] = origin
        if isinstance(value, dict):
            _record(value, origin, provenance, f"{prefix}{key}.")


def _load_composed(path, provenance, seen):
    path = Path(path).resolve()
    if path in seen:
        raise ConfigError(f"{path}: `compose` includes itself (cycle: "
                          f"{' -> '.join(str(p) for p in seen)}). Remove the cycle.")
    raw = read_yaml(path)
    fragments = raw.pop("compose", []) or []
    if not isinstance(fragments, list) or not all(isinstance(f, str) for f in fragments):
        raise ConfigError(f"`compose` (set in {path}) must be a list of file paths. "
                          f"Received: compose={fragments!r}.")
    merged, files = {}, []
    for fragment in fragments:
        frag_path = (path.parent / fragment)
        if not frag_path.is_file():
            raise ConfigError(f"`compose` (set in {path}) names {fragment!r}, which does not exist "
                              f"(looked for {frag_path}). Fix the path; it is relative to {path.parent}.")
        sub_provenance = {}
        sub, sub_files = _load_composed(frag_path, sub_provenance, seen + [path])
        _merge(merged, sub, None, {}, "")
        provenance.update(sub_provenance)
        files += sub_files
    _resolve_paths(raw, path.parent)
    _merge(merged, raw, str(path), provenance)
    return merged, files + [str(path)]


PATH_KEYS = ("data.path", "data.train", "data.validation", "data.test", "embeddings.path",
             "embeddings.words")


def _resolve_paths(raw, base_dir):
    """Makes relative data paths relative to the YAML file that names them."""
    def fix(value):
        if (isinstance(value, str) and value and not value.startswith(DATA_DIR_PLACEHOLDER)
                and ":" not in value[:8] and not os.path.isabs(value)):
            return str((base_dir / value).resolve())
        return value
    for dotted in PATH_KEYS:
        section, _, key = dotted.partition(".")
        if isinstance(raw.get(section), dict) and key in raw[section]:
            raw[section][key] = fix(raw[section][key])
    data = raw.get("data")
    if isinstance(data, dict) and isinstance(data.get("label_files"), dict):
        data["label_files"] = {k: fix(v) for k, v in data["label_files"].items()}


def parse_override(text):
    """Splits `a.b=c` into (["a", "b"], value) with the value parsed as YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"Override {text!r} must look like key.path=value, e.g. train.epochs=3.")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"Override {text!r}: the value is not valid YAML ({err}).") from err
    return key.strip().split("."), parsed


def _apply_override(raw, parts, value, provenance, text):
    node = raw
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"Override {text!r}: {'.'.join(parts[:i])} has {len(node)} "
                                  f"entries; {part!r} is not a valid index.")
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"Override {text!r}: {'.'.join(parts[:i + 1])} is not a section.")
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(f"Override {text!r}: index {last!r} is out of range.")
        node[int(last)] = value
    else:
        node[last] = value
    provenance[".".join(parts)] = "--set"


def _check_type(value, hint, key, where):
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _check_type(value, args[0], key, where)
    expected = origin or hint
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is float and isinstance(value, str):
        # YAML 1.1 reads 1e-4 (no dot) as a string; accept any spelling float() understands.
        try:
            return float(value)
        except ValueError:
            pass
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(f"{where(key)} must be of type {expected.__name__}. "
                          f"Received: {key.rpartition('.')[2]}={value!r} "
                          f"({type(value).__name__}). Fix it in that file or with --set.")
    return value


def _to_dataclass(cls, raw, prefix, where):
    if not isinstance(raw, dict):
        raise ConfigError(f"{where(prefix.rstrip('.'))} must be a mapping. Received: {raw!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in ("sources", "provenance")]
    unknown = [k for k in raw if k not in names]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"Unknown config key {where(prefix + str(key))}.{hint} "
                          f"Valid keys{' in ' + prefix.rstrip('.') if prefix else ''}: "
                          f"{', '.join(names)}.")
    kwargs = {}
    for name in names:
        if name not in raw:
            continue
        key, hint, value = prefix + name, hints[name], raw[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _to_dataclass(hint, value, key + ".", where)
        else:
            kwargs[name] = _check_type(value, hint, key, where)
    return cls(**kwargs)


def _check_values(config, where):
    def fail(key, value, fix):
        raise ConfigError(f"{where(key)} has an impossible value. Received: "
                          f"{key.rpartition('.')[2]}={value!r}. {fix}")

    def get(key):
        obj = config
        for part in key.split("."):
            obj = getattr(obj, part)
        return obj

    for key, choices in CHOICES.items():
        value = get(key)
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v not in choices:
                fail(key, v, f"Choose from: {', '.join(map(str, choices))}.")
    for key in POSITIVE:
        if get(key) <= 0:
            fail(key, get(key), "It must be > 0.")
    for key in NON_NEGATIVE:
        if get(key) < 0:
            fail(key, get(key), "It must be >= 0.")
    train, data = config.train, config.data
    for key in ("train.clipnorm", "train.clipvalue"):
        if get(key) is not None and get(key) <= 0:
            fail(key, get(key), "It must be > 0, or null to disable clipping.")
    if train.time_budget_minutes is not None and train.time_budget_minutes <= 0:
        fail("train.time_budget_minutes", train.time_budget_minutes,
             "It must be > 0, or null for no time limit.")
    if train.ema_momentum is not None and not 0 < train.ema_momentum < 1:
        fail("train.ema_momentum", train.ema_momentum, "It must be in (0, 1), or null.")
    if train.batch_tokens and (not train.bucketing or config.task == "generation"):
        fail("train.batch_tokens", train.batch_tokens,
             "A token budget sizes the batches of length buckets: it needs train.bucketing: "
             "true and a classification or translation task; set it to 0 otherwise.")
    if not 0 < train.lr_decay_rate <= 1:
        fail("train.lr_decay_rate", train.lr_decay_rate, "It must be in (0, 1].")
    fractions = data.split_fractions
    if set(fractions) - {"train", "validation", "test"} or "train" not in fractions:
        fail("data.split_fractions", fractions, "Use the keys train, validation and test.")
    if any(not isinstance(v, (int, float)) or v < 0 for v in fractions.values()) or \
            abs(sum(fractions.values()) - 1.0) > 1e-6:
        fail("data.split_fractions", fractions, "Give non-negative fractions that sum to 1.")
    needs = {"files": ("path", "train"), "label_files": ("label_files",),
             "sample": ("sample",), "hub": ("hub_name",)}[data.source]
    if all(getattr(data, n) is None for n in needs):
        fail("data.source", data.source,
             f"source={data.source} needs data.{' or data.'.join(needs)}.")
    if data.source == "files" and data.path and data.train:
        fail("data.path", data.path, "Give either data.path (one file, split by fractions) "
             "or data.train/validation/test, not both.")
    if config.embeddings.format == "numpy" and config.embeddings.path and not config.embeddings.words:
        fail("embeddings.words", None, "format=numpy needs a word list file in embeddings.words.")
    if not config.steps:
        fail("steps", config.steps, "List at least one of: train, evaluate, export.")
    for key in ("stages", "target_stages"):
        for index, stage in enumerate(getattr(config, key)):
            if not isinstance(stage, dict) or "type" not in stage:
                fail(key, stage, f"{key}[{index}] must be a mapping with a `type` key.")
    if config.task != "translation" and (config.target_stages or config.shared_vocabulary):
        fail("target_stages" if config.target_stages else "shared_vocabulary",
             config.target_stages or config.shared_vocabulary,
             "target_stages and shared_vocabulary are for task: translation only.")
    if config.task == "translation" and config.shared_vocabulary and config.target_stages:
        fail("target_stages", config.target_stages, "With shared_vocabulary: true both sides use "
             "`stages`; remove target_stages or set shared_vocabulary: false.")
    if bool(data.source_language) != bool(data.target_language):
        fail("data.source_language" if data.source_language else "data.target_language",
             data.source_language or data.target_language,
             "Give both data.source_language and data.target_language (line-aligned files), "
             "or neither (a table with data.source_column and data.target_column).")
    if not isinstance(config.model, dict) or "type" not in config.model:
        fail("model", config.model, "The model section needs a `type` key, e.g. "
             "type: lstm_text_classifier.")


def _substitute_data_dir(raw, data_dir, where):
    def walk(node, key):
        if isinstance(node, dict):
            return {k: walk(v, f"{key}.{k}" if key else k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, key) for v in node]
        if isinstance(node, str) and DATA_DIR_PLACEHOLDER in node:
            if not data_dir:
                raise ConfigError(f"{where(key)} uses {DATA_DIR_PLACEHOLDER} but no data root is "
                                  f"set. Pass --data-dir ROOT or set {DATA_DIR_ENV}=ROOT.")
            return node.replace(DATA_DIR_PLACEHOLDER, str(Path(data_dir).expanduser().resolve()))
        return node
    return walk(raw, "")


def load_config(path, overrides=(), data_dir=None):
    """Loads a pipeline file with its fragments and overrides into a checked `PipelineConfig`.

    Args:
        path: str or Path. The pipeline YAML.
        overrides: list of str. `key.path=value` overrides, applied last.
        data_dir: str or None. Data root that replaces `{data_dir}` in paths.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Pipeline file not found: {path}. Pass a YAML file such as "
                          f"pipelines/quickstart_classify.yaml.")
    provenance = {}
    raw, sources = _load_composed(path, provenance, [])
    for text in overrides:
        parts, value = parse_override(text)
        _apply_override(raw, parts, value, provenance, text)
    raw.setdefault("name", path.stem)

    def where(key):
        return describe_origin(provenance, key)

    raw = _substitute_data_dir(raw, data_dir, where)
    config = _to_dataclass(PipelineConfig, raw, "", where)
    config = dataclasses.replace(config, sources=sources, provenance=provenance)
    _check_values(config, where)
    return config


def config_from_dict(raw):
    """Builds a `PipelineConfig` from plain data (a saved `config.yaml` or a notebook dict)."""
    raw = {k: v for k, v in copy.deepcopy(raw).items() if k != "sources"}
    where = lambda key: f"`{key}`"  # noqa: E731
    config = _to_dataclass(PipelineConfig, raw, "", where)
    _check_values(config, where)
    return config


def dump_config(config):
    """The resolved config as YAML text."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)
