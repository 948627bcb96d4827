"""The config schema: each key's type, default, limits, and whether only some tasks read it.

`setting(...)` declares a field with its limits beside it. `set_value` and `get_value` address
keys by dotted path. Checking merged plain data into a `PipelineConfig` is config_checks.py's job,
reading the YAML files config.py's."""

import copy
import dataclasses
import hashlib
import json
import operator
import typing

from nlp_lstm.config.keys import describe_origin

SPLITS = ("train", "validation", "test")

# NumPy's legacy seeding (np.random.seed, RandomState) takes 0 .. 2**32 - 1; set_random_seed and the
# split samplers use it, so `seed` and `data.split_seed` must fit.
SEED_MAX = 2**32 - 1

_BOUNDS = {
    "gt": (operator.gt, ">"),
    "ge": (operator.ge, ">="),
    "lt": (operator.lt, "<"),
    "le": (operator.le, "<="),
}


def setting(
    default,
    help,
    *,
    choices=None,
    gt=None,
    ge=None,
    lt=None,
    le=None,
    scoped=False,
    null=None,
    atomic=False,
    path=False,
    min_items=0,
):
    """A dataclass field that carries its limits in `metadata`, where the checker reads them.

    `choices` (for a list: of each element), bounds `gt`/`ge`/`lt`/`le` (null is not checked),
    `scoped`: only some tasks read the key, and each of those lists it in its `config_keys`
    (a key that is not scoped is read by every task), `null`: what null means (for messages),
    `atomic`: a later file replaces the mapping whole, `path`: a path relative to its YAML file.
    """
    bounds = {k: v for k, v in dict(gt=gt, ge=ge, lt=lt, le=le).items() if v is not None}
    metadata = dict(
        help=help,
        choices=choices,
        bounds=bounds,
        scoped=scoped,
        null=null,
        atomic=atomic,
        path=path,
        min_items=min_items,
    )
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    kind = "default_factory" if isinstance(default, type) else "default"
    return dataclasses.field(**{kind: default}, metadata=metadata)


_Str, _Float = typing.Optional[str], typing.Optional[float]  # null: unset, or disabled

_List, _Dict = typing.Optional[list], typing.Optional[dict]


