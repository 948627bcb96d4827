"""Pipeline: the stages, the model and the steps of one config, run in a fixed order.

seed -> read -> adapt (train split) -> map -> build model -> train -> evaluate -> export, with the
resolved config, the manifest and the metrics written into the run directory as it goes.
"""

import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nlp_lstm import data as data_lib
from nlp_lstm import evaluation, export, inputs, rundir, training
from nlp_lstm.config import PipelineConfig, config_from_dict, dump_config
from nlp_lstm.embeddings import build_embedding_matrix
from nlp_lstm.errors import ConfigError, RunDirError
from nlp_lstm.models import MODELS, check_cudnn, cudnn_report
from nlp_lstm.registry import bind_kwargs
from nlp_lstm.stages import STAGES, SequencePacker, Vocabulary

# What each stage consumes and produces; the chain must go text -> ... -> packed ids.
STAGE_KINDS = {"text_normalizer": ("text", "text"), "whitespace_tokenizer": ("text", "tokens"),
               "unicode_script_tokenizer": ("text", "tokens"),
               "character_tokenizer": ("text", "tokens"), "wordpiece_tokenizer": ("text", "tokens"),
               "vocabulary": ("tokens", "ids"), "sequence_packer": ("ids", "packed")}
INJECTED_MODEL_ARGS = ("num_classes", "vocabulary_size")
TRANSLATION_MODEL_ARGS = ("source_vocabulary_size", "target_vocabulary_size")
EDGE_CASE_TEXTS = ["", " ", "x" * 100_000, "naïve café — 東京 🙂", "\u0301\u200b"]


def _stage_chain_error(config, index, previous, stage, expected, got):
    before = f"stages[{index - 1}] ({previous})" if index else "The raw input"
    return ConfigError(
        f"{before} outputs {got} but stages[{index}] ({stage}) expects "
        f"{expected}; the two do not fit (set in {config.where('stages')}). The chain must be: "
        f"[text_normalizer] -> a tokenizer -> vocabulary -> sequence_packer.")


def check_stage_chain(config, stages):
    """Checks that consecutive stages fit, from raw text to packed ids (ids for generation)."""
    kind, previous = "text", "raw text input"
    for index, stage in enumerate(stages):
        name = stage.registry_name
        expected, produced = STAGE_KINDS[name]
        if expected != kind:
            raise _stage_chain_error(config, index, previous, name, expected, kind)
        kind, previous = produced, name
    wanted = "packed" if config.task == "classification" else "ids"
    if kind != wanted:
        ending = "a vocabulary" if wanted == "ids" else "a vocabulary and a sequence_packer"
        raise ConfigError(f"The stages end with {previous}, which outputs {kind}; a "
                          f"{config.task} model needs {wanted} ids. End the stages (set in "
                          f"{config.where('stages')}) with {ending}.")


def check_injected_args(config):
    """The model entry, checked not to set the arguments that the data and stages fill in."""
    entry = dict(config.model)
    for key in INJECTED_MODEL_ARGS + TRANSLATION_MODEL_ARGS:
        if key in entry:
            raise ConfigError(f"`model.{key}` is filled in from the data and the vocabulary; "
                              f"remove it from {config.where('model.' + key)}.")
    return entry


def adapt_chain(stages, texts):
    """Adapts each stage that learns state on `texts` (string batches) run through the stages
    before it, in chain order."""
    for index, stage in enumerate(stages):
        if stage.requires_adapt:
            upstream = texts
            for previous in stages[:index]:
                upstream = upstream.map(previous)
            stage.adapt(upstream)


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    metrics: dict
    manifest: dict


