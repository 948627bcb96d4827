"""Sampling in the graph: prompt in, text out, carrying the LSTM states one token at a time.

`TextGenerator` is a tf.Module used both in process and as the exported SavedModel. Its
`generate` signature takes a batch of prompts and scalar sampling settings (max_new_tokens,
temperature, top_k, top_p, seed); the same seed gives the same text.
"""

import tensorflow as tf

BOS_ID = 2


def sample_next(logits, temperature, top_k, top_p, seed):
    """Next token ids [batch] from float32 logits [batch, vocab].

    temperature <= 0 is greedy. top_k > 0 keeps the k most likely tokens; top_p < 1 keeps the
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
        tf.stack([tf.repeat(tf.range(tf.shape(order)[0]), vocabulary),
                  tf.reshape(order, [-1])], axis=1),
        tf.reshape(keep_sorted, [-1]), tf.shape(scaled))
    scaled = tf.where(keep, scaled, tf.fill(tf.shape(scaled), -1e9))
    sampled = tf.reshape(tf.random.stateless_categorical(scaled, 1, seed=seed,
                                                         dtype=tf.int64), [-1])
    return tf.where(temperature <= 0.0, greedy, sampled)


class TextGenerator(tf.Module):
    """Stages (text -> ids) + LSTMCausalLM + id -> token lookup, with an in-graph sampling loop.

    Args:
        stages: list of stages ending with a vocabulary.
        model: LSTMCausalLM.
        vocabulary: list of str. Tokens by id.
        separator: str. Joins generated tokens ("" for characters, " " for words).
    """

    def __init__(self, stages, model, vocabulary, separator):
        super().__init__(name="nlp_lstm_generator")
        self.stages = list(stages)
        self.model = model
        self.separator = separator
        self.tokens = tf.constant(vocabulary, dtype=tf.string)
        self.num_special = 4

    def prompt_ids(self, prompt):
        x = prompt
        for stage in self.stages:
            x = stage(x)
        # Rows without a token start from [BOS], so every row has a state to carry.
        lengths = tf.cast(tf.equal(x.row_lengths(), 0), x.row_splits.dtype)
        bos = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(lengths)], tf.constant(BOS_ID, x.dtype)), lengths)
        return tf.concat([bos, x], axis=1)

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="prompt"),
        tf.TensorSpec([], tf.int32, name="max_new_tokens"),
        tf.TensorSpec([], tf.float32, name="temperature"),
        tf.TensorSpec([], tf.int32, name="top_k"),
        tf.TensorSpec([], tf.float32, name="top_p"),
        tf.TensorSpec([], tf.int64, name="seed")])
    def generate(self, prompt, max_new_tokens, temperature, top_k, top_p, seed):
        ids = self.prompt_ids(prompt)
        dense = ids.to_tensor(default_value=tf.constant(0, ids.dtype))
        mask = tf.sequence_mask(ids.row_lengths(), tf.shape(dense)[1])
        logits, states = self.model.prefill(dense, mask)
        tokens = tf.TensorArray(tf.int64, size=tf.maximum(max_new_tokens, 0))
        for index in tf.range(tf.maximum(max_new_tokens, 0)):
            token = sample_next(logits, temperature, top_k, top_p,
                                tf.stack([seed, tf.cast(index, tf.int64)]))
            tokens = tokens.write(index, token)
            logits, states = self.model.step(token, states)
        generated = tf.transpose(tokens.stack())
        generated = tf.reshape(generated, [tf.shape(prompt)[0], -1])
        # Special ids (padding, unknown, BOS, EOS) print as nothing.
        pieces = tf.where(generated < self.num_special, tf.constant(""),
                          tf.gather(self.tokens, generated))
        text = tf.strings.reduce_join(pieces, axis=-1, separator=self.separator)
        if self.separator == " ":
            text = tf.strings.regex_replace(text, " ##", "")
        return {"text": text, "token_ids": generated}
