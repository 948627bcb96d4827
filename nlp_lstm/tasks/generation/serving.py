"""The language model's serving module: prompts in, sampled continuations out (temperature,
top-k, top-p, seeded), with the LSTM state carried in the graph.
"""

import tensorflow as tf

from nlp_lstm.export.limits import checked_option, checked_texts


def sample_next(logits, temperature, top_k, top_p, seed):
    """Next token ids [batch] from float32 logits [batch, vocab].

    temperature 0 is greedy. top_k > 0 keeps the k most likely tokens; top_p < 1 keeps the
    smallest set whose probability reaches p. Sampling is stateless: `seed` is a [2] int tensor.
    """
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int64)
    scaled = logits / tf.maximum(temperature, 1e-6)
    vocabulary = tf.shape(scaled)[-1]
    k = tf.where(top_k > 0, tf.minimum(top_k, vocabulary), vocabulary)
    kth = tf.gather(tf.sort(scaled, direction="DESCENDING"), k - 1, axis=-1)[:, tf.newaxis]
    scaled = tf.where(scaled < kth, tf.fill(tf.shape(scaled), -1e9), scaled)
    order = tf.argsort(scaled, direction="DESCENDING", stable=True)
    sorted_probs = tf.gather(tf.nn.softmax(scaled), order, batch_dims=1)
    before = tf.cumsum(sorted_probs, axis=-1, exclusive=True)
    # Keep a token while the mass before it is below top_p (the first token is always kept).
    keep_sorted = before < tf.maximum(top_p, 1e-6)
    keep = tf.scatter_nd(
        tf.stack(
            [tf.repeat(tf.range(tf.shape(order)[0]), vocabulary), tf.reshape(order, [-1])], axis=1
        ),
        tf.reshape(keep_sorted, [-1]),
        tf.shape(scaled),
    )
    scaled = tf.where(keep, scaled, tf.fill(tf.shape(scaled), -1e9))
    sampled = tf.reshape(
        tf.random.stateless_categorical(scaled, 1, seed=seed, dtype=tf.int64), [-1]
    )
    return tf.where(temperature <= 0.0, greedy, sampled)


class TextGenerator(tf.Module):
    """Stages (text -> ids) + LSTMCausalLM + id -> token lookup, with an in-graph sampling loop.

    `generate` refuses (InvalidArgumentError naming the input and the limit), before any work:
    more than `limits["max_batch_rows"]` prompts, a prompt over `limits["max_input_chars"]`
    characters, `max_new_tokens` outside [0, max_new_tokens], a temperature outside [0, 1e6],
    a negative top_k and a top_p outside (0, 1] (NaN and infinities included). top_k above the
    vocabulary keeps every token. `max_new_tokens=0` gives every prompt an empty continuation
    ("" and `token_ids` [batch, 0]); no prompts give empty outputs.

    Args:
        preprocessor: Preprocessor. Text -> ragged ids; its vocabulary gives the tokens, the
            start id and the special ids that print as nothing.
        model: LSTMCausalLM.
        limits: dict. `export.limits` (max_batch_rows, max_input_chars, max_new_tokens), baked
            into the graph; None: the defaults.
    """

    def __init__(self, preprocessor, model, limits):
        super().__init__(name="nlp_lstm_generator")
        self.preprocessor = preprocessor
        self.model = model
        self.separator = preprocessor.separator
        self.tokens = tf.constant(preprocessor.vocabulary.vocabulary, dtype=tf.string)
        self.num_special = preprocessor.num_special
        self.start_id = preprocessor.special_id("start", "Generation")
        self.limits = dict(limits)

    def prompt_ids(self, prompt):
        x = self.preprocessor(prompt)
        # Rows without a token start from [BOS], so every row has a state to carry.
        lengths = tf.cast(tf.equal(x.row_lengths(), 0), x.row_splits.dtype)
        bos = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(lengths)], tf.constant(self.start_id, x.dtype)), lengths
        )
        return tf.concat([bos, x], axis=1)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="prompt"),
            tf.TensorSpec([], tf.int32, name="max_new_tokens"),
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.float32, name="top_p"),
            tf.TensorSpec([], tf.int64, name="seed"),
        ]
    )
    def generate(self, prompt, max_new_tokens, temperature, top_k, top_p, seed):
        prompt = checked_texts(prompt, "prompt", self.limits)
        max_new_tokens, temperature, top_k, top_p = (
            checked_option(value, name, self.limits)
            for name, value in (
                ("max_new_tokens", max_new_tokens),
                ("temperature", temperature),
                ("top_k", top_k),
                ("top_p", top_p),
            )
        )
        ids = self.prompt_ids(prompt)
        dense = ids.to_tensor(default_value=tf.constant(0, ids.dtype))
        # Every prompt has at least [BOS]; only an empty batch has no column, and the LSTMs
        # cannot run zero steps: give it one (masked) column.
        dense = tf.pad(dense, [[0, 0], [0, tf.maximum(1 - tf.shape(dense)[1], 0)]])
        mask = tf.sequence_mask(ids.row_lengths(), tf.shape(dense)[1])
        logits, states = self.model.prefill(dense, mask)
        tokens = tf.TensorArray(tf.int64, size=max_new_tokens)
        for index in tf.range(max_new_tokens):
            token = sample_next(
                logits, temperature, top_k, top_p, tf.stack([seed, tf.cast(index, tf.int64)])
            )
            tokens = tokens.write(index, token)
            logits, states = self.model.step(token, states)
        # Stacking an empty TensorArray fails (its element shape is unknown).
        generated = tf.cond(
            max_new_tokens > 0,
            lambda: tf.transpose(tokens.stack()),
            lambda: tf.zeros([tf.shape(prompt)[0], 0], tf.int64),
        )
        generated = tf.reshape(generated, [tf.shape(prompt)[0], max_new_tokens])
        # Special ids (padding, unknown, BOS, EOS) print as nothing.
        pieces = tf.where(
            generated < self.num_special, tf.constant(""), tf.gather(self.tokens, generated)
        )
        text = tf.strings.reduce_join(pieces, axis=-1, separator=self.separator)
        if self.separator == " ":
            text = tf.strings.regex_replace(text, " ##", "")
        return {"text": text, "token_ids": generated}
