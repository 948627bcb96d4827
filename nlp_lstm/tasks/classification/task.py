"""Text classification: labelled texts -> stages ending in a packer -> LSTMTextClassifier.

Metrics are accuracy, macro-F1, per-class precision/recall/F1, the loss and the majority
baseline. The export's signature takes raw strings and returns the label, its id and the
probabilities."""

import logging
from pathlib import Path

import numpy as np
import tensorflow as tf

from nlp_lstm import artifacts
from nlp_lstm.data import inputs, splitting
from nlp_lstm.data import texts as data_lib
from nlp_lstm.data.embeddings import build_embedding_matrix
from nlp_lstm.data.streaming import columns as arrow_data
from nlp_lstm.errors import ExportError
from nlp_lstm.tasks import plots
from nlp_lstm.tasks.base import EDGE_CASE_TEXTS, Task, register_task
from nlp_lstm.tasks.classification.metrics import classification_metrics
from nlp_lstm.tasks.classification.predictor import ClassifierPredictor
from nlp_lstm.tasks.classification.serving import ClassifierServing
from nlp_lstm.tasks.predictor import predict_batches
from nlp_lstm.tasks.scope import BUCKET_KEYS, STREAMING_KEYS, TEXT_SPLIT_KEYS

logger = logging.getLogger(__name__)


