"""Translation: sentence pairs -> source and target stages -> LSTM encoder-decoder -> beam search.

The source and target sides each run their own Preprocessor (normalizer -> tokenizer ->
vocabulary), or one shared one. Training pairs that are too long are dropped and evaluation
sources are truncated, and both counts are reported. Batches are bucketed by source length and
right-padded, so the encoder LSTMs keep the cuDNN kernel. Evaluation decodes with the very
module that the SavedModel serves (`Translator`), and scores it with sacreBLEU and chrF. The
start, end and padding ids come from the target vocabulary.

A streamed corpus (`data.streaming`) keeps its pairs in Arrow files and its ids on disk (see
`arrow_parallel`); evaluation holds an eval split's sources, references and translations (for
sacreBLEU and translations_SPLIT.tsv): cap large eval splits with data.max_examples."""

import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from nlp_lstm.data import inputs
from nlp_lstm.data.pairs import read_pair_file
from nlp_lstm.data.splitting import cap_split
from nlp_lstm.data.streaming import pairs as arrow_parallel
from nlp_lstm.errors import ConfigError, ExportError
from nlp_lstm.models.losses import MaskedSequenceLoss, MaskedTokenAccuracy
from nlp_lstm.stages.preprocessor import Preprocessor, build_stages, check_stage_chain
from nlp_lstm.tasks import plots
from nlp_lstm.tasks.base import Task, register_task
from nlp_lstm.tasks.predictor import predict_batches
from nlp_lstm.tasks.scope import BUCKET_KEYS, STREAMING_KEYS, TEXT_SPLIT_KEYS
from nlp_lstm.tasks.translation import streaming
from nlp_lstm.tasks.translation.metrics import corpus_scores, write_translations
from nlp_lstm.tasks.translation.predictor import TranslatorPredictor
from nlp_lstm.tasks.translation.serving import Translator

EXPORT_PROBES = ["", " ", "x " * 5000, "naïve café — 東京 🙂", "\u0301\u200b"]


