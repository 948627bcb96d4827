"""Translation: sentence pairs -> source and target stages -> LSTM encoder-decoder -> beam search.

The source and target sides each run their own chain of stages (normalizer -> tokenizer ->
vocabulary), or one shared chain. Training pairs that are too long are dropped and evaluation
sources are truncated, and both counts are reported. Batches are bucketed by source length and
right-padded, so the encoder LSTMs keep the cuDNN kernel. Evaluation decodes with the very
function that the SavedModel serves (`Translator`), and scores it with sacreBLEU and chrF.
"""

import csv
import io
import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nlp_lstm import data as data_lib
from nlp_lstm import evaluation, export, inputs, rundir, training
from nlp_lstm.decoding import beam_search, greedy_decode
from nlp_lstm.errors import ConfigError
from nlp_lstm.models import MODELS
from nlp_lstm.pipeline import Pipeline, adapt_chain, check_injected_args
from nlp_lstm.stages import STAGES, Vocabulary

PAD_ID, BOS_ID, EOS_ID = 0, 2, 3
NUM_SPECIAL = 4
# Spacing rules that turn joined tokens back into text ("a man , he 's" -> "a man, he's").
DETOKENIZE_RULES = (
    (r" ##", ""),
    (r" ([.,!?;:%)\]}])", r"\1"),
    (r"([(\[{¿¡]) ", r"\1"),
    (r" ' (s|t|re|ve|ll|d|m) ", r"'\1 "),
    (r" ' (s|t|re|ve|ll|d|m)$", r"'\1"),
    (r"(\w) - (\w)", r"\1-\2"),
)


@keras.saving.register_keras_serializable(package="nlp_lstm")
class MaskedSequenceLoss(keras.losses.Loss):
    """Token cross-entropy that ignores padding (id 0), with optional label smoothing.

    Args:
        label_smoothing: float. Share of the target probability spread over the vocabulary.
    """

    def __init__(self, label_smoothing=0.0, name="masked_sequence_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        y_true = tf.cast(y_true, tf.int32)
        log_probs = tf.nn.log_softmax(tf.cast(y_pred, tf.float32), axis=-1)
        nll = -tf.gather(log_probs, y_true, batch_dims=2)
        if self.label_smoothing:
            nll = (1.0 - self.label_smoothing) * nll - self.label_smoothing * tf.reduce_mean(
                log_probs, axis=-1)
        mask = tf.cast(tf.not_equal(y_true, PAD_ID), tf.float32)
        # One value per sequence, weighted so that the batch mean is the mean per real token.
        per_sequence = tf.reduce_sum(nll * mask, axis=-1)
        tokens = tf.maximum(tf.reduce_sum(mask), 1.0)
        return per_sequence * tf.cast(tf.shape(y_true)[0], tf.float32) / tokens

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="nlp_lstm")
class MaskedTokenAccuracy(keras.metrics.Mean):
    """Share of non-padding target tokens whose argmax prediction is right."""

    def __init__(self, name="token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.int64)
        right = tf.cast(tf.equal(tf.argmax(y_pred, axis=-1), y_true), tf.float32)
        return super().update_state(right, sample_weight=tf.cast(
            tf.not_equal(y_true, PAD_ID), tf.float32))


def detokenize(text):
    """Joins of target tokens back into running text (in the graph): subwords, punctuation."""
    for pattern, rewrite in DETOKENIZE_RULES:
        text = tf.strings.regex_replace(text, pattern, rewrite)
    return tf.strings.strip(text)


class Translator(tf.Module):
    """Source stages + LSTMSeq2Seq + target id -> text, with greedy and beam decoding in the graph.

    Args:
        stages: list. Source stages, ending with a vocabulary.
        model: LSTMSeq2Seq.
        target_vocabulary: list of str. Target tokens by id.
        separator: str. Joins target tokens ("" for characters, " " for words and subwords).
        max_source_tokens: int. Longer sources are truncated.
        max_length: int. Default largest number of output tokens.
        beam_size: int. Default beam size (1 decodes greedily).
        length_penalty: float. GNMT length normalisation exponent for beam search.
    """

    def __init__(self, stages, model, target_vocabulary, separator, max_source_tokens,
                 max_length, beam_size=4, length_penalty=0.6):
        super().__init__(name="nlp_lstm_translator")
        self.stages = list(stages)
        self.model = model
        self.tokens = tf.constant(target_vocabulary, dtype=tf.string)
        self.separator = separator
        self.max_source_tokens = max_source_tokens
        # Variables, so that a loaded export still tells its defaults (`m.default_beam_size`).
        self.default_max_length = tf.Variable(max_length, dtype=tf.int32, trainable=False)
        self.default_beam_size = tf.Variable(beam_size, dtype=tf.int32, trainable=False)
        self.length_penalty = length_penalty

    def source_ids(self, text):
        x = text
        for stage in self.stages:
            x = stage(x)
        x = x[:, :self.max_source_tokens]
        return x.to_tensor(default_value=tf.constant(PAD_ID, x.dtype))

    def to_text(self, ids):
        """[batch, length] target ids -> strings (specials print as nothing)."""
        pieces = tf.where(ids < NUM_SPECIAL, tf.constant(""), tf.gather(self.tokens, ids))
        text = tf.strings.reduce_join(pieces, axis=-1, separator=self.separator)
        if self.separator:
            text = tf.strings.regex_replace(text, " +", " ")
        return detokenize(text)

    def decode(self, text, beam_size, max_length):
        """{"translation", "score", "token_ids"}: the best hypothesis per input."""
        source = self.source_ids(text)
        max_length = tf.maximum(tf.cast(max_length, tf.int32), 1)
        beam_size = tf.maximum(tf.cast(beam_size, tf.int32), 1)
        result = beam_search(self.model, source, BOS_ID, EOS_ID, max_length, beam_size,
                             self.length_penalty)
        ids, scores = result["ids"][:, 0], result["scores"][:, 0]
        return {"translation": self.to_text(ids), "score": scores, "token_ids": ids}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def translate(self, text):
        return self.decode(text, self.default_beam_size, self.default_max_length)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                  tf.TensorSpec([], tf.int32, name="beam_size"),
                                  tf.TensorSpec([], tf.int32, name="max_length")])
    def translate_with_options(self, text, beam_size, max_length):
        return self.decode(text, beam_size, max_length)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                  tf.TensorSpec([], tf.int32, name="max_length")])
    def translate_greedy(self, text, max_length):
        source = self.source_ids(text)
        result = greedy_decode(self.model, source, BOS_ID, EOS_ID,
                               tf.maximum(max_length, 1))
        return {"translation": self.to_text(result["ids"]), "score": result["scores"],
                "token_ids": result["ids"]}