@register_task("classification")
class ClassificationTask(Task):
    """Labelled texts; the stages end with a sequence_packer.

    Args:
        config: PipelineConfig with task: classification.
        preprocessor: Preprocessor. Text -> packed ids.
    """

    injected_model_args = ("num_classes", "vocabulary_size")
    stage_ending = "packed"
    history_metrics = ("loss", "accuracy")
    predictor = ClassifierPredictor
    cli_verb = "predict"
    limit_keys = ("max_batch_rows", "max_input_chars")
    # The string-in signature is named by export.signature; the metadata records which.
    signature_names = ("serving_default",)
    config_keys = (
        *TEXT_SPLIT_KEYS,
        "data.format",
        "data.delimiter",
        "data.label_files",
        "data.hub_name",
        "data.hub_config",
        "data.hub_splits",
        "data.text_column",
        "data.label_column",
        "data.labels",
        *STREAMING_KEYS,
        "embeddings",
        *BUCKET_KEYS,
        "export.signature",
        "export.limits.max_input_chars",
    )

    @classmethod
    def merges(cls, signature):
        return True  # each text is classified on its own, whatever the signature's name

    @classmethod
    def check_export_metadata(cls, path, metadata):
        if "labels" not in metadata:
            raise ExportError(
                f"{path} records no label names (it was exported before nlp_lstm "
                f"wrote them). Re-export it: `nlp-lstm export RUN_DIR`."
            )
        return {"signature": "serving_default", **metadata}

    def __init__(self, config, preprocessor):
        super().__init__(config, preprocessor)
        self.label_names = None

    def read_data(self):
        return arrow_data.read_dataset(self.config)

    def read(self):
        super().read()
        self.label_names = self.data.label_names
        return self.data

    def read_file(self, path):
        self.data = data_lib.read_labelled_file(path, self.config, self.label_names)
        self._lengths = None
        return self.data

    def data_manifest(self):
        return {**super().data_manifest(), "labels": self.label_names}

    def describe_data(self):
        return f"{super().describe_data()} examples, labels {self.label_names}"

    def describe_stages(self):
        return f"{super().describe_stages()}, sequence length {self.preprocessor.packer.length}"

    def adapt_source(self):
        """The train texts, or when there are more than `data.vocabulary_sample`, a seeded
        sample of that many (in file order)."""
        data = self.config.data
        part = self.data.splits["train"]
        keep = splitting.cap_split(len(part["text"]), data.vocabulary_sample, data.split_seed)
        if len(keep) == len(part["text"]) and getattr(self.data, "streamed", False):
            return arrow_data.text_batches(part["text"], part["label"], inputs.TOKENIZE_BATCH).map(
                lambda ex: ex["text"]
            )
        if len(keep) == len(part["text"]):
            dataset = self.data.to_tf("train")
        elif getattr(self.data, "streamed", False):
            return arrow_data.text_batches(
                part["text"].sample(data.vocabulary_sample, data.split_seed),
                part["label"][keep],
                inputs.TOKENIZE_BATCH,
            ).map(lambda ex: ex["text"])
        else:
            dataset = splitting.split_dataset(
                {"text": [part["text"][i] for i in keep], "label": part["label"][keep]},
                {"text": "string", "label": "int64"},
            )
        return dataset.map(lambda ex: ex["text"]).batch(inputs.TOKENIZE_BATCH)

    # -- batches ---------------------------------------------------------------------------------
    def _unbatched(self, split):
        if getattr(self.data, "streamed", False):
            return arrow_data.cached_ids(self._id_batches(split), self.ids_path(split))
        return inputs.trimmed_ids(self.data.to_tf(split), self.preprocessor)

    def _id_batches(self, split):
        """A function that makes the (ragged ids, labels) batches of a streamed split."""
        part = self.data.splits[split]
        return lambda: arrow_data.text_batches(
            part["text"], part["label"], inputs.TOKENIZE_BATCH
        ).map(
            lambda ex: (self.preprocessor.trimmed(ex["text"]), ex["label"]),
            num_parallel_calls=inputs.AUTOTUNE,
            deterministic=True,
        )

    def ids_path(self, split):
        """Where a streamed split's token ids are cached (`Task.token_ids_path`)."""
        return self.token_ids_path(split)

    def train_lengths(self):
        if self._lengths is None and getattr(self.data, "streamed", False):
            self._lengths = arrow_data.cached_lengths(
                self._id_batches("train"), self.ids_path("train")
            )
        if self._lengths is None:
            self._lengths = inputs.sequence_lengths(self._unbatched("train"))
        return self._lengths

    def datasets(self, split, training=False, counter=None):
        """Batched (ids, label) of one split: shuffled and bucketed for training."""
        train = self.config.train
        streamed = getattr(self.data, "streamed", False)
        unbatched = self._unbatched(split)
        if streamed and training:
            # Deep shuffle from disk: shards in a seeded order, then the buffer.
            path, seed = self.ids_path(split), self.config.seed
            unbatched = inputs.per_epoch(
                lambda epoch: arrow_data.shuffled_ids(
                    path, train.shuffle_buffer, seed, epoch
                ).apply(tf.data.experimental.assert_cardinality(len(self.train_lengths())))
            )
        return inputs.batched(
            unbatched,
            self.preprocessor.packer,
            self.train_batch_sizes() if training else self.config.evaluate.batch_size,
            self.boundaries(),
            counter=counter,
            shuffle_buffer=train.shuffle_buffer if training and not streamed else 0,
            seed=self.config.seed if training else None,
            cache=not streamed,
        )

    # -- model -----------------------------------------------------------------------------------
    def model_arguments(self):
        return {
            "num_classes": len(self.label_names),
            "vocabulary_size": self.preprocessor.vocabulary.vocabulary_size,
        }

    def build_model(self):
        model = super().build_model()
        if self.config.embeddings.path:
            matrix, self.embedding_coverage = build_embedding_matrix(
                self.config.embeddings,
                self.preprocessor.vocabulary.vocabulary,
                model.backbone.embedding_dim,
                self.config.seed,
            )
            model.backbone.embedding.embeddings.assign(matrix)
            model.backbone.embedding.trainable = self.config.embeddings.trainable
            coverage = self.embedding_coverage
            logger.info(
                "pretrained vectors: %s/%s vocabulary entries covered (%.1f%%)",
                coverage["found"],
                coverage["vocabulary_size"],
                100 * coverage["coverage"],
            )
        return model

    def compile_arguments(self):
        # The model outputs probabilities.
        return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}

    # -- evaluation ------------------------------------------------------------------------------
    def predict_split(self, split):
        """(labels, probabilities) of one split, in one pass over its length-bucketed batches."""
        predict = predict_batches(self.model)
        labels, probabilities = [], []
        for ids, label in self.datasets(split):
            probabilities.append(tf.cast(predict(ids), tf.float32).numpy())
            labels.append(label.numpy())
        return np.concatenate(labels), np.concatenate(probabilities)

    def evaluate(self, run_dir, splits=None):
        self.use_run_dir(run_dir)
        metrics = {}
        for split in splits or self.config.evaluate.splits:
            if not self.has_split(split):
                continue
            labels, probabilities = self.predict_split(split)
            metrics[split] = classification_metrics(labels, probabilities, self.label_names)
            plots.plot_confusion_matrix(
                metrics[split]["confusion_matrix"],
                self.label_names,
                Path(run_dir) / f"confusion_{split}.png",
                f"{self.config.name}: {split}",
            )
        return metrics

    # -- export ----------------------------------------------------------------------------------
    def serving_module(self):
        return ClassifierServing(
            self.preprocessor,
            self.model,
            self.label_names,
            self.limits_of(self.config.export.limits),
        )

    def signatures(self, module):
        return {self.config.export.signature: module.classify}

    def verify_export(self, export_dir, module):
        """Reloads the SavedModel and checks its probabilities match the in-memory model."""
        part = self.data.splits.get("validation", self.data.splits["train"])
        texts = list(part["text"][:16]) + EDGE_CASE_TEXTS
        loaded = tf.saved_model.load(str(export_dir))
        text = tf.constant(texts)
        got = loaded.signatures[self.config.export.signature](text=text)["probabilities"].numpy()
        expected = module.classify(text)["probabilities"].numpy()
        difference = float(np.max(np.abs(got - expected))) if got.size else 0.0
        if not np.isfinite(got).all() or difference > 1e-4:
            raise ExportError(
                f"The reloaded SavedModel disagrees with the trained model (max abs "
                f"difference {difference:.2e}). The export is not trustworthy."
            )
        return {"max_abs_difference": difference}

    def export_metadata(self):
        return {
            **super().export_metadata(),
            "labels": self.label_names,
            "signature": self.config.export.signature,
        }

    # -- saving and loading a run ----------------------------------------------------------------
    def state(self):
        return {**super().state(), "labels": self.label_names}

    def restore(self, state):
        super().restore(state)
        self.label_names = state["labels"]

    def save_state(self, run_dir):
        super().save_state(run_dir)
        artifacts.atomic_write_json(Path(run_dir) / "labels.json", self.label_names)
