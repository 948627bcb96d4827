"""Generation metrics beside the loss: the unigram entropy of the sampled text."""

import numpy as np

from nlp_lstm.tasks.generation import streaming


def unigram_entropy_bits(tokens):
    """Entropy of the token frequency distribution, in bits per token; `tokens` is an int array
    or a streamed split's `streaming.TokenIds` (counted block by block)."""
    counts = streaming.token_counts(tokens)
    probs = counts[counts > 0] / counts.sum()
    return float(-(probs * np.log2(probs)).sum())