def corpus_scores(hypotheses, references):
    """sacreBLEU and chrF (detokenized, cased) with their signatures."""
    import sacrebleu
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    return {"bleu": round(bleu_score.score, 2), "chrf": round(chrf_score.score, 2),
            "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature())}


class TranslationPipeline(Pipeline):
    """The translation task on the pipeline skeleton: paired text, two chains of stages.

    Args:
        config: PipelineConfig with task: translation.
        stages: list. Source-side stages (both sides with shared_vocabulary).
        target_stages: list. Target-side stages (the same objects with shared_vocabulary).
    """

    history_metrics = ("loss", "token_accuracy")

    def __init__(self, config, stages, target_stages):
        super().__init__(config, stages)
        self.target_stages = target_stages
        self._ids = {}
        self.length_report = {}

    @property
    def target_vocabulary(self):
        return next(s for s in self.target_stages if isinstance(s, Vocabulary))

    @property
    def separator(self):
        return next((s.join_separator for s in self.target_stages
                     if hasattr(s, "join_separator")), " ")

    def read_data(self):
        return data_lib.read_parallel(self.config)

    def describe_data(self):
        counts = ", ".join(f"{k}={v}" for k, v in self.data.counts().items())
        return f"read: {counts} sentence pairs"

    def describe_stages(self):
        dropped = self.length_report.get("train_pairs_dropped", 0)
        return (f"stages: source vocabulary {self.vocabulary.vocabulary_size}, target vocabulary "
                f"{self.target_vocabulary.vocabulary_size}"
                + ("" if self.config.shared_vocabulary else " (separate)")
                + f"; {dropped} train pairs over the length limits dropped")

    def adapt(self):
        train = self.data.to_tf("train")
        sources = train.map(lambda ex: ex["source"]).batch(inputs.TOKENIZE_BATCH)
        targets = train.map(lambda ex: ex["target"]).batch(inputs.TOKENIZE_BATCH)
        if self.config.shared_vocabulary:
            adapt_chain(self.stages, sources.concatenate(targets))
        else:
            adapt_chain(self.stages, sources)
            adapt_chain(self.target_stages, targets)
        self.check_chain_outputs()

    def check_chain_outputs(self):
        for stages, key in ((self.stages, "stages"), (self.target_stages, "target_stages")):
            x = tf.constant(["synthetic example one", ""])
            for index, stage in enumerate(stages):
                x = stage(x)
            if not isinstance(x, tf.RaggedTensor) or not x.dtype.is_integer:
                raise ConfigError(f"The {key} must turn text into ragged int ids (end them with "
                                  f"a vocabulary, no sequence_packer); they give {x.dtype.name}.")

    # -- ids and batches -------------------------------------------------------------------
    def _encode(self, texts, stages):
        out = []
        dataset = tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string))
        for batch in dataset.batch(1024):
            x = batch
            for stage in stages:
                x = stage(x)
            out.extend(np.asarray(row, dtype=np.int64) for row in x.numpy())
        return out

    def token_ids(self, split):
        """(source ids, target ids) per pair of a split, as lists of int64 arrays."""
        if split not in self._ids:
            part = self.data.splits[split]
            self._ids[split] = (self._encode(part["source"], self.stages),
                                self._encode(part["target"], self.target_stages))
        return self._ids[split]

    def pairs(self, split, training=False):
        """Length-limited pairs: train drops long pairs, other splits truncate (both reported)."""
        data = self.config.data
        sources, targets = self.token_ids(split)
        if training:
            keep = [i for i, (s, t) in enumerate(zip(sources, targets))
                    if 0 < len(s) <= data.max_source_tokens and len(t) <= data.max_target_tokens]
            self.length_report["train_pairs_dropped"] = len(sources) - len(keep)
            return [sources[i] for i in keep], [targets[i] for i in keep]
        self.length_report[f"{split}_sources_truncated"] = sum(
            len(s) > data.max_source_tokens for s in sources)
        self.length_report[f"{split}_targets_truncated"] = sum(
            len(t) > data.max_target_tokens for t in targets)
        return ([s[:data.max_source_tokens] for s in sources],
                [t[:data.max_target_tokens] for t in targets])

    def _train_lengths(self):
        """Source lengths of the kept train pairs, computed once (bucket boundaries and the
        steps per epoch of the skeleton's `steps_per_epoch` use them)."""
        if getattr(self, "_lengths", None) is None:
            sources, _ = self.pairs("train", training=True)
            self._lengths = np.fromiter(map(len, sources), np.int64, len(sources))
        return self._lengths

    def datasets(self, split, training=False, counter=None):
        """((source, decoder input), decoder target) batches, bucketed by source length."""
        train = self.config.train
        sources, targets = self.pairs(split, training)
        ragged = lambda rows: tf.RaggedTensor.from_row_lengths(
            np.concatenate(rows + [np.zeros(0, np.int64)]), [len(r) for r in rows])
        dataset = tf.data.Dataset.from_tensor_slices((ragged(sources), ragged(targets)))
        bos, eos = tf.constant([BOS_ID], tf.int64), tf.constant([EOS_ID], tf.int64)
        dataset = dataset.map(lambda s, t: (s, tf.concat([bos, t], 0), tf.concat([t, eos], 0)))
        dataset = dataset.cache()
        if training:
            dataset = dataset.shuffle(min(train.shuffle_buffer, max(len(sources), 1)),
                                      seed=self.config.seed, reshuffle_each_iteration=True)
        boundaries = self._boundaries()
        sizes = self.train_batch_sizes() if training else \
            [self.config.evaluate.batch_size] * (len(boundaries) + 1)
        pad = tf.constant(PAD_ID, tf.int64)
        if boundaries:
            dataset = dataset.bucket_by_sequence_length(
                lambda s, d, t: tf.shape(s)[0], bucket_boundaries=boundaries,
                bucket_batch_sizes=sizes,
                padded_shapes=([None], [None], [None]), padding_values=(pad, pad, pad))
        else:
            dataset = dataset.padded_batch(sizes[0], padded_shapes=([None], [None], [None]),
                                           padding_values=(pad, pad, pad))
        if counter is not None:
            dataset = dataset.map(lambda s, d, t: (counter.count(s, d, pad) + (t,)))
        return dataset.map(lambda s, d, t: ((s, d), t)).prefetch(inputs.AUTOTUNE)

    # -- model -----------------------------------------------------------------------------
    def model_arguments(self):
        return {"source_vocabulary_size": self.vocabulary.vocabulary_size,
                "target_vocabulary_size": self.target_vocabulary.vocabulary_size}

    def build_model(self):
        entry = check_injected_args(self.config)
        if self.config.embeddings.path:
            raise ConfigError(f"Pretrained vectors are not supported for translation yet; remove "
                              f"{self.config.where('embeddings.path')}.")
        model = MODELS.build(entry, where=self.config.where("model"), **self.model_arguments())
        model((np.ones([1, 2], np.int64), np.ones([1, 2], np.int64)))
        self.model = model
        return model

    def compile_arguments(self):
        return {"loss": MaskedSequenceLoss(self.config.train.label_smoothing),
                "metrics": [MaskedTokenAccuracy()]}

    def train(self, run_dir):
        counter = inputs.PaddingCounter()
        return training.fit(self.model, self.datasets("train", True, counter),
                            self.datasets("validation") if "validation" in self.data.splits
                            else None, self.config.train, str(run_dir), self.steps_per_epoch(),
                            counter, **self.compile_arguments())

    # -- decoding and evaluation -------------------------------------------------------------
    def translator(self):
        evaluate = self.config.evaluate
        return Translator(self.stages, self.model, self.target_vocabulary.vocabulary,
                          self.separator, self.config.data.max_source_tokens,
                          self.max_output_tokens(), evaluate.beam_size, evaluate.length_penalty)

    def max_output_tokens(self):
        return self.config.evaluate.max_output_tokens or self.config.data.max_target_tokens

    def translate(self, texts, beam_size=None, batch_size=None, translator=None):
        """Translations of a list of strings, decoded in batches (beam_size 1: greedy)."""
        translator = translator or self.translator()
        beam_size = self.config.evaluate.beam_size if beam_size is None else beam_size
        batch_size = batch_size or self.config.evaluate.batch_size
        max_length = tf.constant(self.max_output_tokens(), tf.int32)
        out = []
        for start in range(0, len(texts), batch_size):
            text = tf.constant(texts[start:start + batch_size], tf.string)
            if beam_size <= 1:
                result = translator.translate_greedy(text, max_length)
            else:
                result = translator.translate_with_options(text, tf.constant(beam_size),
                                                           max_length)
            out.extend(t.decode("utf-8") for t in result["translation"].numpy())
        return out

    def token_perplexity(self, split):
        loss = MaskedSequenceLoss(0.0)
        predict = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
        total, tokens = 0.0, 0
        for (source, decoder_in), target in self.datasets(split):
            count = int(tf.reduce_sum(tf.cast(tf.not_equal(target, PAD_ID), tf.int64)))
            total += float(tf.reduce_mean(loss.call(target, predict((source, decoder_in))))) \
                * count
            tokens += count
        return total / max(tokens, 1), tokens

    def evaluate(self, run_dir, splits=None):
        run_dir = Path(run_dir)
        translator = self.translator()
        beam = self.config.evaluate.beam_size
        metrics = {}
        for split in splits or self.config.evaluate.splits:
            if split not in self.data.splits:
                continue
            part = self.data.splits[split]
            nats, tokens = self.token_perplexity(split)
            hypotheses = self.translate(part["source"], beam, translator=translator)
            greedy = hypotheses if beam <= 1 else self.translate(part["source"], 1,
                                                                 translator=translator)
            scores = corpus_scores(hypotheses, part["target"])
            metrics[split] = {
                **scores,
                "bleu_greedy": corpus_scores(greedy, part["target"])["bleu"],
                "beam_size": beam,
                "copy_source_bleu": corpus_scores(part["source"], part["target"])["bleu"],
                "loss": round(nats, 4), "perplexity": round(math.exp(nats), 4),
                "num_target_tokens": tokens, "num_pairs": len(hypotheses),
                "sources_truncated": self.length_report.get(f"{split}_sources_truncated", 0),
            }
            write_translations(run_dir / f"translations_{split}.tsv", part, hypotheses, greedy)
            self.plot_attention(run_dir / f"attention_{split}.png", part["source"][:4],
                                hypotheses[:4], translator)
        if "train_pairs_dropped" in self.length_report:
            metrics["length_limits"] = {k: v for k, v in self.length_report.items()}
        return metrics

    def attention_maps(self, sources, hypotheses, translator=None):
        """(source tokens, target tokens, weights [target, source]) per example."""
        translator = translator or self.translator()
        out = []
        for source, hypothesis in zip(sources, hypotheses):
            source_ids = translator.source_ids(tf.constant([source]))
            target_ids = self._encode([hypothesis], self.target_stages)[0]
            decoder_in = np.concatenate([[BOS_ID], target_ids])[None, :]
            weights = self.model.attention_weights(source_ids, decoder_in)
            weights = np.asarray(weights)[0]
            source_tokens = [self.vocabulary.vocabulary[i] for i in source_ids.numpy()[0]]
            target_tokens = [self.target_vocabulary.vocabulary[i] for i in target_ids] + \
                ["[EOS]"]
            out.append((source_tokens, target_tokens, weights[:len(target_tokens)]))
        return out

    def plot_attention(self, path, sources, hypotheses, translator=None):
        maps = self.attention_maps(sources, hypotheses, translator)
        if maps:
            evaluation.plot_attention(maps, path, f"{self.config.name}: attention")

    def export(self, run_dir):
        texts = list(self.data.splits.get("validation", self.data.splits["train"])["source"][:8])
        probes = texts + ["", " ", "x " * 5000, "naïve café — 東京 🙂", "\u0301\u200b"]

        def verify(tmp, module):
            loaded = tf.saved_model.load(str(tmp))
            text = tf.constant(probes)
            got = loaded.signatures["translate"](text=text)["token_ids"].numpy()
            expected = module.translate(text)["token_ids"].numpy()
            if got.shape != expected.shape or not np.array_equal(got, expected):
                raise export.ExportError("The reloaded SavedModel translates differently from "
                                         "the trained model. The export is not trustworthy.")
            return {"verified_inputs": len(probes)}
        return export.save_portable(
            self.model, self.translator,
            lambda module: {"translate": module.translate,
                            "translate_with_options": module.translate_with_options,
                            "translate_greedy": module.translate_greedy},
            Path(run_dir) / "export", verify if self.config.export.verify else None)

    # -- saving and loading a run ----------------------------------------------------------
    def save_state(self, run_dir):
        run_dir = Path(run_dir)
        rundir.atomic_write_json(run_dir / "stages.json", {
            "source": [keras.saving.serialize_keras_object(s) for s in self.stages],
            "target": [keras.saving.serialize_keras_object(s) for s in self.target_stages],
            "shared": self.config.shared_vocabulary})
        rundir.atomic_write_json(run_dir / "labels.json", None)

    def load_state(self, run_dir, with_model=True):
        import json
        run_dir = Path(run_dir)
        try:
            state = json.loads((run_dir / "stages.json").read_text(encoding="utf-8"))
            self.stages = [keras.saving.deserialize_keras_object(s) for s in state["source"]]
            self.target_stages = self.stages if state["shared"] else [
                keras.saving.deserialize_keras_object(s) for s in state["target"]]
            if with_model:
                self.model = keras.saving.load_model(run_dir / "model.keras")
        except FileNotFoundError as err:
            from nlp_lstm.errors import RunDirError
            raise RunDirError(f"{run_dir} has no trained model ({Path(err.filename).name} is "
                              f"missing). Run `nlp-lstm train` or `nlp-lstm run` first.") from err
        self.label_names = None


def write_translations(path, part, hypotheses, greedy):
    """source, reference, hypothesis (beam) and greedy hypothesis, one pair per row (TSV)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(["source", "reference", "hypothesis", "greedy"])
    for row in zip(part["source"], part["target"], hypotheses, greedy):
        writer.writerow(row)
    rundir.atomic_write_text(path, buffer.getvalue())


def build_translation_stages(config):
    """(source stages, target stages) from `stages` and `target_stages` (shared: same objects)."""
    def build(entries, key):
        return [STAGES.build(entry, where=f"{key}[{i}] of {config.where(key)}")
                for i, entry in enumerate(entries)]
    stages = build(config.stages, "stages")
    if config.shared_vocabulary:
        return stages, stages
    return stages, build(config.target_stages or config.stages,
                         "target_stages" if config.target_stages else "stages")
