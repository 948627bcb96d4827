"""Greedy and beam search decoding in the graph, for LSTMSeq2Seq (or any object with its
`encode(source_ids)` and `decode_step(token_ids, states, encoder_outputs, source_mask)`).

Both run a `tf.while_loop` that calls `decode_step` once per step for every hypothesis,
carrying the decoder states, so a new token never re-runs the prefix. They use stock
TensorFlow ops only and accept tensor `max_length` / `beam_size`, so they work eagerly, under
`tf.function` and inside a SavedModel signature. The padding id 0 is never emitted; outputs
exclude the end token and are padded with 0 to the longest hypothesis in the batch.
"""

import tensorflow as tf

# Stands in for -inf in the loop: finite, so sums and comparisons never give NaN.
_NEGATIVE = -1e9


def _count(name, value, minimum):
    if isinstance(value, bool) or (isinstance(value, int) and value < minimum):
        raise ValueError(f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}.")
    value = tf.convert_to_tensor(value, tf.int32)
    tf.debugging.assert_greater_equal(value, minimum, message=f"`{name}` must be >= {minimum}")
    return value


def _log_probs(logits):
    """float32 log-probabilities [N, V], and the same with padding (id 0) ruled out."""
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    vocabulary = tf.shape(log_probs)[-1]
    choosable = tf.where(tf.range(vocabulary) == 0, _NEGATIVE, log_probs)
    return log_probs, choosable


def _write(sequences, step, tokens):
    """Writes `tokens` [...] at position `step` of `sequences` [..., L]."""
    at_step = tf.range(tf.shape(sequences)[-1]) == step
    return tf.where(at_step, tokens[..., tf.newaxis], sequences)


def _while(keep_going, advance, loop_vars):
    """tf.while_loop with every dimension of the loop variables left open: traced with static
    sizes, the body's tf.shape-derived shapes would otherwise clash with the initial ones."""
    loop_vars = tf.nest.map_structure(tf.convert_to_tensor, loop_vars)
    return tf.while_loop(
        keep_going,
        advance,
        loop_vars,
        shape_invariants=tf.nest.map_structure(
            lambda tensor: tf.TensorShape([None] * tensor.shape.rank), loop_vars
        ),
    )


def _trim(ids, lengths):
    return ids[..., : tf.reduce_max(tf.concat([tf.reshape(lengths, [-1]), [0]], axis=0))]


def _scatter_rows(tensor, rows, updates):
    """`tensor` with its rows at `rows` replaced by `updates` (an empty tensor stays as it is:
    scattering into one raises even with no rows to write)."""
    return tf.cond(
        tf.size(tensor) > 0,
        lambda: tf.tensor_scatter_nd_update(tensor, rows[:, tf.newaxis], updates),
        lambda: tensor,
    )


def _compact(keep, tensors):
    """The rows `keep` of every tensor in the nest `tensors`."""
    return tf.nest.map_structure(lambda tensor: tf.gather(tensor, keep), tensors)


