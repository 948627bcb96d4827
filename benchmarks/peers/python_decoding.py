"""Peer: the TensorFlow NMT tutorial's decoding, a Python loop that calls the decoder step by step.

The tutorial ("Neural machine translation with attention", tensorflow.org/text) encodes a batch
once, then runs the decoder eagerly from a Python `for` loop, one call per output token, and
picks the next token from the logits it returns. `PythonStepDecoder` does that with a trained
`LSTMSeq2Seq`: `encode` once per batch, then `decode_step` once per step, without `tf.function`.
Greedy decoding takes the argmax; beam search is the alive/finished algorithm of
`nlp_lstm.models.decoding.beam_search` (GNMT length penalty, the same end-of-sentence handling and
stopping rule) written in NumPy, so both systems do the same work and give the same translations.
The special ids, the separator and the stage chain come from the run's preprocessors, as in the
export.
"""

import numpy as np
import tensorflow as tf

from nlp_lstm.tasks.translation.metrics import detokenize

# Stands in for -inf, as in nlp_lstm.models.decoding: finite, so sums and comparisons never give
# NaN.
NEGATIVE = np.float32(-1e9)


class PythonStepDecoder:
    """Translates batches of raw strings with a Python loop over eager decoder steps.

    Args:
        task: TranslationTask. A trained run's task, as `nlp_lstm.pipeline.load_run` restores it.

    Example:
        decoder = PythonStepDecoder(load_run(run_dir, with_data=False).task)
        decoder.translate(["Ein Hund rennt."], beam_size=4, max_length=60)
    """

    def __init__(self, task):
        self.preprocessor = task.preprocessor
        self.model = task.model
        target = task.target_preprocessor
        self.vocabulary = target.vocabulary.vocabulary
        # The same ids and separator as the exported `Translator`.
        self.pad_id = target.special_ids["pad"]
        self.start_id = target.special_id("start", "Translation")
        self.end_id = target.special_id("end", "Translation")
        self.num_special = target.num_special
        self.separator = target.separator or " "
        self.max_source_tokens = task.config.data.max_source_tokens
        self.length_penalty = task.config.evaluate.length_penalty
        self.last_steps = 0  # decoder steps the last batch took (for the benchmark's profile)

    def translate(self, texts, beam_size, max_length):
        """Translations of one batch of strings (beam_size 1: greedy)."""
        source_ids = self.source_ids(texts)
        if beam_size == 1:
            ids = self.greedy(source_ids, max_length)
        else:
            ids = self.beam_search(source_ids, max_length, beam_size)
        return self.to_text(ids)

    def source_ids(self, texts):
        """Right-padded source ids [B, S] from the run's source preprocessor."""
        x = self.preprocessor(tf.constant(texts, tf.string))
        return x[:, : self.max_source_tokens].to_tensor(
            default_value=tf.constant(self.pad_id, x.dtype)
        )

    def greedy(self, source_ids, max_length):
        """Target ids [B, L] (0 after the end) from the most likely token at each step."""
        encoder_outputs, source_mask, states = self.model.encode(source_ids)
        batch = int(source_ids.shape[0])
        tokens = np.full([batch], self.start_id, np.int64)
        finished = np.zeros([batch], bool)
        columns = []
        for _ in range(max_length):
            logits, states, _ = self.model.decode_step(tokens, states, encoder_outputs, source_mask)
            logits = np.array(logits)
            logits[:, self.pad_id] = -np.inf  # padding is never emitted
            tokens = logits.argmax(axis=-1)
            ended = tokens == self.end_id
            columns.append(np.where(finished | ended, self.pad_id, tokens))
            finished |= ended
            self.last_steps = len(columns)
            if finished.all():
                break
        return np.stack(columns, axis=1) if columns else np.zeros([batch, 0], np.int64)

    def beam_search(self, source_ids, max_length, beam_size):
        """Target ids [B, L] of the best hypothesis per row, as
        `nlp_lstm.models.decoding.beam_search`."""
        encoder_outputs, source_mask, states = self.model.encode(source_ids)
        batch, k = int(source_ids.shape[0]), beam_size
        # Row b's hypotheses sit at b * k ... b * k + k - 1; only the decoder states are
        # reordered each step, the encoder outputs are the same for all of a row's hypotheses.
        encoder_outputs = tf.repeat(encoder_outputs, k, axis=0)
        source_mask = tf.repeat(source_mask, k, axis=0)
        states = [tf.repeat(state, k, axis=0) for state in states]
        row_offsets = np.arange(batch)[:, None] * k
        alive_ids = np.zeros([batch, k, max_length], np.int64)
        alive_scores = np.full([batch, k], NEGATIVE, np.float32)
        alive_scores[:, 0] = 0.0
        tokens = np.full([batch, k], self.start_id, np.int64)
        finished = (
            np.zeros_like(alive_ids),
            np.full([batch, k], NEGATIVE, np.float32),
            np.zeros([batch, k], bool),
        )
        step = 0
        while step < max_length and not self._all_done(alive_scores, finished, max_length):
            logits, states, _ = self.model.decode_step(
                tokens.reshape(-1), states, encoder_outputs, source_mask
            )
            log_probs = tf.nn.log_softmax(logits, axis=-1).numpy()
            log_probs[:, self.pad_id] = NEGATIVE
            vocabulary = log_probs.shape[-1]
            candidates = (
                alive_scores[:, :, None] + log_probs.reshape(batch, k, vocabulary)
            ).reshape(batch, k * vocabulary)
            top = _largest(candidates, 2 * k)
            top_scores = np.take_along_axis(candidates, top, axis=1)
            top_beams, top_tokens = top // vocabulary, top % vocabulary
            ended = top_tokens == self.end_id
            top_ids = np.take_along_axis(alive_ids, top_beams[:, :, None], axis=1)
            top_ids[:, :, step] = np.where(ended, self.pad_id, top_tokens)

            # The best k candidates that did not end stay alive; their decoder states follow them.
            alive_candidates = np.where(ended, NEGATIVE, top_scores)
            keep = _ranked(alive_candidates)[:, :k]
            origins = np.take_along_axis(top_beams, keep, axis=1)
            states = [tf.gather(state, (origins + row_offsets).reshape(-1)) for state in states]
            alive_ids = np.take_along_axis(top_ids, keep[:, :, None], axis=1)
            alive_scores = np.take_along_axis(alive_candidates, keep, axis=1)
            tokens = np.take_along_axis(top_tokens, keep, axis=1)

            # Candidates that ended among the first k join the finished set, length-normalised
            # (the length counts the end token).
            new_flags = ended & (top_scores > NEGATIVE / 2) & (np.arange(2 * k) < k)
            new_scores = np.where(new_flags, top_scores / self._penalty(step + 1), NEGATIVE)
            finished = _best(
                k,
                (
                    np.concatenate([finished[0], top_ids], axis=1),
                    np.concatenate([finished[1], new_scores], axis=1),
                    np.concatenate([finished[2], new_flags], axis=1),
                ),
            )
            step += 1
        self.last_steps = step

        # Hypotheses still alive (cut at max_length) compete with the finished ones, which win ties.
        alive_flags = alive_scores > NEGATIVE / 2
        ids, _, _ = _best(
            k,
            (
                np.concatenate([finished[0], alive_ids], axis=1),
                np.concatenate(
                    [
                        finished[1],
                        np.where(alive_flags, alive_scores / self._penalty(step), NEGATIVE),
                    ],
                    axis=1,
                ),
                np.concatenate([finished[2], alive_flags], axis=1),
            ),
        )
        return ids[:, 0]

    def _penalty(self, length):
        """GNMT length normalisation, ((5 + length) / 6) ** alpha, in float32 like the graph."""
        return np.power(np.float32(5 + length) / np.float32(6), np.float32(self.length_penalty))

    def _all_done(self, alive_scores, finished, max_length):
        """Whether no row can still change: its finished set is full and no alive hypothesis can
        beat the worst finished one, or it has no alive hypothesis left."""
        finished_scores, finished_flags = finished[1], finished[2]
        worst_finished = np.where(finished_flags, finished_scores, -NEGATIVE).min(axis=1)
        best_alive = alive_scores.max(axis=1)
        # Log-probabilities only fall as a hypothesis grows, and the penalty divides them least
        # at max_length: that bounds what an alive hypothesis can still reach.
        cannot_improve = best_alive / self._penalty(max_length) <= worst_finished
        done = (finished_flags.all(axis=1) & cannot_improve) | (best_alive <= NEGATIVE / 2)
        return bool(done.all())

    def to_text(self, ids):
        """Target ids [B, L] -> strings; special ids print as nothing."""
        joined = [
            self.separator.join(self.vocabulary[i] for i in row if i >= self.num_special)
            for row in ids.tolist()
        ]
        return [text.decode("utf-8") for text in detokenize(tf.constant(joined, tf.string)).numpy()]


def _ranked(values):
    """Column order of each row by descending value, the lower column first on ties (as
    tf.math.top_k)."""
    return np.argsort(-values, axis=1, kind="stable")


def _largest(values, count):
    """The columns of the `count` largest values per row, best first, the lower column first on
    ties (as tf.math.top_k). argpartition keeps this linear in the row length (k * vocabulary);
    an exact float tie at the cut itself is not expected."""
    part = np.sort(np.argpartition(-values, count - 1, axis=1)[:, :count], axis=1)
    order = _ranked(np.take_along_axis(values, part, axis=1))
    return np.take_along_axis(part, order, axis=1)


def _best(k, hypotheses):
    """The k best (ids, scores, flags) of each row by score, earlier ones first on ties."""
    ids, scores, flags = hypotheses
    positions = _ranked(scores)[:, :k]
    return (
        np.take_along_axis(ids, positions[:, :, None], axis=1),
        np.take_along_axis(scores, positions, axis=1),
        np.take_along_axis(flags, positions, axis=1),
    )
