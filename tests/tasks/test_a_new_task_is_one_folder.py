"""A new task needs no edit of the package: this file registers a toy task (and its model) and
runs it through `run` -> export -> `nlp_lstm.load(...).predict` -> the HTTP server, in a real
process on a loopback port. Everything the rest of the package knows of a task, it asks the task
class (limits, signatures, the predictor, the CLI verb, the plotted metrics, the config keys).

The toy task counts the words of a text: the shipped sentiment sample's texts in, a float out.
"""

import math
import sys
import textwrap
from pathlib import Path

import httpx
import keras
import numpy as np
import pytest
import tensorflow as tf

import nlp_lstm
from nlp_lstm.config import load_config
from nlp_lstm.data.texts import read_dataset
from nlp_lstm.models.registry import MODELS, register_model
from nlp_lstm.pipeline import build_pipeline
from nlp_lstm.tasks import TASKS, Task, register_task
from nlp_lstm.tasks.predictor import Predictor, as_text_list
from nlp_lstm.tasks.scope import TEXT_SPLIT_KEYS
from tests.serving_helpers import Server

TOY = "word_count"
PIPELINE = f"""\
name: toy
task: {TOY}
data: {{source: sample, sample: sentiment, max_examples: 200}}
stages:
  - {{type: text_normalizer, lowercase: true}}
  - {{type: unicode_script_tokenizer}}
  - {{type: vocabulary, max_size: 500}}
  - {{type: sequence_packer, sequence_length: 24}}
model: {{type: toy_word_counter, hidden_dim: 8}}
train: {{epochs: 1, batch_size: 32, verbose: 0}}
"""


class ToyWordCounter(keras.Model):
    def __init__(self, vocabulary_size, hidden_dim=8, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.hidden_dim = vocabulary_size, hidden_dim
        self.embedding = keras.layers.Embedding(vocabulary_size, hidden_dim, mask_zero=True)
        self.lstm = keras.layers.LSTM(hidden_dim)
        self.head = keras.layers.Dense(1)

    def call(self, ids, training=False):
        return self.head(self.lstm(self.embedding(ids)))[:, 0]

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "hidden_dim": self.hidden_dim,
        }


class WordCountServing(tf.Module):
    def __init__(self, preprocessor, model):
        super().__init__(name="toy_word_counter")
        self.preprocessor, self.model = preprocessor, model

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def count(self, text):
        return {"words": self.model(self.preprocessor(text), training=False)}


class WordCountPredictor(Predictor):
    def predict(self, texts):
        texts, single = as_text_list(texts)
        out = [
            float(v)
            for batch in self.batches(texts)
            for v in self.signature("count")(text=tf.constant(batch))["words"].numpy()
        ]
        return out[0] if single else out


class WordCountTask(Task):
    stage_ending = "packed"
    history_metrics = ("loss",)
    counts_padding = False
    limit_keys = ("max_batch_rows",)
    signature_names = ("count",)
    default_signature = "count"
    mergeable_signatures = ("count",)
    predictor = WordCountPredictor
    cli_verb = "predict"
    config_keys = (*TEXT_SPLIT_KEYS, "data.text_column", "data.label_column")

    def read_data(self):
        return read_dataset(self.config)

    def _pairs(self, split):
        texts = [str(t) for t in self.data.splits[split]["text"]]
        return texts, np.array([len(t.split()) for t in texts], np.float32)

    def adapt_source(self):
        return tf.data.Dataset.from_tensor_slices(self._pairs("train")[0]).batch(64)

    def steps_per_epoch(self):
        return math.ceil(len(self._pairs("train")[0]) / self.config.train.batch_size)

    def datasets(self, split, training=False, counter=None):
        texts, counts = self._pairs(split)
        batch = self.config.train.batch_size if training else self.config.evaluate.batch_size
        dataset = tf.data.Dataset.from_tensor_slices((texts, counts)).batch(batch)
        return dataset.map(lambda t, y: (self.preprocessor(t), y))

    def compile_arguments(self):
        return {"loss": "mse", "metrics": []}

    def evaluate(self, run_dir, splits=None):
        metrics = {}
        for split in splits or self.config.evaluate.splits:
            if self.has_split(split):
                texts, counts = self._pairs(split)
                predicted = self.model.predict(self.datasets(split), verbose=0)
                metrics[split] = {"mae": round(float(np.mean(np.abs(predicted - counts))), 4)}
        return metrics

    def serving_module(self):
        return WordCountServing(self.preprocessor, self.model)

    def signatures(self, module):
        return {"count": module.count}

    def verify_export(self, export_dir, module):
        text = tf.constant(self._pairs("train")[0][:8])
        got = tf.saved_model.load(str(export_dir)).signatures["count"](text=text)["words"]
        np.testing.assert_allclose(got.numpy(), module.count(text)["words"].numpy(), atol=1e-5)
        return {"max_abs_difference": 0.0}


def register_toy():
    """Registers the toy task and its model, as a task folder's own module would on import."""
    if TOY not in TASKS.names():
        register_model("toy_word_counter")(ToyWordCounter)
        register_task(TOY)(WordCountTask)


@pytest.fixture()
def toy_task():
    """The toy task, registered for this test only: the other tests see the shipped tasks."""
    register_toy()
    yield WordCountTask
    TASKS._classes.pop(TOY)
    MODELS._classes.pop("toy_word_counter")


class _ToyServer(Server):
    """The server in its own process, which registers the toy task by importing this file."""

    def __init__(self, export, log_path):
        super().__init__({}, log_path)
        script = textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
            from tests.tasks.test_a_new_task_is_one_folder import register_toy
            register_toy()
            from nlp_lstm.serving.server import run_server
            run_server({{"toy": {str(export)!r}}}, port={self.port})
            """
        )
        self.command = [sys.executable, "-c", script]


@pytest.mark.slow
def test_a_task_registered_outside_the_package_runs_exports_loads_and_serves(toy_task, tmp_path):
    assert TASKS.get(TOY) is toy_task
    path = tmp_path / "toy.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    result = build_pipeline(load_config(path)).run(run_dir=tmp_path / "run")
    assert set(result.metrics) == {"validation", "test"}
    export = result.run_dir / "export"
    predictor = nlp_lstm.load(result.run_dir)
    assert isinstance(predictor, WordCountPredictor) and predictor.task == TOY
    texts = ["one two three", "a much longer text with many more words in it"]
    local = predictor.predict(texts)
    assert len(local) == 2 and all(np.isfinite(local))
    with _ToyServer(export, tmp_path / "server.log") as server:
        metadata = httpx.get(f"{server.url}/v1/models/toy/metadata", timeout=30).json()
        assert "count" in str(metadata)
        answer = httpx.post(
            f"{server.url}/v1/models/toy:predict", json={"instances": texts}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        served = answer.json()["predictions"]
        np.testing.assert_allclose(
            [row["words"] if isinstance(row, dict) else row for row in served], local, atol=1e-5
        )
        bad = httpx.post(f"{server.url}/v1/models/toy:predict", json={"instances": [3]}, timeout=30)
        assert bad.status_code == 400 and "error" in bad.json()