def greedy_decode(model, source_ids, start_id, end_id, max_length):
    """Picks the most likely token at each step until `end_id` or `max_length` steps.

    A row that has ended leaves the batch: later steps run the decoder on the rows still going
    only, so a batch costs the sum of its rows' lengths rather than its longest row times the
    batch size.

    Args:
        model: LSTMSeq2Seq (anything with `encode` and `decode_step`).
        source_ids: int tensor [B, S], right-padded with 0.
        start_id: int. First decoder input.
        end_id: int. Ends a row; it is scored but not included in `ids`.
        max_length: int or scalar int32 tensor. Most tokens per row, the end token included.

    Returns:
        dict with `ids` int64 [B, L] (0 after the end), `lengths` int32 [B] (end excluded)
        and `scores` float32 [B] (sum of the log-probabilities, the end token's included).

    Example:
    >>> import numpy as np, nlp_lstm
    >>> from nlp_lstm.models.decoding import greedy_decode
    >>> model = nlp_lstm.models.LSTMSeq2Seq(source_vocabulary_size=12, target_vocabulary_size=10,
    ...                                     embedding_dim=4, hidden_dim=6)
    >>> out = greedy_decode(model, np.array([[4, 5, 0], [0, 0, 0]]), start_id=1, end_id=2,
    ...                     max_length=5)
    >>> sorted(out), out["ids"].dtype.name, out["lengths"].shape, out["scores"].shape
    (['ids', 'lengths', 'scores'], 'int64', TensorShape([2]), TensorShape([2]))
    """
    max_length = _count("max_length", max_length, 0)
    encoder_outputs, source_mask, states = model.encode(source_ids)
    batch = tf.shape(encoder_outputs)[0]
    end_id = tf.cast(end_id, tf.int64)

    def keep_going(step, rows, tokens, states, encoder_outputs, source_mask, lengths, scores, ids):
        return tf.logical_and(step < max_length, tf.size(rows) > 0)

    def advance(step, rows, tokens, states, encoder_outputs, source_mask, lengths, scores, ids):
        # `rows` holds the batch positions of the rows still going, in order.
        logits, states, _ = model.decode_step(tokens, states, encoder_outputs, source_mask)
        log_probs, choosable = _log_probs(logits)
        choice = tf.argmax(choosable, axis=-1, output_type=tf.int64)
        ended = tf.equal(choice, end_id)
        at = rows[:, tf.newaxis]
        scores = tf.tensor_scatter_nd_add(scores, at, tf.gather(log_probs, choice, batch_dims=1))
        ids = tf.tensor_scatter_nd_update(
            ids,
            tf.stack([rows, tf.fill(tf.shape(rows), step)], axis=1),
            tf.where(ended, tf.zeros_like(choice), choice),
        )
        lengths = tf.tensor_scatter_nd_add(lengths, at, tf.cast(tf.logical_not(ended), tf.int32))
        going = (rows, choice, states, encoder_outputs, source_mask)
        going = tf.cond(
            tf.reduce_any(ended),
            lambda: _compact(tf.where(tf.logical_not(ended))[:, 0], going),
            lambda: going,
        )
        return (step + 1, *going, lengths, scores, ids)

    _, _, _, _, _, _, lengths, scores, ids = _while(
        keep_going,
        advance,
        (
            tf.constant(0),
            tf.range(batch),
            tf.fill([batch], tf.cast(start_id, tf.int64)),
            states,
            encoder_outputs,
            source_mask,
            tf.zeros([batch], tf.int32),
            tf.zeros([batch], tf.float32),
            tf.zeros(tf.stack([batch, max_length]), tf.int64),
        ),
    )
    return {"ids": _trim(ids, lengths), "lengths": lengths, "scores": scores}


