"""Text generation: running text -> stages -> LSTMCausalLM -> sampling in the graph.

Running text is split into contiguous ranges, tokenized once with the Preprocessor, cut into
windows of `data.window_length` tokens (input = window, target = window shifted by one), and used
to train an LSTMCausalLM. Metrics are cross-entropy in nats per token, perplexity and bits per
token and per character, all from the same loss. The reported loss reads each split as continuous
text and carries the LSTM states from one window to the next, as RNN language models are usually
evaluated; `loss_independent_windows` (every window from zero states, as Keras' `val_loss` during
training) is reported next to it. Samples are written after every epoch.

With `data.streaming` (always, or auto above `data.streaming_threshold_bytes`) the splits stay
character ranges of the files and the ids go to a flat int32 file under RUN_DIR/token_ids
(`nlp_lstm.tasks.generation.streaming`); the batches and metrics are those of the in-memory path,
except that above `streaming.EXACT_SHUFFLE_WINDOWS` windows the shuffled order is another seeded
one.

`TextGenerator` is the tf.Module used both in process and as the exported SavedModel. Its
`generate` signature takes a batch of prompts and scalar sampling settings (max_new_tokens,
temperature, top_k, top_p, seed); the same seed gives the same text."""

import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nlp_lstm import artifacts
from nlp_lstm.data import leakage, running_text
from nlp_lstm.data.inputs import epoch_seed, per_epoch, shuffle_seed, shuffled_per_epoch
from nlp_lstm.errors import ConfigError, ExportError
from nlp_lstm.tasks.base import TOKEN_IDS_DIR, Task, register_task
from nlp_lstm.tasks.generation import streaming
from nlp_lstm.tasks.generation.metrics import unigram_entropy_bits
from nlp_lstm.tasks.generation.predictor import GeneratorPredictor
from nlp_lstm.tasks.generation.serving import TextGenerator
from nlp_lstm.tasks.predictor import predict_batches
from nlp_lstm.tasks.scope import STREAMING_KEYS, TEXT_SPLIT_KEYS

SAMPLE_PROMPTS = ["", "The "]


class EpochSamples(keras.callbacks.Callback):
    """Writes generated samples to RUN_DIR/samples/epoch_NN.txt after every epoch."""

    def __init__(self, generator, directory, max_new_tokens=200, seed=0):
        max_new_tokens = min(max_new_tokens, generator.limits["max_new_tokens"])
        super().__init__()
        self.generator = generator
        self.directory = Path(directory)
        self.max_new_tokens = max_new_tokens
        self.seed = seed

    def on_epoch_end(self, epoch, logs=None):
        out = self.generator.generate(
            tf.constant(SAMPLE_PROMPTS),
            tf.constant(self.max_new_tokens),
            tf.constant(0.8),
            tf.constant(0),
            tf.constant(1.0),
            tf.constant(self.seed, tf.int64),
        )
        texts = [t.decode("utf-8", errors="replace") for t in out["text"].numpy()]
        body = "\n".join(
            f"--- prompt {p!r} (temperature 0.8)\n{p}{t}\n" for p, t in zip(SAMPLE_PROMPTS, texts)
        )
        artifacts.atomic_write_text(self.directory / f"epoch_{epoch + 1:02d}.txt", body)


