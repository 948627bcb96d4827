"""LanguageModelPipeline: the skeleton's steps for text generation (task: generation).

Running text is split into contiguous ranges, tokenized once with the stages, cut into windows
of `data.window_length` tokens (input = window, target = window shifted by one), and used to
train an LSTMCausalLM. Metrics are cross-entropy in nats per token, perplexity and bits per token
and per character, all from the same loss. Samples are written after every epoch.
"""

import collections
import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nlp_lstm import data as data_lib
from nlp_lstm import export, rundir, training
from nlp_lstm.errors import ConfigError
from nlp_lstm.generation import TextGenerator
from nlp_lstm.pipeline import Pipeline

SAMPLE_PROMPTS = ["", "The "]


def unigram_entropy_bits(tokens):
    """Entropy of the token frequency distribution, in bits per token."""
    counts = np.asarray(list(collections.Counter(tokens.tolist()).values()), dtype=np.float64)
    probs = counts / counts.sum()
    return float(-(probs * np.log2(probs)).sum())


class EpochSamples(keras.callbacks.Callback):
    """Writes generated samples to RUN_DIR/samples/epoch_NN.txt after every epoch."""

    def __init__(self, generator, directory, max_new_tokens=200, seed=0):
        super().__init__()
        self.generator = generator
        self.directory = Path(directory)
        self.max_new_tokens = max_new_tokens
        self.seed = seed

    def on_epoch_end(self, epoch, logs=None):
        out = self.generator.generate(tf.constant(SAMPLE_PROMPTS), tf.constant(self.max_new_tokens),
                                      tf.constant(0.8), tf.constant(0), tf.constant(1.0),
                                      tf.constant(self.seed, tf.int64))
        texts = [t.decode("utf-8", errors="replace") for t in out["text"].numpy()]
        body = "\n".join(f"--- prompt {p!r} (temperature 0.8)\n{p}{t}\n"
                         for p, t in zip(SAMPLE_PROMPTS, texts))
        rundir.atomic_write_text(self.directory / f"epoch_{epoch + 1:02d}.txt", body)


class LanguageModelPipeline(Pipeline):
    """Reads a corpus, adapts the stages on its train range and trains an LSTMCausalLM."""

    history_metrics = ("loss",)

    def __init__(self, config, stages):
        super().__init__(config, stages)
        self._ids = {}

    @property
    def separator(self):
        tokenizers = [s for s in self.stages if hasattr(s, "join_separator")]
        return tokenizers[-1].join_separator if tokenizers else ""

    def read_data(self):
        return data_lib.read_corpus(self.config)

    def describe_data(self):
        counts = ", ".join(f"{k}={v}" for k, v in self.data.counts().items())
        return f"read: {counts} characters (contiguous ranges)"

    def describe_stages(self):
        return (f"stages: vocabulary size {self.vocabulary.vocabulary_size}, training windows of "
                f"{self.config.data.window_length} tokens")

    def adapt_source(self):
        return tf.data.Dataset.from_tensors(self.data.splits["train"])

    def check_chain_outputs(self):
        x = tf.constant(["synthetic example one", ""])
        for stage in self.stages:
            x = stage(x)
        if not isinstance(x, tf.RaggedTensor) or not x.dtype.is_integer:
            raise ConfigError("The generation stages must turn a batch of texts into ragged int "
                              "ids: a tokenizer and then a vocabulary.")

    def model_arguments(self):
        return {"vocabulary_size": self.vocabulary.vocabulary_size}

    def token_ids(self, split):
        if split not in self._ids:
            x = tf.constant(self.data.splits[split])
            for stage in self.stages:
                x = stage(x)
            self._ids[split] = x.numpy().astype(np.int64)
        return self._ids[split]

    def datasets(self, split, training=False, counter=None):
        """(window, next-token window) pairs; shuffled for training."""
        length = self.config.data.window_length
        ids = self.token_ids(split)
        count = (len(ids) - 1) // length
        if count < 1:
            raise ConfigError(f"The {split} split has {len(ids)} tokens, fewer than one window of "
                              f"data.window_length={length} + 1. Lower data.window_length or "
                              f"give more text.")
        inputs = ids[:count * length].reshape(count, length)
        targets = ids[1:count * length + 1].reshape(count, length)
        dataset = tf.data.Dataset.from_tensor_slices((inputs, targets))
        if training:
            dataset = dataset.shuffle(count, seed=self.config.seed, reshuffle_each_iteration=True)
        batch = self.config.train.batch_size if training else self.config.evaluate.batch_size
        return dataset.batch(batch).prefetch(tf.data.AUTOTUNE)

    def generator(self):
        return TextGenerator(self.stages, self.model, self.vocabulary.vocabulary, self.separator)

    def compile_arguments(self):
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "metrics": []}

    def steps_per_epoch(self):
        windows = (len(self.token_ids("train")) - 1) // self.config.data.window_length
        return max(math.ceil(windows / self.config.train.batch_size), 1)

    def train(self, run_dir):
        samples = EpochSamples(self.generator(), Path(run_dir) / "samples", seed=self.config.seed)
        return training.fit(self.model, self.datasets("train", True),
                            self.datasets("validation") if "validation" in self.data.splits
                            else None, self.config.train, str(run_dir), self.steps_per_epoch(),
                            extra_callbacks=[samples], **self.compile_arguments())

    def evaluate(self, run_dir, splits=None):
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
        unigram_bits = round(unigram_entropy_bits(self.token_ids("train")), 4)
        predict = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
        metrics = {}
        for split in splits or self.config.evaluate.splits:
            if split not in self.data.splits:
                continue
            total, tokens = 0.0, 0
            for inputs, targets in self.datasets(split):
                total += float(loss(targets, predict(inputs)))
                tokens += int(tf.size(targets))
            nats = total / tokens
            chars_per_token = len(self.data.splits[split]) / max(len(self.token_ids(split)), 1)
            metrics[split] = {
                "loss": round(nats, 4),
                "perplexity": round(math.exp(nats), 4),
                "bits_per_token": round(nats / math.log(2), 4),
                "bits_per_char": round(nats / math.log(2) / chars_per_token, 4),
                "num_tokens": tokens,
                "unigram_entropy_bits": unigram_bits,
            }
        return metrics

    def export(self, run_dir):
        def verify(tmp, module):
            loaded = tf.saved_model.load(str(tmp))
            args = dict(prompt=tf.constant(["The ", "", "\u00e9\u6771\U0001F642"]),
                        max_new_tokens=tf.constant(24), temperature=tf.constant(0.8),
                        top_k=tf.constant(0), top_p=tf.constant(0.95),
                        seed=tf.constant(7, tf.int64))
            got = loaded.signatures["generate"](**args)["token_ids"].numpy()
            expected = module.generate(**args)["token_ids"].numpy()
            if not np.array_equal(got, expected):
                raise export.ExportError("The reloaded SavedModel generates different tokens "
                                         "than the trained model for the same seed.")
            return {"verified_tokens": int(got.size)}
        return export.save_portable(self.model, self.generator,
                                    lambda module: {"generate": module.generate},
                                    Path(run_dir) / "export",
                                    verify if self.config.export.verify else None)

    def load_state(self, run_dir, with_model=True):
        super().load_state(run_dir, with_model)
        self.label_names = None
