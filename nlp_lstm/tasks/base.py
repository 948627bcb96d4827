"""Task: what one kind of problem fills in for the shared runner (`nlp_lstm.pipeline`).

A task knows its data, its preprocessing, its model's inputs, its metrics, its serving module and
its export signatures. The runner knows none of these: it seeds, keeps the run directory and the
manifest, and calls a task's steps in order. Tasks register by name in `TASKS`, and the runner
reaches them only through it."""

import hashlib
import json
import logging
import tempfile
from pathlib import Path

import keras
import numpy as np

from nlp_lstm import artifacts
from nlp_lstm.config.registry import Registry, bind_kwargs
from nlp_lstm.data import inputs, leakage
from nlp_lstm.errors import ConfigError, InputDataError, RunDirError
from nlp_lstm.export import saved_model as export
from nlp_lstm.export.limits import export_limits, task_limits
from nlp_lstm.models import MODELS, check_cudnn, cudnn_report
from nlp_lstm.stages.preprocessor import Preprocessor, build_stages, check_stage_chain
from nlp_lstm.tasks.scope import check_config_keys
from nlp_lstm.version import __version__

logger = logging.getLogger(__name__)

# Streamed corpora cache their token ids in this folder of the run directory.
TOKEN_IDS_DIR = "token_ids"

TASKS = Registry("task")

# Texts that every text export must survive: empty, blank, very long, mixed scripts, combining.
EDGE_CASE_TEXTS = ["", " ", "x" * 100_000, "naïve café — 東京 🙂", "\u0301\u200b"]

STATE_FILE = "preprocessor.json"


def register_task(name):
    """Registers a Task subclass under `name` (the config's `task` value)."""
    return TASKS.register(name)