@dataclasses.dataclass(frozen=True)
class DataConfig:
    source: str = setting(
        "files",
        "files (path, or train/validation/test), label_files (a file of "
        "lines per label, like MR), sample (shipped in the package) or hub",
        choices=("files", "label_files", "sample", "hub"),
    )
    format: str = setting(
        "auto",
        "auto infers the format from the file suffix",
        scoped=True,
        choices=("auto", "csv", "tsv", "json", "jsonl", "text", "parquet"),
    )
    path: _Str = setting(None, "one file (or glob) of all examples, split by fractions", path=True)
    train: _Str = setting(
        None,
        "train file (or glob); the splits not given as files are cut from it by split_fractions",
        path=True,
        scoped=True,
    )
    validation: _Str = setting(
        None, "validation file (or glob), used as it is", path=True, scoped=True
    )
    test: _Str = setting(None, "test file (or glob), used as it is", path=True, scoped=True)
    label_files: _Dict = setting(
        None,
        "source=label_files: label -> file (or glob) of lines",
        atomic=True,
        path=True,
        scoped=True,
    )
    sample: _Str = setting(None, "source=sample: a set in nlp_lstm/samples, e.g. sentiment")
    hub_name: _Str = setting(None, "source=hub: a Hugging Face Hub dataset", scoped=True)
    hub_config: _Str = setting(None, "source=hub: its config", scoped=True)
    hub_splits: _Dict = setting(None, "source=hub: split -> hub split", atomic=True, scoped=True)
    text_column: str = setting("text", "column of the input text", scoped=True)
    label_column: str = setting("label", "column of the label", scoped=True)
    labels: _List = setting(
        None, "fixed label order; default: the sorted train labels", scoped=True
    )
    split_fractions: dict = setting(
        dict(train=0.8, validation=0.1, test=0.1),
        "fractions of the splits cut by seeded, stratified sampling",
        atomic=True,
    )
    split_seed: int = setting(
        1337,
        "seed of the split and of the max_examples sample, "
        "independent of the training seed so that splits stay fixed",
        ge=0,
        le=SEED_MAX,
        scoped=True,
    )
    delimiter: _Str = setting(None, "csv/tsv delimiter; default , or tab", scoped=True)
    max_examples: int = setting(
        0,
        "keep at most this many examples of each split, a sample "
        "seeded by split_seed in file order (for tiny runs; generation: "
        "a contiguous range of this many characters at a seeded offset); "
        "0 keeps all",
        ge=0,
        scoped=True,
    )
    streaming: str = setting(
        "auto",
        "always: read the splits lazily (classification and "
        "translation: from the Arrow tables of `datasets`, translation's "
        "pools cut by hashed source sentences, other splits than in memory; "
        "generation: character ranges of the text files) and cache token "
        "ids on disk under the run directory; never: hold them in memory; "
        "auto: always when the data files pass streaming_threshold_bytes",
        choices=("auto", "always", "never"),
        scoped=True,
    )
    streaming_threshold_bytes: int = setting(
        512 * 2**20,
        "streaming=auto: the size of the data files above which the corpus is streamed",
        gt=0,
        scoped=True,
    )
    vocabulary_sample: int = setting(
        1_000_000,
        "learn vocabularies and WordPiece from a sample "
        "of at most this many train examples (translation: pairs; "
        "generation: lines, taken in seeded blocks of 1,000 whole "
        "lines), seeded by split_seed; smaller train splits are "
        "learned from whole; 0: always all",
        ge=0,
        scoped=True,
    )
    leakage_warn_share: float = setting(
        0.01,
        "warn when more than this share of the validation "
        "or test examples also occur in an earlier split "
        "(normalised text; counts go to the manifest)",
        ge=0,
        le=1,
        scoped=True,
    )
    window_length: int = setting(
        128, "tokens per training window (the context in training)", gt=0, scoped=True
    )
    random_window_offsets: bool = setting(
        True,
        "start each training window at a seeded random offset in its slot, drawn anew every epoch",
        scoped=True,
    )
    stateful_batches: bool = setting(
        False,
        "truncated BPTT: the train split becomes batch_size "
        "streams and each batch starts from the states the previous "
        "one ended with (reset every epoch)",
        scoped=True,
    )
    source_column: str = setting("source", "column of the source text", scoped=True)
    target_column: str = setting("target", "column of the target text", scoped=True)
    source_language: _Str = setting(
        None,
        "line-aligned files (line i translates line i): replaces `{lang}` in data.path/train/...",
        scoped=True,
    )
    target_language: _Str = setting(None, "the other language code of source_language", scoped=True)
    column_names: _List = setting(
        None, "header-less csv/tsv: the column names, in order", scoped=True
    )
    max_source_tokens: int = setting(
        80, "longer training pairs are dropped and evaluation sources truncated", gt=0, scoped=True
    )
    max_target_tokens: int = setting(80, "longer training pairs are dropped", gt=0, scoped=True)
    timestamp_column: str = setting("date", "column of the timestamps (regular steps)", scoped=True)
    timestamp_format: _Str = setting(
        None, "strptime format, e.g. %d-%m-%y; null: inferred", scoped=True
    )
    feature_columns: _List = setting(
        None, "input series columns; null: all but the timestamp", scoped=True
    )
    target_columns: _List = setting(
        None, "predicted columns; null: all inputs (multivariate) or the last one", scoped=True
    )
    variables: str = setting(
        "multivariate",
        "all in, all out; one in, one out; all in, targets out",
        choices=("multivariate", "univariate", "multivariate_to_one"),
        scoped=True,
    )
    split: str = setting(
        "fractions",
        "time-ordered split_fractions, split_borders (rows or dates)"
        " or the ETT protocol (12/4/4 months)",
        choices=("fractions", "rows", "dates", "ett"),
        scoped=True,
    )
    split_borders: _Dict = setting(
        None,
        "split rows/dates: first row (or date) of validation, test and optionally `end` (excluded)",
        atomic=True,
        scoped=True,
    )
    fill_gaps: str = setting(
        "none",
        "none: a timestamp gap is an error; forward or linear fill;"
        " keep: rows are the steps (trading days)",
        choices=("none", "forward", "linear", "keep"),
        scoped=True,
    )