@register_task("translation")
class TranslationTask(Task):
    """Paired text with a source and a target Preprocessor (the same object when shared).

    Args:
        config: PipelineConfig with task: translation.
        preprocessor: Preprocessor. The source side.
        target_preprocessor: Preprocessor. The target side.
    """

    injected_model_args = ("source_vocabulary_size", "target_vocabulary_size")
    history_metrics = ("loss", "token_accuracy")
    predictor = TranslatorPredictor
    cli_verb = "predict"
    limit_keys = ("max_batch_rows", "max_input_chars", "max_output_length", "max_beam_size")
    signature_names = ("translate", "translate_with_options", "translate_greedy")
    default_signature = "translate"
    mergeable_signatures = signature_names
    config_keys = (
        *TEXT_SPLIT_KEYS,
        "data.format",
        "data.delimiter",
        *STREAMING_KEYS,
        "data.source_column",
        "data.target_column",
        "data.source_language",
        "data.target_language",
        "data.column_names",
        "data.max_source_tokens",
        "data.max_target_tokens",
        "target_stages",
        "shared_vocabulary",
        "train.label_smoothing",
        *BUCKET_KEYS,
        "evaluate.beam_size",
        "evaluate.length_penalty",
        "evaluate.max_output_tokens",
        "export.limits.max_input_chars",
        "export.limits.max_output_length",
        "export.limits.max_beam_size",
    )

    def __init__(self, config, preprocessor, target_preprocessor=None):
        super().__init__(config, preprocessor)
        self.target_preprocessor = target_preprocessor or preprocessor
        self._ids = {}
        self.length_report = {}

    @classmethod
    def from_config(cls, config):
        stages = build_stages(config.stages, "stages", config.where("stages"))
        check_stage_chain(stages, "ids", config.where("stages"))
        source = Preprocessor(stages)
        target = source
        if not config.shared_vocabulary:
            key = "target_stages" if config.target_stages else "stages"
            target_stages = build_stages(
                config.target_stages or config.stages, key, config.where(key)
            )
            check_stage_chain(target_stages, "ids", config.where(key))
            target = Preprocessor(target_stages)
        target.special_id("start", f"Translation ({config.where('stages')})")
        target.special_id("end", f"Translation ({config.where('stages')})")
        task = cls(config, source, target)
        task.check_model_entry()
        task.check_export_defaults()
        return task

    def check_export_defaults(self):
        """A ConfigError when the export's default beam or output length is over its limits."""
        limits, config = self.config.export.limits, self.config
        for key, value, limit in (
            ("evaluate.beam_size", config.evaluate.beam_size, "max_beam_size"),
            (
                "evaluate.max_output_tokens"
                if config.evaluate.max_output_tokens
                else "data.max_target_tokens",
                self.max_output_tokens(),
                "max_output_length",
            ),
        ):
            if value > getattr(limits, limit):
                raise ConfigError(
                    f"{config.where(key)} is {value}, over export.limits.{limit}="
                    f"{getattr(limits, limit)}: the export could not use it as "
                    f"its default. Lower {key} or raise the limit."
                )

    def read_data(self):
        return arrow_parallel.read_parallel(self.config)

    def read_file(self, path):
        self.data, self._ids, self._lengths = read_pair_file(path, self.config), {}, None
        return self.data

    def describe_data(self):
        return f"{super().describe_data()} sentence pairs"

    def describe_stages(self):
        dropped = self.length_report.get("train_pairs_dropped", 0)
        return (
            f"stages: source vocabulary {self.preprocessor.vocabulary.vocabulary_size}, "
            f"target vocabulary {self.target_preprocessor.vocabulary.vocabulary_size}"
            + ("" if self.config.shared_vocabulary else " (separate)")
            + f"; {dropped} train pairs over the length limits dropped"
        )

    def adapt_pairs(self):
        """(source, target) string batches of the train pairs the stages adapt on: all, or when
        there are more than `data.vocabulary_sample`, a seeded sample of that many (file order)."""
        data, part = self.config.data, self.data.splits["train"]
        if getattr(self.data, "streamed", False):
            return arrow_parallel.sampled_pairs(part, data.vocabulary_sample, data.split_seed)
        keep = cap_split(len(part["source"]), data.vocabulary_sample, data.split_seed)
        return tuple(
            tf.data.Dataset.from_tensor_slices(
                tf.constant([part[side][i] for i in keep], tf.string)
            ).batch(inputs.TOKENIZE_BATCH)
            for side in ("source", "target")
        )

    def adapt(self):
        sources, targets = self.adapt_pairs()
        if self.target_preprocessor is self.preprocessor:
            self.preprocessor.adapt(sources.concatenate(targets))
        else:
            self.preprocessor.adapt(sources)
            self.target_preprocessor.adapt(targets)
        self.preprocessor.check_outputs("stages")
        self.target_preprocessor.check_outputs("target_stages")

    # -- ids and batches -------------------------------------------------------------------------
    @staticmethod
    def _encode(texts, preprocessor):
        out = []
        dataset = tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string))
        for batch in dataset.batch(1024):
            out.extend(np.asarray(row, dtype=np.int64) for row in preprocessor(batch).numpy())
        return out

    def token_ids(self, split):
        """(source ids, target ids) per pair of a split, as lists of int64 arrays."""
        if split not in self._ids:
            part = self.data.splits[split]
            self._ids[split] = (
                self._encode(part["source"], self.preprocessor),
                self._encode(part["target"], self.target_preprocessor),
            )
        return self._ids[split]

    def pairs(self, split, training=False):
        """Length-limited pairs: train drops long pairs, other splits truncate (both reported)."""
        data = self.config.data
        sources, targets = self.token_ids(split)
        if training:
            keep = [
                i
                for i, (s, t) in enumerate(zip(sources, targets))
                if 0 < len(s) <= data.max_source_tokens and len(t) <= data.max_target_tokens
            ]
            self.length_report["train_pairs_dropped"] = len(sources) - len(keep)
            return [sources[i] for i in keep], [targets[i] for i in keep]
        self.length_report[f"{split}_sources_truncated"] = sum(
            len(s) > data.max_source_tokens for s in sources
        )
        self.length_report[f"{split}_targets_truncated"] = sum(
            len(t) > data.max_target_tokens for t in targets
        )
        return (
            [s[: data.max_source_tokens] for s in sources],
            [t[: data.max_target_tokens] for t in targets],
        )

    def train_lengths(self):
        """Source lengths of the kept train pairs."""
        if self._lengths is None and getattr(self.data, "streamed", False):
            self._lengths = streaming.train_lengths(self)
        if self._lengths is None:
            sources, _ = self.pairs("train", training=True)
            self._lengths = np.fromiter(map(len, sources), np.int64, len(sources))
        return self._lengths

    def datasets(self, split, training=False, counter=None):
        """((source, decoder input), decoder target) batches, bucketed by source length."""
        target = self.target_preprocessor.special_ids
        start = tf.constant([target["start"]], tf.int64)
        end = tf.constant([target["end"]], tf.int64)
        with_ends = lambda s, t: (s, tf.concat([start, t], 0), tf.concat([t, end], 0))  # noqa
        if getattr(self.data, "streamed", False):
            dataset = streaming.streamed_pairs(self, split, training).map(with_ends)
        else:
            sources, targets = self.pairs(split, training)
            ragged = lambda rows: tf.RaggedTensor.from_row_lengths(  # noqa: E731
                np.concatenate(rows + [np.zeros(0, np.int64)]), [len(r) for r in rows]
            )
            dataset = tf.data.Dataset.from_tensor_slices((ragged(sources), ragged(targets)))
            dataset = dataset.map(with_ends).cache()
            if training:
                dataset = inputs.shuffled_per_epoch(
                    dataset,
                    min(self.config.train.shuffle_buffer, max(len(sources), 1)),
                    self.config.seed,
                )
        boundaries = self.boundaries()
        sizes = self.train_batch_sizes() if training else self.eval_batch_sizes()
        pad = tf.constant(target["pad"], tf.int64)
        shapes, values = ([None], [None], [None]), (pad, pad, pad)
        if boundaries:
            dataset = dataset.bucket_by_sequence_length(
                lambda s, d, t: tf.shape(s)[0],
                bucket_boundaries=boundaries,
                bucket_batch_sizes=sizes,
                padded_shapes=shapes,
                padding_values=values,
            )
        else:
            dataset = dataset.padded_batch(sizes[0], padded_shapes=shapes, padding_values=values)
        if counter is not None:
            dataset = dataset.map(lambda s, d, t: counter.count(s, d, pad) + (t,))
        return dataset.map(lambda s, d, t: ((s, d), t)).prefetch(inputs.AUTOTUNE)

    def ids_path(self, split):
        """Where a streamed split's token ids are cached, also keyed by the target stages."""
        return self.token_ids_path(split, [repr(self.config.target_stages)])

    # -- model -----------------------------------------------------------------------------------
    def model_arguments(self):
        return {
            "source_vocabulary_size": self.preprocessor.vocabulary.vocabulary_size,
            "target_vocabulary_size": self.target_preprocessor.vocabulary.vocabulary_size,
        }

    def example_inputs(self):
        return (np.ones([1, 2], np.int64), np.ones([1, 2], np.int64))

    def compile_arguments(self):
        pad = self.target_preprocessor.special_ids["pad"]
        return {
            "loss": MaskedSequenceLoss(self.config.train.label_smoothing, pad),
            "metrics": [MaskedTokenAccuracy(pad)],
        }

    # -- decoding and evaluation -----------------------------------------------------------------
    def serving_module(self):
        evaluate = self.config.evaluate
        return Translator(
            self.preprocessor,
            self.target_preprocessor,
            self.model,
            self.config.data.max_source_tokens,
            self.max_output_tokens(),
            evaluate.beam_size,
            evaluate.length_penalty,
            self.limits_of(self.config.export.limits),
        )

    def max_output_tokens(self):
        return self.config.evaluate.max_output_tokens or self.config.data.max_target_tokens

    def translate(self, texts, beam_size=None, batch_size=None, translator=None):
        """Translations of a list of strings, decoded in batches (beam_size 1: greedy)."""
        translator = translator or self.serving_module()
        beam_size = self.config.evaluate.beam_size if beam_size is None else beam_size
        batch_size = batch_size or self.config.evaluate.batch_size
        max_length = tf.constant(self.max_output_tokens(), tf.int32)
        out = []
        for start in range(0, len(texts), batch_size):
            text = tf.constant(texts[start : start + batch_size], tf.string)
            if beam_size <= 1:
                result = translator.translate_greedy(text, max_length)
            else:
                result = translator.translate_with_options(text, tf.constant(beam_size), max_length)
            out.extend(t.decode("utf-8") for t in result["translation"].numpy())
        return out

    def token_perplexity(self, split):
        pad = self.target_preprocessor.special_ids["pad"]
        loss = MaskedSequenceLoss(0.0, pad)
        predict = predict_batches(self.model)
        total, tokens = 0.0, 0
        for (source, decoder_in), target in self.datasets(split):
            count = int(tf.reduce_sum(tf.cast(tf.not_equal(target, pad), tf.int64)))
            total += float(tf.reduce_mean(loss.call(target, predict((source, decoder_in))))) * count
            tokens += count
        return total / max(tokens, 1), tokens

    def preprocessors(self):  # the source and the target chains (one object when shared)
        return [self.preprocessor, self.target_preprocessor]

    def evaluate(self, run_dir, splits=None):
        run_dir = Path(run_dir)
        self.use_run_dir(run_dir)
        translator = self.serving_module()
        beam = self.config.evaluate.beam_size
        metrics = {}
        for split in splits or self.config.evaluate.splits:
            if not self.has_split(split):
                continue
            part = arrow_parallel.split_texts(self.data.splits[split])
            nats, tokens = self.token_perplexity(split)
            hypotheses = self.translate(part["source"], beam, translator=translator)
            greedy = (
                hypotheses
                if beam <= 1
                else self.translate(part["source"], 1, translator=translator)
            )
            metrics[split] = {
                **corpus_scores(hypotheses, part["target"]),
                "bleu_greedy": corpus_scores(greedy, part["target"])["bleu"],
                "beam_size": beam,
                "copy_source_bleu": corpus_scores(part["source"], part["target"])["bleu"],
                "loss": round(nats, 4),
                "perplexity": round(math.exp(nats), 4),
                "num_target_tokens": tokens,
                "num_pairs": len(hypotheses),
                "sources_truncated": self.length_report.get(f"{split}_sources_truncated", 0),
            }
            write_translations(run_dir / f"translations_{split}.tsv", part, hypotheses, greedy)
            maps = self.attention_maps(part["source"][:4], hypotheses[:4], translator)
            if maps:
                plots.plot_attention(
                    maps, run_dir / f"attention_{split}.png", f"{self.config.name}: attention"
                )
        if "train_pairs_dropped" in self.length_report:
            metrics["length_limits"] = dict(self.length_report)
        return metrics

    def attention_maps(self, sources, hypotheses, translator=None):
        """(source tokens, target tokens, weights [target, source]) per example."""
        translator = translator or self.serving_module()
        source_vocabulary = self.preprocessor.vocabulary.vocabulary
        target_vocabulary = self.target_preprocessor.vocabulary.vocabulary
        out = []
        for source, hypothesis in zip(sources, hypotheses):
            source_ids = translator.source_ids(tf.constant([source]))
            target_ids = self._encode([hypothesis], self.target_preprocessor)[0]
            decoder_in = np.concatenate([[translator.start_id], target_ids])[None, :]
            weights = np.asarray(self.model.attention_weights(source_ids, decoder_in))[0]
            source_tokens = [source_vocabulary[i] for i in source_ids.numpy()[0]]
            target_tokens = [target_vocabulary[i] for i in target_ids] + ["[EOS]"]
            out.append((source_tokens, target_tokens, weights[: len(target_tokens)]))
        return out

    # -- export ----------------------------------------------------------------------------------
    def signatures(self, module):
        return {
            "translate": module.translate,
            "translate_with_options": module.translate_with_options,
            "translate_greedy": module.translate_greedy,
        }

    def verify_export(self, export_dir, module):
        part = self.data.splits.get("validation", self.data.splits["train"])
        probes = list(part["source"][:8]) + EXPORT_PROBES
        loaded = tf.saved_model.load(str(export_dir))
        text = tf.constant(probes)
        got = loaded.signatures["translate"](text=text)["token_ids"].numpy()
        expected = module.translate(text)["token_ids"].numpy()
        if got.shape != expected.shape or not np.array_equal(got, expected):
            raise ExportError(
                "The reloaded SavedModel translates differently from the trained "
                "model. The export is not trustworthy."
            )
        return {"verified_inputs": len(probes)}

    # -- saving and loading a run ----------------------------------------------------------------
    def state(self):
        shared = self.target_preprocessor is self.preprocessor
        return {
            **super().state(),
            "shared": shared,
            "target_preprocessor": None if shared else self.target_preprocessor.get_config(),
        }

    def restore(self, state):
        super().restore(state)
        self.target_preprocessor = (
            self.preprocessor
            if state["shared"]
            else Preprocessor.from_config(state["target_preprocessor"])
        )