class Task:
    """The steps one task fills in. Subclasses set the class attributes and the abstract methods.

    Args:
        config: PipelineConfig. The resolved, checked config.
        preprocessor: Preprocessor. The (source) stage chain, not yet adapted.
    """

    # -- what other modules ask a task, through TASKS; each task declares its own ---------------
    # The keys of export.limits its export records and enforces, and its defaults for those left
    # unset where they differ from export.limits.UNSET_DEFAULTS.
    limit_keys = ("max_batch_rows",)
    limit_defaults = {}
    # Its export's signature names, the one a request without signature_name gets (None: the one
    # the export's metadata names), and those whose concurrent requests the server may merge.
    signature_names = ()
    default_signature = None
    mergeable_signatures = ()
    # The Predictor subclass `nlp_lstm.load` returns, and the `nlp-lstm` command that uses it.
    predictor = None
    cli_verb = "predict"
    # The scoped config keys (see `nlp_lstm.config.schema.is_scoped`) this task reads; a scoped
    # key that is set for a task that does not list it is refused (`check_config_keys`).
    config_keys = ()

    # Model arguments filled in from the data and the vocabulary (the user must not set them).
    injected_model_args = ("vocabulary_size",)
    # What the stage chain must end with: "ids" (ragged) or "packed" (dense, via a packer).
    stage_ending = "ids"
    # Columns of history.csv that history.png plots.
    history_metrics = ("loss",)

    def __init__(self, config, preprocessor):
        self.check_config_keys(config)  # every task object, however it is built
        self.config = config
        self.preprocessor = preprocessor
        self.data = None
        self.model = None
        self.embedding_coverage = None
        self._lengths = None
        self.cache_dir = None  # where streamed token ids go (`token_ids_path`)

    def token_ids_path(self, split, key=(), suffix=""):
        """Where a streamed split's token ids are cached: `cache_dir` (RUN_DIR/token_ids once
        the task trains or evaluates in a run; a temporary folder outside one), named by the
        split and a hash of the data fingerprint, the stages, what `preprocessors` learned, and
        the task's own `key`."""
        if self.cache_dir is None:
            self.cache_dir = Path(tempfile.mkdtemp(prefix="nlp_lstm-token-ids-"))
            logger.info("token ids cached in %s (no run directory)", self.cache_dir)
        learned = [
            getattr(stage, "vocabulary", None)
            for preprocessor in self.preprocessors()
            for stage in preprocessor.stages
        ]
        digest = hashlib.sha256(
            json.dumps(
                [self.data.fingerprint, repr(self.config.stages), learned, list(key)],
                sort_keys=True,
                default=str,
            ).encode()
        )
        return Path(self.cache_dir) / f"{split}-{digest.hexdigest()[:16]}{suffix}"

    def preprocessors(self):  # the stage chains that turn this task's texts into ids
        return [self.preprocessor]

    def use_run_dir(self, run_dir):
        """Writes and reads a streamed corpus' token ids under RUN_DIR/token_ids, and removes
        what killed writers left there."""
        self.cache_dir = Path(run_dir) / TOKEN_IDS_DIR
        artifacts.remove_stale_temporaries(self.cache_dir)

    @classmethod
    def from_config(cls, config):
        """Builds the stages and checks them and the model entry, without reading data."""
        where = config.where("stages")
        stages = build_stages(config.stages, "stages", where)
        check_stage_chain(stages, cls.stage_ending, where)
        task = cls(config, Preprocessor(stages))
        task.check_model_entry()
        return task

    @classmethod
    def check_config_keys(cls, config):
        """Fails on a scoped key set to other than its default that this task does not read: it
        would be silently ignored. The message names the tasks that do read it."""
        check_config_keys(config, cls.config_keys, TASKS)

    @classmethod
    def limits_of(cls, limits):
        """The export limits this task records: `limits` (an ExportLimitsConfig or a dict)
        restricted to `limit_keys`, with the task's defaults for those unset."""
        return task_limits(limits, cls.limit_keys, cls.limit_defaults)

    @classmethod
    def load_predictor(cls, loaded, metadata, batch_size=None, progress=False):
        """The task's predictor over a loaded export, with the limits the export records (the
        defaults for an export written before limits existed)."""
        limits = export_limits(metadata, cls.limit_keys, cls.limit_defaults)
        return cls.predictor(loaded, metadata, limits, batch_size=batch_size, progress=progress)

    @classmethod
    def merges(cls, signature):
        """Whether the server may merge concurrent requests to `signature` into one call."""
        return signature in cls.mergeable_signatures

    @classmethod
    def check_export_metadata(cls, path, metadata):
        """Completes or refuses the metadata of an export of this task (`nlp_lstm.load`)."""
        return metadata

    def check_model_entry(self):
        """The model entry, checked against its class without building it; returns its kwargs."""
        config = self.config
        entry = {k: v for k, v in config.model.items() if k != "type"}
        for key in self.injected_model_args:
            if key in entry:
                raise ConfigError(
                    f"`model.{key}` is filled in from the data and the vocabulary; "
                    f"remove it from {config.where('model.' + key)}."
                )
        model_cls = MODELS.get(config.model["type"])
        placeholders = self.placeholder_model_args()
        bind_kwargs(
            model_cls,
            {**entry, **placeholders},
            f"model {config.model['type']!r} in {config.where('model')}",
        )
        check_model_values(model_cls, entry, placeholders, config)
        return entry

    def placeholder_model_args(self):
        """Stand-ins for the injected model arguments, to try the model entry before any data
        is read."""
        return dict.fromkeys(self.injected_model_args, PLACEHOLDER_SIZE)

    # -- data ------------------------------------------------------------------------------------
    def read_data(self):
        raise NotImplementedError

    def read(self):
        """Reads the config's data (`read_data`) and checks the size of each split."""
        self.data = self.read_data()
        self.check_split_sizes()
        return self.data

    def check_split_sizes(self):
        """Fails before training when a split that is present is empty (a fraction cut from too
        few examples), naming the keys that make it larger or remove it."""
        counts, data = self.data.counts(), self.config.data
        for split, count in counts.items():
            if count > 0:
                continue
            given = getattr(data, split, None) if split != "data" else None
            share = data.split_fractions.get(split)
            cause = (
                f"data.{split} ({given}) holds no example"
                if given
                else (
                    f"data.split_fractions.{split}={share} of {sum(counts.values())} examples "
                    f"rounds to none"
                )
            )
            fix = (
                ""
                if split == "train"
                else (
                    f", or set data.split_fractions.{split}: 0 (and give its share to train) to "
                    f"run without a {split} split"
                )
            )
            raise InputDataError(
                f"The {split} split is empty: {cause}. Give more examples, a "
                f"data.{split} file or a larger data.split_fractions.{split}"
                f"{fix}."
            )

    def check_splits(self, splits, where):
        """Fails when a split asked for by name is not in the data read (`where`: the run)."""
        present = list(self.data.splits)
        for split in splits or ():
            if split not in self.data.splits:
                raise InputDataError(
                    f"{where}'s data has no {split} split (splits: {', '.join(present)}). Score "
                    f"one of those, or a new file (`nlp-lstm evaluate RUN_DIR --data FILE`)."
                )

    def read_file(self, path):
        """Reads one new file (labelled, or parallel for translation) as the split "data", to be
        scored by `evaluate(run_dir, ["data"])`."""
        raise NotImplementedError

    def has_split(self, split):
        return split in self.data.splits

    def data_manifest(self):
        """What the manifest records of the data read, with the leakage check (duplicates across
        splits, see `nlp_lstm.data.leakage`); logs a warning when a share is above
        `data.leakage_warn_share`."""
        units, unit = self.leakage_units()
        if units is None:  # the task's splits cannot share examples (e.g. disjoint time ranges)
            return {
                "fingerprint": self.data.fingerprint,
                "counts": self.data.counts(),
                "files": self.data.files,
            }
        report = leakage.leakage_report(units)
        threshold = self.config.data.leakage_warn_share
        for message in leakage.warnings(report, threshold, unit):
            logger.warning("warning: %s", message)
        sampled = {"sample": leakage.SAMPLE} if getattr(self.data, "streamed", False) else {}
        return {
            "fingerprint": self.data.fingerprint,
            "counts": self.data.counts(),
            "files": self.data.files,
            "leakage": {"unit": unit, "warn_share": threshold, **sampled, **report},
        }

    def leakage_units(self):
        """(split -> the texts the leakage check compares, what one text is); see
        `nlp_lstm.data.leakage.split_units`."""
        return leakage.split_units(self.data.splits, self.config.data.split_seed)

    def describe_data(self):
        return "read: " + ", ".join(f"{k}={v}" for k, v in self.data.counts().items())

    def describe_stages(self):
        return f"stages: vocabulary size {self.preprocessor.vocabulary.vocabulary_size}"

    def adapt_source(self):
        """The train texts the stages adapt on, as a dataset of string batches."""
        raise NotImplementedError

    def adapt(self):
        """Adapts each stage with learned state on the train split, in chain order."""
        self.preprocessor.adapt(self.adapt_source())
        self.preprocessor.check_outputs()

    # -- batches ---------------------------------------------------------------------------------
    def train_lengths(self):
        """Lengths of the train sequences (length buckets and the steps per epoch use them)."""
        raise NotImplementedError

    def datasets(self, split, training=False, counter=None):
        """Batched (inputs, targets) of one split: shuffled and bucketed for training."""
        raise NotImplementedError

    def boundaries(self):
        train = self.config.train
        if not train.bucketing or not self.has_split("train"):
            return []  # a new file being scored: evaluation batches need no length buckets
        return inputs.length_boundaries(self.train_lengths(), train.num_buckets)

    def train_batch_sizes(self):
        """Examples per training batch in each length bucket (`train.batch_tokens`)."""
        train = self.config.train
        return inputs.bucket_batch_sizes(
            self.train_lengths(), self.boundaries(), train.batch_size, train.batch_tokens
        )

    def eval_batch_sizes(self):
        return [self.config.evaluate.batch_size] * (len(self.boundaries()) + 1)

    def steps_per_epoch(self):
        return inputs.batches_per_epoch(
            self.train_lengths(), self.boundaries(), self.train_batch_sizes()
        )

    # -- model -----------------------------------------------------------------------------------
    def model_arguments(self):
        """Model arguments filled in from the data and the stages."""
        return {"vocabulary_size": self.preprocessor.vocabulary.vocabulary_size}

    def example_inputs(self):
        """A tiny input batch that builds the model's weights."""
        return np.zeros([1, 2], dtype=np.int64)

    def build_model(self):
        self.check_model_entry()
        model = MODELS.build(
            dict(self.config.model), where=self.config.where("model"), **self.model_arguments()
        )
        model(self.example_inputs())
        self.model = model
        return model

    def cudnn_report(self):
        packer = self.preprocessor.packer
        report = cudnn_report(self.model, packer.padding_side if packer else "right")
        check_cudnn(report, self.config.train.strict_cudnn)
        return report

    def compile_arguments(self):
        """`loss` and `metrics` for `model.compile`."""
        raise NotImplementedError

    def training_callbacks(self, model, run_dir):
        """Callbacks this task adds to training (a run and every tuning trial get them)."""
        return []

    # Whether the training batches count their padding (history.csv's padding_share).
    counts_padding = True

    def after_training(self, model):
        """Undoes what `training_callbacks` set on the model for training only."""

    # -- evaluation and export -------------------------------------------------------------------
    def evaluate(self, run_dir, splits=None):
        """Metrics per split (only splits the data has); may write plots into `run_dir`."""
        raise NotImplementedError

    def serving_module(self):
        """The tf.Module the SavedModel holds (preprocessing, model and decoding in the graph)."""
        raise NotImplementedError

    def signatures(self, module):
        """Signature name -> tf.function of `module`."""
        raise NotImplementedError

    def verify_export(self, export_dir, module):
        """Reloads `export_dir` and compares it with `module`; returns a summary or raises."""
        raise NotImplementedError

    def export_metadata(self):
        """What the export says of itself, for `nlp_lstm.load` and the server."""
        return {
            "task": self.registry_name,
            "pipeline": self.config.name,
            "nlp_lstm_version": __version__,
            "limits": self.limits_of(self.config.export.limits),
        }

    def export(self, run_dir):
        verify = self.verify_export if self.config.export.verify else None
        return export.save_portable(
            self.model,
            self.serving_module,
            self.signatures,
            Path(run_dir) / "export",
            verify,
            self.export_metadata(),
        )

    # -- saving and loading a run ----------------------------------------------------------------
    def state(self):
        """What a run directory keeps of the adapted task (JSON)."""
        return {"preprocessor": self.preprocessor.get_config()}

    def restore(self, state):
        self.preprocessor = Preprocessor.from_config(state["preprocessor"])

    def save_state(self, run_dir):
        artifacts.atomic_write_json(Path(run_dir) / STATE_FILE, self.state())
        vocabulary = self.preprocessor.vocabulary.vocabulary
        artifacts.atomic_write_text(Path(run_dir) / "vocabulary.txt", "\n".join(vocabulary) + "\n")

    def has_state(self, run_dir):
        return (Path(run_dir) / STATE_FILE).is_file()

    def save_model(self, run_dir):
        path = Path(run_dir) / "model.keras"
        tmp = path.with_name(".model.keras.tmp.keras")
        self.model.save(tmp)
        tmp.replace(path)

    def load_state(self, run_dir, with_model=True):
        run_dir = Path(run_dir)
        try:
            self.restore(
                artifacts.read_json(run_dir / STATE_FILE, None) or _missing(run_dir / STATE_FILE)
            )
            if with_model:
                if not (run_dir / "model.keras").is_file():
                    _missing(run_dir / "model.keras")
                self.model = keras.saving.load_model(run_dir / "model.keras")
        except FileNotFoundError as err:
            raise RunDirError(
                f"{run_dir} has no trained model ({Path(err.filename).name} is "
                f"missing). Run `nlp-lstm train` or `nlp-lstm run` first."
            ) from err


# The vocabulary size and class count a model entry is tried with before any data is read.
PLACEHOLDER_SIZE = 16


def check_model_values(model_cls, entry, placeholders, config):
    """Constructs `model_cls` once (no weights: Keras builds them on the first call) with the
    placeholder sizes, so that a value its constructor rejects (hidden_dim: 0, dropout: 1.5) is a
    ConfigError naming the `model.*` key and its file before any data is read."""
    try:
        model_cls(**entry, **placeholders)
    except (ValueError, TypeError) as err:
        message = str(err)
        named = [k for k in entry if f"`{k}`" in message or f"{k}=" in message]
        key = f"model.{named[0]}" if named else "model"
        fix = "Fix it in that file or with --set." if named else "Fix the model entry."
        raise ConfigError(
            f"{config.where(key)} has an impossible value for model "
            f"{config.model['type']!r}: {message.rstrip('.')}. {fix}"
        ) from err


def _missing(path):
    raise FileNotFoundError(2, "No such file", str(path))