def beam_search(model, source_ids, start_id, end_id, max_length, beam_size, length_penalty=0.6):
    """Beam search with separate alive and finished hypotheses (as in tensor2tensor and fairseq).

    Each step extends the `beam_size` alive hypotheses of a row by every token and keeps the
    2 * beam_size best by log-probability. Those ending with `end_id` among the first
    `beam_size` join the finished set (the best `beam_size` by normalised score); the best
    `beam_size` others stay alive. A row is done when its finished set is full and no alive
    hypothesis can still beat the worst finished one (or none is left alive); a done row leaves
    the batch with its finished set, so later steps run the decoder on the rows still going
    only. The loop stops when every row is done or after `max_length` steps; the alive
    hypotheses of the rows left then compete with their finished ones. Scores are
    GNMT-normalised: sum of log-probabilities / ((5 + length) / 6) ** length_penalty, the length
    counting the end token. With beam_size=1 and length_penalty=0 this is greedy.

    Args:
        model: LSTMSeq2Seq (anything with `encode` and `decode_step`).
        source_ids: int tensor [B, S], right-padded with 0.
        start_id: int. First decoder input.
        end_id: int. Finishes a hypothesis; scored but not included in `ids`.
        max_length: int or scalar int32 tensor. Most tokens per hypothesis, the end included.
        beam_size: int or scalar int32 tensor. Hypotheses kept per row (K).
        length_penalty: float. Exponent alpha of the length normalisation (>= 0; 0 for none).

    Returns:
        dict with `ids` int64 [B, K, L] (0 after the end), `lengths` int32 [B, K] (end
        excluded) and `scores` float32 [B, K], best first. A slot left without a hypothesis
        (beam_size above the number of possible ones) has score -inf and length 0.

    Example:
    >>> import numpy as np, nlp_lstm
    >>> from nlp_lstm.models.decoding import beam_search
    >>> model = nlp_lstm.models.LSTMSeq2Seq(source_vocabulary_size=12, target_vocabulary_size=10,
    ...                                     embedding_dim=4, hidden_dim=6)
    >>> out = beam_search(model, np.array([[4, 5, 0]]), start_id=1, end_id=2, max_length=5,
    ...                   beam_size=3)
    >>> out["scores"].shape, out["lengths"].shape
    (TensorShape([1, 3]), TensorShape([1, 3]))
    >>> bool(out["scores"][0, 0] >= out["scores"][0, 1] >= out["scores"][0, 2])
    True
    """
    max_length = _count("max_length", max_length, 0)
    beam_size = _count("beam_size", beam_size, 1)
    alpha = tf.cast(length_penalty, tf.float32)

    def penalty(length):
        return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)

    encoder_outputs, source_mask, states = model.encode(source_ids)
    batch = tf.shape(encoder_outputs)[0]
    end_id = tf.cast(end_id, tf.int64)
    # Row b's hypotheses sit at b * K ... b * K + K - 1 of the decoder's batch; the encoder
    # outputs are the same for every hypothesis of a row, so only the decoder states are
    # reordered each step.
    encoder_outputs = tf.repeat(encoder_outputs, beam_size, axis=0)
    source_mask = tf.repeat(source_mask, beam_size, axis=0)
    states = [tf.repeat(state, beam_size, axis=0) for state in states]
    best_possible_penalty = penalty(max_length)

    def hypothesis_rows(rows):
        """Decoder-batch positions of the hypotheses of the rows at positions `rows`."""
        return tf.reshape(rows[:, tf.newaxis] * beam_size + tf.range(beam_size), [-1])

    def done_rows(alive_log_probs, finished):
        finished_scores, finished_flags = finished[1], finished[3]
        worst_finished = tf.reduce_min(
            tf.where(finished_flags, finished_scores, -_NEGATIVE), axis=1
        )
        best_alive = tf.reduce_max(alive_log_probs, axis=1)
        # Log-probabilities only fall as a hypothesis grows, and (alpha >= 0) the penalty
        # divides them least at max_length: that bounds what an alive hypothesis can reach, so
        # a done row's finished set can no longer change.
        cannot_improve = best_alive / best_possible_penalty <= worst_finished
        return tf.logical_or(
            tf.logical_and(tf.reduce_all(finished_flags, axis=1), cannot_improve),
            best_alive <= _NEGATIVE / 2,
        )

    def keep_going(step, rows, alive, states, encoder_outputs, source_mask, finished, results):
        return tf.logical_and(step < max_length, tf.size(rows) > 0)

    def advance(step, rows, alive, states, encoder_outputs, source_mask, finished, results):
        # `rows` holds the batch positions of the rows still going, in order; `results` holds
        # the finished sets of the rows that are done, at their batch positions.
        alive_ids, alive_log_probs, tokens = alive
        going = tf.shape(rows)[0]
        logits, states, _ = model.decode_step(
            tf.reshape(tokens, [-1]), states, encoder_outputs, source_mask
        )
        _, choosable = _log_probs(logits)
        vocabulary = tf.shape(choosable)[-1]
        candidates = tf.reshape(
            alive_log_probs[:, :, tf.newaxis]
            + tf.reshape(choosable, [going, beam_size, vocabulary]),
            [going, beam_size * vocabulary],
        )
        top_log_probs, top_indices = tf.math.top_k(candidates, k=2 * beam_size)
        top_beams = top_indices // vocabulary
        top_tokens = tf.cast(top_indices % vocabulary, tf.int64)
        valid = top_log_probs > _NEGATIVE / 2
        ended = tf.equal(top_tokens, end_id)
        top_ids = _write(
            tf.gather(alive_ids, top_beams, batch_dims=1),
            step,
            tf.where(ended, tf.zeros_like(top_tokens), top_tokens),
        )

        alive_scores, alive_positions = tf.math.top_k(
            tf.where(ended, _NEGATIVE, top_log_probs), k=beam_size
        )
        origins = tf.gather(top_beams, alive_positions, batch_dims=1)
        sources = tf.reshape(origins + tf.range(going)[:, tf.newaxis] * beam_size, [-1])
        states = [tf.gather(state, sources) for state in states]
        alive = (
            tf.gather(top_ids, alive_positions, batch_dims=1),
            alive_scores,
            tf.gather(top_tokens, alive_positions, batch_dims=1),
        )

        finished_ids, finished_scores, finished_lengths, finished_flags = finished
        in_first_k = tf.range(2 * beam_size)[tf.newaxis, :] < beam_size
        new_flags = tf.logical_and(tf.logical_and(ended, valid), in_first_k)
        new_scores = tf.where(new_flags, top_log_probs / penalty(step + 1), _NEGATIVE)
        finished = _best(
            beam_size,
            tf.concat([finished_ids, top_ids], axis=1),
            tf.concat([finished_scores, new_scores], axis=1),
            tf.concat([finished_lengths, tf.fill(tf.shape(new_flags), step)], axis=1),
            tf.concat([finished_flags, new_flags], axis=1),
        )

        done = done_rows(alive_scores, finished)

        def retire():
            leaving = tf.where(done)[:, 0]
            leaving_rows = tf.gather(rows, leaving)
            kept_results = tuple(
                _scatter_rows(result, leaving_rows, tf.gather(part, leaving))
                for result, part in zip(results, finished)
            )
            staying = tf.cast(tf.where(tf.logical_not(done))[:, 0], tf.int32)
            hypotheses = hypothesis_rows(staying)
            return (
                tf.gather(rows, staying),
                _compact(staying, alive),
                _compact(hypotheses, states),
                tf.gather(encoder_outputs, hypotheses),
                tf.gather(source_mask, hypotheses),
                _compact(staying, finished),
                kept_results,
            )

        return (
            step + 1,
            *tf.cond(
                tf.reduce_any(done),
                retire,
                lambda: (rows, alive, states, encoder_outputs, source_mask, finished, results),
            ),
        )

    first_beam = tf.range(beam_size)[tf.newaxis, :] == 0
    empty_ids = tf.zeros(tf.stack([batch, beam_size, max_length]), tf.int64)
    alive = (
        empty_ids,
        tf.where(first_beam, 0.0, tf.fill([batch, beam_size], _NEGATIVE)),
        tf.fill([batch, beam_size], tf.cast(start_id, tf.int64)),
    )
    finished = (
        empty_ids,
        tf.fill([batch, beam_size], _NEGATIVE),
        tf.zeros([batch, beam_size], tf.int32),
        tf.zeros([batch, beam_size], tf.bool),
    )
    steps, rows, alive, _, _, _, finished, results = _while(
        keep_going,
        advance,
        (
            tf.constant(0),
            tf.range(batch),
            alive,
            states,
            encoder_outputs,
            source_mask,
            finished,
            finished,
        ),
    )

    # The rows still going (cut at max_length) let their alive hypotheses compete with their
    # finished ones, which win ties.
    alive_ids, alive_log_probs, _ = alive
    alive_flags = alive_log_probs > _NEGATIVE / 2
    last = _best(
        beam_size,
        tf.concat([finished[0], alive_ids], axis=1),
        tf.concat(
            [finished[1], tf.where(alive_flags, alive_log_probs / penalty(steps), _NEGATIVE)],
            axis=1,
        ),
        tf.concat([finished[2], tf.fill(tf.shape(alive_flags), steps)], axis=1),
        tf.concat([finished[3], alive_flags], axis=1),
    )
    ids, scores, lengths, flags = (
        _scatter_rows(result, rows, part) for result, part in zip(results, last)
    )
    lengths = tf.where(flags, lengths, 0)
    scores = tf.where(flags, scores, float("-inf"))
    return {"ids": _trim(ids, lengths), "lengths": lengths, "scores": scores}


def _best(k, ids, scores, lengths, flags):
    """The k best hypotheses of each row by score (earlier ones first on ties)."""
    scores, positions = tf.math.top_k(scores, k=k)
    return (
        tf.gather(ids, positions, batch_dims=1),
        scores,
        tf.gather(lengths, positions, batch_dims=1),
        tf.gather(flags, positions, batch_dims=1),
    )