@dataclasses.dataclass(frozen=True)
class EmbeddingsConfig:
    path: _Str = setting(
        None,
        "pretrained vectors: a GloVe/word2vec/fastText text file, a .npy "
        "matrix (with words) or kumo:glove-6b-50d; null: none",
        path=True,
    )
    format: str = setting(
        "auto",
        "text (GloVe, fastText .vec), word2vec (a header line) or numpy",
        choices=("auto", "text", "word2vec", "numpy"),
    )
    words: _Str = setting(None, "format=numpy: one word per line, in row order", path=True)
    trainable: bool = setting(True, "fine-tune the vectors (true) or freeze them")
    lowercase_fallback: bool = setting(True, "look a missing word up lowercased")
    oov_std: float = setting(0.1, "std of the random init of words without a vector", ge=0)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    batch_size: int = setting(32, "examples per step", gt=0)
    epochs: int = setting(10, "upper bound; early stopping may end sooner", gt=0)
    optimizer: str = setting(
        "adam", "the Keras optimizer", choices=("adam", "adamw", "sgd", "rmsprop", "nadam")
    )
    learning_rate: float = setting(1.0e-3, "peak learning rate", gt=0)
    lr_schedule: str = setting(
        "constant",
        "learning-rate schedule",
        choices=("constant", "cosine", "exponential", "reduce_on_plateau"),
    )
    lr_decay_rate: float = setting(
        0.5, "exponential: factor per epoch; reduce_on_plateau: factor on a plateau", gt=0, le=1
    )
    warmup_epochs: float = setting(0.0, "linear warmup (cosine and exponential)", ge=0)
    weight_decay: float = setting(0.0, "decoupled weight decay (adamw)", ge=0)
    clipnorm: _Float = setting(
        1.0, "clip each gradient to this L2 norm", gt=0, null="to disable clipping"
    )
    clipvalue: _Float = setting(
        None, "clip each gradient element to +-clipvalue", gt=0, null="to disable clipping"
    )
    label_smoothing: float = setting(0.0, "target probability spread uniformly", ge=0, scoped=True)
    loss: str = setting("mse", "training loss (mae: SegRNN's)", choices=("mse", "mae"), scoped=True)
    ema_momentum: _Float = setting(
        None,
        "evaluate, checkpoint and export an exponential moving average of the weights (e.g. 0.99)",
        gt=0,
        lt=1,
        null="to disable it",
    )
    early_stopping_patience: int = setting(3, "epochs without improvement; 0 disables", ge=0)
    time_budget_minutes: _Float = setting(
        None,
        "stop before an epoch projected to end past this "
        "(across resumes); the schedule still spans epochs",
        gt=0,
        null="for no time limit",
    )
    monitor: str = setting("val_loss", "metric of early stopping, checkpoints and plateaus")
    bucketing: bool = setting(True, "batch examples of similar length together", scoped=True)
    num_buckets: int = setting(8, "length buckets (from train length quantiles)", gt=0, scoped=True)
    batch_tokens: int = setting(
        0,
        "with bucketing: tokens per batch at each bucket's longest "
        "length (short texts come in larger batches); 0 uses batch_size",
        ge=0,
        scoped=True,
    )
    shuffle_buffer: int = setting(10000, "examples in the shuffle buffer", gt=0, scoped=True)
    strict_cudnn: bool = setting(False, "fail (not warn) when a layer cannot use cuDNN")
    precision: str = setting(
        "float32", "the Keras dtype policy", choices=("float32", "mixed_bfloat16", "mixed_float16")
    )
    deterministic: bool = setting(True, "op determinism: equal metrics for equal seeds")
    verbose: int = setting(1, "0 silent, 1 progress bars, 2 a line per epoch", choices=(0, 1, 2))
    distribution: str = setting(
        "auto",
        "tf.distribute strategy: auto (multi_worker when TF_CONFIG "
        "names several tasks, mirrored with several GPUs, else one_device);"
        " batch_size is then the global batch, split over the replicas",
        choices=("auto", "one_device", "mirrored", "multi_worker"),
    )


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    splits: list = setting(["validation", "test"], "the splits scored", choices=SPLITS)
    batch_size: int = setting(128, "examples per evaluation batch", gt=0)
    beam_size: int = setting(4, "beam of evaluation and export (1: greedy)", gt=0, scoped=True)
    length_penalty: float = setting(0.6, "GNMT length normalisation exponent", ge=0, scoped=True)
    max_output_tokens: int = setting(
        0, "most output tokens; 0: max_target_tokens", ge=0, scoped=True
    )
    seasonal_period: int = setting(
        24, "steps per season of the seasonal-naive baseline", gt=0, scoped=True
    )