class Pipeline:
    """The objects built from one `PipelineConfig`, and the steps that use them.

    Args:
        config: PipelineConfig. The resolved, checked config.
        stages: list of PreprocessingStage. Built from `config.stages`, not yet adapted.
    """

    history_metrics = ("loss", "accuracy")

    def __init__(self, config, stages):
        self.config = config
        self.stages = stages
        self.model = None
        self.data = None
        self.label_names = None
        self.embedding_coverage = None

    @property
    def packer(self):
        return self.stages[-1]

    @property
    def vocabulary(self):
        return next(s for s in self.stages if isinstance(s, Vocabulary))

    # -- steps -------------------------------------------------------------------------------
    def read_data(self):
        return data_lib.read_dataset(self.config)

    def read(self):
        self.data = self.read_data()
        self.label_names = self.data.label_names
        return self.data

    def adapt_source(self):
        """The train texts the stages adapt on, as a dataset of string batches."""
        return self.data.to_tf("train").map(lambda ex: ex["text"]).batch(inputs.TOKENIZE_BATCH)

    def adapt(self):
        """Adapts each stage with learned state on the train split, in chain order."""
        adapt_chain(self.stages, self.adapt_source())
        self.check_chain_outputs()

    def check_chain_outputs(self):
        """Pushes two synthetic texts through the adapted stages; the result must be int ids [2, n]."""
        x = tf.constant(["synthetic example one", ""])
        for index, stage in enumerate(self.stages):
            try:
                x = stage(x)
            except (tf.errors.InvalidArgumentError, TypeError, ValueError) as err:
                raise ConfigError(f"stages[{index}] ({stage.registry_name}) fails on the output "
                                  f"of the stage before it: {err}") from err
        if not x.dtype.is_integer or x.shape.rank != 2:
            raise ConfigError(f"The stages produce {x.dtype.name} of rank {x.shape.rank}; the "
                              f"model needs int ids of shape [batch, length].")

    def datasets(self, split, training=False, counter=None):
        """Batched (ids, label) for one split: shuffled and bucketed for training."""
        train = self.config.train
        unbatched = inputs.trimmed_ids(self.data.to_tf(split), self.stages)
        boundaries = self._boundaries()
        return inputs.batched(unbatched, self.packer,
                              self.train_batch_sizes() if training
                              else self.config.evaluate.batch_size,
                              boundaries, counter=counter,
                              shuffle_buffer=train.shuffle_buffer if training else 0,
                              seed=self.config.seed if training else None)

    def _train_lengths(self):
        if getattr(self, "_lengths", None) is None:
            self._lengths = inputs.sequence_lengths(
                inputs.trimmed_ids(self.data.to_tf("train"), self.stages))
        return self._lengths

    def describe_data(self):
        counts = ", ".join(f"{k}={v}" for k, v in self.data.counts().items())
        return f"read: {counts} examples, labels {self.label_names}"

    def describe_stages(self):
        return (f"stages: vocabulary size {self.vocabulary.vocabulary_size}, sequence length "
                f"{self.packer.length}")

    def model_arguments(self):
        """Model arguments filled in from the data and the stages."""
        return {"num_classes": len(self.label_names),
                "vocabulary_size": self.vocabulary.vocabulary_size}

    def build_model(self):
        entry = check_injected_args(self.config)
        model = MODELS.build(entry, where=self.config.where("model"), **self.model_arguments())
        model(np.zeros([1, 2], dtype=np.int64))
        if self.config.embeddings.path:
            matrix, self.embedding_coverage = build_embedding_matrix(
                self.config.embeddings, self.vocabulary.vocabulary,
                model.backbone.embedding_dim, self.config.seed)
            model.backbone.embedding.embeddings.assign(matrix)
            model.backbone.embedding.trainable = self.config.embeddings.trainable
        self.model = model
        return model

    def cudnn_report(self):
        report = cudnn_report(self.model, getattr(self.packer, "padding_side", "right"))
        check_cudnn(report, self.config.train.strict_cudnn)
        return report

    def compile_arguments(self):
        """Loss and metrics for `model.compile` (the model outputs probabilities)."""
        return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}

    def _boundaries(self):
        if not self.config.train.bucketing:
            return []
        return inputs.length_boundaries(self._train_lengths(), self.config.train.num_buckets)

    def train_batch_sizes(self):
        """Examples per training batch in each length bucket (`train.batch_tokens`)."""
        train = self.config.train
        return inputs.bucket_batch_sizes(self._train_lengths(), self._boundaries(),
                                         train.batch_size, train.batch_tokens)

    def steps_per_epoch(self):
        return inputs.batches_per_epoch(self._train_lengths(), self._boundaries(),
                                        self.train_batch_sizes())

    def training_callbacks(self, model):
        """Callbacks that fitting `model` needs besides the skeleton's (the tuner adds them too)."""
        return []

    def train(self, run_dir):
        counter = inputs.PaddingCounter()
        arguments = self.compile_arguments()
        return training.fit(self.model, self.datasets("train", True, counter),
                            self.datasets("validation") if "validation" in self.data.splits
                            else None, self.config.train, str(run_dir), self.steps_per_epoch(),
                            counter, loss=arguments["loss"], metrics=arguments["metrics"])

    def predict_split(self, split):
        """(labels, probabilities) of one split, in one pass over its length-bucketed batches."""
        predict = tf.function(lambda ids: self.model(ids, training=False), reduce_retracing=True)
        labels, probabilities = [], []
        for ids, label in self.datasets(split):
            probabilities.append(tf.cast(predict(ids), tf.float32).numpy())
            labels.append(label.numpy())
        return np.concatenate(labels), np.concatenate(probabilities)

    def evaluate(self, run_dir, splits=None):
        metrics = {}
        for split in splits or self.config.evaluate.splits:
            if split not in self.data.splits:
                continue
            labels, probabilities = self.predict_split(split)
            metrics[split] = evaluation.classification_metrics(labels, probabilities,
                                                                self.label_names)
            evaluation.plot_confusion_matrix(metrics[split]["confusion_matrix"], self.label_names,
                                             Path(run_dir) / f"confusion_{split}.png",
                                             f"{self.config.name}: {split}")
        return metrics

    def export(self, run_dir):
        texts = list(self.data.splits.get("validation", self.data.splits["train"])["text"][:16])
        return export.export_classifier(self.stages, self.model, self.label_names,
                                        Path(run_dir) / "export", self.config.export.signature,
                                        verify_texts=(texts + EDGE_CASE_TEXTS)
                                        if self.config.export.verify else None)

    # -- saving and loading a run ----------------------------------------------------------
    def save_state(self, run_dir):
        run_dir = Path(run_dir)
        rundir.atomic_write_json(run_dir / "stages.json", [
            keras.saving.serialize_keras_object(stage) for stage in self.stages])
        rundir.atomic_write_json(run_dir / "labels.json", self.label_names)
        rundir.atomic_write_text(run_dir / "vocabulary.txt",
                                 "\n".join(self.vocabulary.vocabulary) + "\n")

    def save_model(self, run_dir):
        path = Path(run_dir) / "model.keras"
        tmp = path.with_name(".model.keras.tmp.keras")
        self.model.save(tmp)
        tmp.replace(path)

    def load_state(self, run_dir, with_model=True):
        run_dir = Path(run_dir)
        try:
            self.stages = [keras.saving.deserialize_keras_object(item) for item in
                           json.loads((run_dir / "stages.json").read_text(encoding="utf-8"))]
            self.label_names = json.loads((run_dir / "labels.json").read_text(encoding="utf-8"))
            if with_model:
                self.model = keras.saving.load_model(run_dir / "model.keras")
        except FileNotFoundError as err:
            raise RunDirError(f"{run_dir} has no trained model ({Path(err.filename).name} is "
                              f"missing). Run `nlp-lstm train` or `nlp-lstm run` first.") from err

    # -- the whole chain -------------------------------------------------------------------
    def run(self, run_dir=None, overwrite=False, resume=False, runs_root="runs", log=print):
        """Runs `config.steps` and returns a RunResult; artifacts go to the run directory."""
        if keras.backend.backend() != "tensorflow":
            raise ConfigError(f"nlp_lstm needs the TensorFlow backend of Keras; KERAS_BACKEND is "
                              f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow.")
        config = self.config
        if run_dir is None:
            run_dir, resuming = rundir.new_run_dir(config.name, runs_root), False
        else:
            resuming = rundir.prepare_run_dir(run_dir, config.hash(), overwrite, resume)
        run_dir = Path(run_dir)
        manifest = rundir.read_json(run_dir / "manifest.json") if resuming else None
        manifest = manifest or {"pipeline": config.name, "task": config.task,
                                "config_hash": config.hash(), "seed": config.seed,
                                "start_time": rundir.now(), "steps_done": [],
                                "git_commit": rundir.git_commit(Path.cwd()),
                                "versions": rundir.versions(),
                                "machine": rundir.describe_machine()}
        manifest.update(status="running", resumed=resuming)
        rundir.atomic_write_text(run_dir / "config.yaml", dump_config(config))
        rundir.atomic_write_json(run_dir / "manifest.json", manifest)
        metrics = rundir.read_json(run_dir / "metrics.json", {})
        policy = keras.mixed_precision.global_policy().name
        try:
            self._run_steps(run_dir, manifest, metrics, log)
        except KeyboardInterrupt:
            manifest.update(status="interrupted", end_time=rundir.now())
            rundir.atomic_write_json(run_dir / "manifest.json", manifest)
            raise
        except BaseException as err:
            manifest.update(status="failed", error=f"{type(err).__name__}: {err}"[:2000],
                            end_time=rundir.now())
            rundir.atomic_write_json(run_dir / "manifest.json", manifest)
            raise
        finally:
            keras.mixed_precision.set_global_policy(policy)
        manifest.update(status="finished", end_time=rundir.now())
        rundir.atomic_write_json(run_dir / "manifest.json", manifest)
        return RunResult(run_dir, metrics, manifest)

    def _run_steps(self, run_dir, manifest, metrics, log):
        config, timings = self.config, manifest.setdefault("timings_s", {})
        keras.utils.set_random_seed(config.seed)
        if config.train.deterministic:
            tf.config.experimental.enable_op_determinism()
        keras.mixed_precision.set_global_policy(config.train.precision)
        start = time.perf_counter()
        self.read()
        manifest["data"] = {"fingerprint": self.data.fingerprint, "counts": self.data.counts(),
                            "files": self.data.files, "labels": self.label_names}
        log(self.describe_data())
        trained = "train" in manifest["steps_done"]
        if (run_dir / "stages.json").is_file():
            self.load_state(run_dir, with_model=trained)
        else:
            self.adapt()
            self.save_state(run_dir)
        timings["read_and_adapt"] = round(time.perf_counter() - start, 2)
        log(self.describe_stages())
        if not trained:
            self.build_model()
            manifest["cudnn"] = self.cudnn_report()
            if self.embedding_coverage:
                manifest["embeddings"] = self.embedding_coverage
                log(f"pretrained vectors: {self.embedding_coverage['found']}/"
                    f"{self.embedding_coverage['vocabulary_size']} vocabulary entries covered "
                    f"({self.embedding_coverage['coverage']:.1%})")
            manifest["num_parameters"] = int(self.model.count_params())
            rundir.atomic_write_json(run_dir / "manifest.json", manifest)
        if "train" in config.steps and not trained:
            start = time.perf_counter()
            history = self.train(run_dir)
            timings["train"] = round(time.perf_counter() - start, 2)
            manifest["epochs_run"] = len(history.epoch)
            self.save_model(run_dir)
            evaluation.plot_history(run_dir / "history.csv", run_dir / "history.png",
                                    self.history_metrics)
            self._done(run_dir, manifest, "train")
        if "evaluate" in config.steps:
            start = time.perf_counter()
            metrics.update(self.evaluate(run_dir))
            rundir.atomic_write_json(run_dir / "metrics.json", metrics)
            timings["evaluate"] = round(time.perf_counter() - start, 2)
            self._done(run_dir, manifest, "evaluate")
        if "export" in config.steps:
            start = time.perf_counter()
            manifest["export"] = self.export(run_dir)
            timings["export"] = round(time.perf_counter() - start, 2)
            self._done(run_dir, manifest, "export")

    @staticmethod
    def _done(run_dir, manifest, step):
        if step not in manifest["steps_done"]:
            manifest["steps_done"].append(step)
        rundir.atomic_write_json(run_dir / "manifest.json", manifest)


def build_pipeline(config: PipelineConfig):
    """Builds the stages and checks the model entry, without reading data or training."""
    if config.task == "translation":
        from nlp_lstm.translation import build_translation_stages
        stages, target_stages = build_translation_stages(config)
    else:
        stages = [STAGES.build(entry, where=f"stages[{i}] of {config.where('stages')}")
                  for i, entry in enumerate(config.stages)]
    if not stages:
        raise ConfigError(f"The pipeline has no stages (`stages`, {config.where('stages')}). "
                          f"List at least a tokenizer and a vocabulary"
                          + (" and a sequence_packer." if config.task == "classification" else "."))
    check_stage_chain(config, stages)
    if config.task == "translation" and target_stages is not stages:
        check_stage_chain(config, target_stages)
    if config.task == "classification" and not isinstance(stages[-1], SequencePacker):
        raise ConfigError("The last stage must be a sequence_packer.")
    model_cls = MODELS.get(config.model["type"])
    entry = {k: v for k, v in config.model.items() if k != "type"}
    injected = {"classification": INJECTED_MODEL_ARGS, "generation": ("vocabulary_size",),
                "translation": TRANSLATION_MODEL_ARGS}[config.task]
    check_injected_args(config)
    for key in injected:
        entry[key] = 2
    bind_kwargs(model_cls, entry, f"model {config.model['type']!r} in {config.where('model')}")
    if config.task == "generation":
        from nlp_lstm.language_model import LanguageModelPipeline
        return LanguageModelPipeline(config, stages)
    if config.task == "translation":
        from nlp_lstm.translation import TranslationPipeline
        return TranslationPipeline(config, stages, target_stages)
    return Pipeline(config, stages)


def load_run(run_dir, with_data=True):
    """A Pipeline restored from a run directory (config, adapted stages, trained model)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise RunDirError(f"{run_dir} is not a run directory (no config.yaml). Pass the directory "
                          f"`nlp-lstm run` printed.")
    import yaml
    config = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")))
    if config.task == "generation":
        from nlp_lstm.language_model import LanguageModelPipeline
        pipeline = LanguageModelPipeline(config, [])
    elif config.task == "translation":
        from nlp_lstm.translation import TranslationPipeline
        pipeline = TranslationPipeline(config, [], [])
    else:
        pipeline = Pipeline(config, [])
    pipeline.load_state(run_dir)
    if with_data:
        pipeline.data = pipeline.read_data()
    return pipeline