@register_task("generation")
class GenerationTask(Task):
    """Reads a corpus, adapts the stages on its train range and trains an LSTMCausalLM.

    Args:
        config: PipelineConfig with task: generation.
        preprocessor: Preprocessor. Text -> ragged ids.
    """

    counts_padding = False
    predictor = GeneratorPredictor
    cli_verb = "generate"
    limit_keys = ("max_batch_rows", "max_input_chars", "max_new_tokens")
    # Prompts are short: a much lower unset max_input_chars than a classifier's texts.
    limit_defaults = {"max_input_chars": 4096}
    signature_names = ("generate",)
    default_signature = "generate"
    # Never merged with other requests: a row's sampled text depends on its position in the
    # batch (one seed per call), so merging would break seeded reproducibility.
    mergeable_signatures = ()
    config_keys = (
        *TEXT_SPLIT_KEYS,
        *STREAMING_KEYS,
        "data.window_length",
        "data.random_window_offsets",
        "data.stateful_batches",
        "export.limits.max_input_chars",
        "export.limits.max_new_tokens",
    )

    def __init__(self, config, preprocessor):
        super().__init__(config, preprocessor)
        self._ids = {}

    def read_data(self):
        return streaming.read_corpus(self.config)

    def read_file(self, path):
        """Reads a new file of running text into memory (`data.read_text_file`), streamed or not
        when the run was trained."""
        self.data, self._ids = running_text.read_text_file(path, self.config), {}
        return self.data

    @property
    def streamed(self):
        return getattr(self.data, "streamed", False)

    def describe_data(self):
        return f"{super().describe_data()} characters (contiguous ranges)"

    def describe_stages(self):
        return (
            f"{super().describe_stages()}, training windows of "
            f"{self.config.data.window_length} tokens"
        )

    def leakage_units(self):
        """Lines of at least `leakage.MIN_LINE` characters of each split; of a streamed corpus,
        those of a seeded sample of about `leakage.SAMPLE` lines per split."""
        if not self.streamed:
            return super().leakage_units()
        seed = self.config.data.split_seed
        units = {
            split: [
                line
                for text in streaming.sample_texts(part, leakage.SAMPLE, seed)()
                for line in text.split("\n")
                if len(line.strip()) >= leakage.MIN_LINE
            ]
            for split, part in self.data.splits.items()
        }
        return units, f"lines of {leakage.MIN_LINE}+ characters"

    def adapt_source(self):
        """The train text, read in blocks when streamed; a train range of more than
        `data.vocabulary_sample` lines gives a seeded sample of about that many whole lines
        instead (`streaming.sample_texts`)."""
        data = self.config.data
        return streaming.text_dataset(
            streaming.sample_texts(
                self.data.splits["train"], data.vocabulary_sample, data.split_seed
            )
        )

    def token_ids(self, split):
        """The split's token ids: an int64 array, or for a streamed corpus the `TokenIds` of the
        id file written block by block under the run directory."""
        if split not in self._ids and self.streamed:
            self._ids[split] = streaming.write_ids(
                self.ids_path(split), self.data.splits[split].blocks(), self.preprocessor
            )
        if split not in self._ids:
            ids = self.preprocessor(tf.constant(self.data.splits[split]))
            self._ids[split] = ids.numpy().astype(np.int64)
        return self._ids[split]

    def ids_path(self, split):
        """Where a streamed split's flat int32 id file goes (`Task.token_ids_path`)."""
        return self.token_ids_path(split, ["int32"], ".int32")

    def use_run_dir(self, run_dir):
        """Writes and reads the id files of a streamed corpus under `run_dir` (those of another
        folder are forgotten)."""
        if self.streamed and Path(self.cache_dir or "") != Path(run_dir) / TOKEN_IDS_DIR:
            self._ids = {}
        super().use_run_dir(run_dir)

    def datasets(self, split, training=False, counter=None):
        """(window, next-token window) pairs; shuffled for training.

        Window k covers tokens [k * length, (k + 1) * length]. With
        `data.random_window_offsets`, training windows start at k * length plus a seeded random
        offset in [0, length), drawn anew each epoch, so every epoch cuts the text differently.
        A streamed corpus gives the same batches, read from its id file.
        """
        length = self.config.data.window_length
        ids = self.token_ids(split)
        count = (len(ids) - 1) // length
        if count < 1:
            raise ConfigError(
                f"The {split} split has {len(ids)} tokens, fewer than one window of "
                f"data.window_length={length} + 1. Lower data.window_length or "
                f"give more text."
            )
        batch = self.config.train.batch_size if training else self.config.evaluate.batch_size
        if training and self.config.data.stateful_batches:
            return self._stream_batches(ids)
        random_offsets = self.config.data.random_window_offsets and len(ids) >= 2 * length
        if self.streamed:
            dataset = (
                streaming.shuffled_windows(ids, length, batch, self.config.seed, random_offsets)
                if training
                else streaming.ordered_windows(ids, length, batch)
            )
            return dataset.prefetch(tf.data.AUTOTUNE)
        if training and random_offsets:
            # The last slot must leave room for its window plus the shifted target.
            count = len(ids) // length - 1
            tokens = tf.constant(ids)

            def window(index, offset):
                start = index * length + offset % length
                return (
                    tf.reshape(tokens[start : start + length], [length]),
                    tf.reshape(tokens[start + 1 : start + length + 1], [length]),
                )

            seed = self.config.seed

            def slots(epoch):  # the shuffled window slots and their offsets, fixed by (seed, epoch)
                offsets = tf.random.stateless_uniform(
                    [count], epoch_seed(seed, epoch), maxval=length, dtype=tf.int64
                )
                return tf.data.Dataset.zip(
                    tf.data.Dataset.range(count).shuffle(
                        count, seed=shuffle_seed(seed, epoch), reshuffle_each_iteration=False
                    ),
                    tf.data.Dataset.from_tensor_slices(offsets),
                )

            dataset = per_epoch(slots)
            dataset = dataset.map(window, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            return dataset.batch(batch).prefetch(tf.data.AUTOTUNE)
        inputs = ids[: count * length].reshape(count, length)
        targets = ids[1 : count * length + 1].reshape(count, length)
        dataset = tf.data.Dataset.from_tensor_slices((inputs, targets))
        if training:
            dataset = shuffled_per_epoch(dataset, count, self.config.seed)
        return dataset.batch(batch).prefetch(tf.data.AUTOTUNE)

    def _stream_layout(self, ids):
        """(tokens per stream, windows per stream) of the stateful training layout."""
        length, batch = self.config.data.window_length, self.config.train.batch_size
        # Room for the largest offset (length - 1) and the shifted target of the last window.
        per_stream = (len(ids) - length) // batch
        windows = per_stream // length
        if windows < 1:
            raise ConfigError(
                f"data.stateful_batches cuts the train split ({len(ids)} tokens) into "
                f"train.batch_size={batch} streams of at least data.window_length={length} tokens "
                f"plus one, and it is too short for that. Lower train.batch_size or "
                f"data.window_length, or give more text."
            )
        return per_stream, windows

    def _stream_batches(self, ids):
        """Batch k = window k of each of `train.batch_size` contiguous streams (row i of every
        batch continues row i of the previous one), for LSTMCausalLM.carry_states."""
        length, batch = self.config.data.window_length, self.config.train.batch_size
        per_stream, windows = self._stream_layout(ids)
        if self.streamed:
            return streaming.stream_windows(
                ids,
                length,
                batch,
                per_stream,
                windows,
                self.config.seed,
                self.config.data.random_window_offsets,
            ).prefetch(tf.data.AUTOTUNE)
        usable = windows * length
        tokens = tf.constant(ids)

        def epoch(offset):
            offset = offset % length if self.config.data.random_window_offsets else offset * 0
            starts = offset + tf.range(batch, dtype=tf.int64) * per_stream
            index = starts[:, None] + tf.range(usable, dtype=tf.int64)[None, :]

            def by_window(values):
                return tf.transpose(tf.reshape(values, [batch, windows, length]), [1, 0, 2])

            return tf.data.Dataset.from_tensor_slices(
                (by_window(tf.gather(tokens, index)), by_window(tf.gather(tokens, index + 1)))
            )

        seed = self.config.seed
        return per_epoch(
            lambda e: epoch(
                tf.random.stateless_uniform([], epoch_seed(seed, e), maxval=length, dtype=tf.int64)
            )
        ).prefetch(tf.data.AUTOTUNE)

    def serving_module(self):
        return TextGenerator(
            self.preprocessor, self.model, self.limits_of(self.config.export.limits)
        )

    def compile_arguments(self):
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True), "metrics": []}

    def steps_per_epoch(self):
        if self.config.data.stateful_batches:
            return self._stream_layout(self.token_ids("train"))[1]
        windows = (len(self.token_ids("train")) - 1) // self.config.data.window_length
        return max(math.ceil(windows / self.config.train.batch_size), 1)

    def training_callbacks(self, model, run_dir):
        """Samples after every epoch; with data.stateful_batches, states carried across batches
        and zeroed at each epoch start."""
        generator = TextGenerator(
            self.preprocessor, model, self.limits_of(self.config.export.limits)
        )
        out = [EpochSamples(generator, Path(run_dir) / "samples", seed=self.config.seed)]
        if not self.config.data.stateful_batches:
            model.carry_states(None)
            return out
        model.carry_states(self.config.train.batch_size)
        return out + [
            keras.callbacks.LambdaCallback(
                on_epoch_begin=lambda epoch, logs=None: model.reset_carried_states()
            )
        ]

    def after_training(self, model):
        model.carry_states(None)

    def stream_loss(self, split):
        """Mean next-token loss over a split read as continuous text, carrying the LSTM states
        from one window to the next (the usual RNN language-model evaluation).

        The split is cut into `evaluate.batch_size` contiguous streams (fewer for short splits);
        only the first window of each stream starts from zero states. The windows are sliced
        from the ids one at a time, so a streamed split is read from its id file.
        """
        length = self.config.data.window_length
        ids = self.token_ids(split)
        streams = max(min(self.config.evaluate.batch_size, (len(ids) - 1) // length), 1)
        per_stream = (len(ids) - 1) // streams
        windows = per_stream // length
        if windows < 1:
            return None, 0
        starts = np.arange(streams, dtype=np.int64) * per_stream
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")

        @tf.function(reduce_retracing=True)
        def window(x, y, states):
            logits, states = self.model.continue_sequence(x, states)
            return loss(y, logits), states

        states = [
            tf.zeros([streams, layer.units]) for layer in self.model.lstm_layers for _ in range(2)
        ]
        total = 0.0
        for k in range(windows):
            part, states = window(*streaming.windows_at(ids, starts + k * length, length), states)
            total += float(part)
        return total / (streams * windows * length), streams * windows * length

    def evaluate(self, run_dir, splits=None):
        self.use_run_dir(run_dir)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
        # The unigram baseline of the train text; a new file being scored brings no train split.
        unigram_bits = (
            round(unigram_entropy_bits(self.token_ids("train")), 4)
            if self.has_split("train")
            else None
        )
        predict = predict_batches(self.model)
        metrics = {}
        for split in splits or self.config.evaluate.splits:
            if split not in self.data.splits:
                continue
            total, tokens = 0.0, 0
            for inputs, targets in self.datasets(split):
                total += float(loss(targets, predict(inputs)))
                tokens += int(tf.size(targets))
            window_nats = total / tokens
            stream_nats, stream_tokens = self.stream_loss(split)
            nats = window_nats if stream_nats is None else stream_nats
            chars_per_token = len(self.data.splits[split]) / max(len(self.token_ids(split)), 1)
            metrics[split] = {
                "loss": round(nats, 4),
                "perplexity": round(math.exp(nats), 4),
                "bits_per_token": round(nats / math.log(2), 4),
                "bits_per_char": round(nats / math.log(2) / chars_per_token, 4),
                "num_tokens": stream_tokens or tokens,
                "loss_independent_windows": round(window_nats, 4),
                "unigram_entropy_bits": unigram_bits,
            }
        return metrics

    def signatures(self, module):
        return {"generate": module.generate}

    def verify_export(self, export_dir, module):
        loaded = tf.saved_model.load(str(export_dir))
        args = dict(
            prompt=tf.constant(["The ", "", "\u00e9\u6771\U0001f642"]),
            max_new_tokens=tf.constant(24),
            temperature=tf.constant(0.8),
            top_k=tf.constant(0),
            top_p=tf.constant(0.95),
            seed=tf.constant(7, tf.int64),
        )
        got = loaded.signatures["generate"](**args)["token_ids"].numpy()
        expected = module.generate(**args)["token_ids"].numpy()
        if not np.array_equal(got, expected):
            raise ExportError(
                "The reloaded SavedModel generates different tokens than the "
                "trained model for the same seed."
            )
        return {"verified_tokens": int(got.size)}