@dataclasses.dataclass(frozen=True)
class ExportLimitsConfig:
    max_batch_rows: int = setting(
        1024, "most rows (texts, prompts) in one call of a signature", gt=0, le=2**31 - 1
    )
    max_input_chars: typing.Optional[int] = setting(
        None,
        "most characters in one input text",
        gt=0,
        le=2**31 - 1,
        null="the task's default: 100000, and 4096 for generation (a prompt is read one step "
        "per token, so a 100,000-character prompt takes about 15 s on 2 cores)",
        scoped=True,
    )
    max_new_tokens: int = setting(
        1024, "generate: most max_new_tokens", gt=0, le=2**31 - 1, scoped=True
    )
    max_output_length: int = setting(
        1024, "translate: most max_length (output tokens)", gt=0, le=2**31 - 1, scoped=True
    )
    max_beam_size: int = setting(16, "translate: most beam_size", gt=0, le=2**31 - 1, scoped=True)


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    verify: bool = setting(True, "reload the SavedModel and compare it with the Keras model")
    signature: str = setting("serving_default", "name of the string-in signature", scoped=True)
    limits: ExportLimitsConfig = setting(
        ExportLimitsConfig,
        "what one call of an exported signature may ask for; larger values are refused",
    )


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    algorithm: str = setting(
        "random", "the keras-tuner algorithm", choices=("random", "grid", "hyperband", "bayesian")
    )
    max_trials: int = setting(10, "trials to run (hyperband: at most)", gt=0)
    objective: str = setting("val_accuracy", "a metric training logs, e.g. val_loss")
    direction: str = setting("auto", "auto: min if it names a loss", choices=("auto", "max", "min"))
    executions_per_trial: int = setting(1, "trainings per trial, averaged", gt=0)
    hyperband_factor: int = setting(3, "hyperband: reduction factor between brackets")
    keep_best_checkpoints: int = setting(3, "trial checkpoints kept (the best K)", ge=0)
    search_space: dict = setting(
        {},
        "config key -> {choice: [...]}, {min, max[, step][, "
        "sampling]} or {boolean: true}; `when: {key: values}` if needed",
        atomic=True,
    )


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    name: str = setting("pipeline", "run directory prefix; default: the pipeline file's stem")
    task: _Str = setting(None, "the task the pipeline runs (a name in nlp_lstm.tasks.TASKS)")
    seed: int = setting(1337, "seeds Python, NumPy and TF once per run", ge=0, le=SEED_MAX)
    steps: list = setting(
        ["train", "evaluate", "export"],
        "the steps run, in order",
        min_items=1,
        choices=("train", "evaluate", "export"),
    )
    data: DataConfig = setting(DataConfig, "where the examples come from")
    stages: list = setting([], "[{type: ..., **kwargs}], in order")
    target_stages: list = setting(
        [],
        "the target side's stages; empty: the definition of `stages` with a vocabulary of its own",
        scoped=True,
    )
    shared_vocabulary: bool = setting(
        False, "one vocabulary learned on source and target text", scoped=True
    )
    model: dict = setting({}, "{type: ..., **kwargs}")
    embeddings: EmbeddingsConfig = setting(EmbeddingsConfig, "pretrained word vectors", scoped=True)
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
        blob = json.dumps(
            {k: v for k, v in self.to_dict().items() if k != "sources"}, sort_keys=True, default=str
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_value(key):
    """The default of the dotted `key` (a fresh copy of a list or mapping)."""
    field = FIELDS[key]
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def reads(config_keys, key):
    """Whether `key` is among `config_keys` (a task's), or inside a section listed there."""
    return any(key == read or key.startswith(read + ".") for read in config_keys)


def is_scoped(key):
    """Whether only some tasks read `key` (it, or a section above it, is `scoped`)."""
    parts = key.split(".")
    return any(
        FIELDS[".".join(parts[:i])].metadata.get("scoped")
        for i in range(1, len(parts) + 1)
        if ".".join(parts[:i]) in FIELDS
    )


def _walk_fields(cls, prefix=""):
    for f in dataclasses.fields(cls):
        yield prefix + f.name, f
        yield from (
            _walk_fields(f.type, f"{prefix}{f.name}.") if dataclasses.is_dataclass(f.type) else ()
        )


FIELDS = dict(_walk_fields(PipelineConfig))  # dotted key -> its dataclasses.Field

INTERNAL_KEYS = ("sources", "provenance")  # filled by the loader, not keys a file sets
