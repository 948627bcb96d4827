"""Peer: the sampling loop of the Keras character-LSTM example.

keras.io's "Character-level text generation with LSTM" seeds generation with a 40-character slice
of the text and, for every new character, runs the model on the last 40 characters with
`model.predict` and samples the next one from the temperature-scaled softmax in NumPy. Nothing is
carried from one character to the next, so every character re-runs the whole window.
"""

import numpy as np
import tensorflow as tf

NUM_SPECIAL = 4  # ids 0-3 (padding, unknown, start, end) print as nothing, as in the export


class NaiveWindowGenerator:
    """Generates text by re-running a fixed window of the last characters for each new one.

    Args:
        pipeline: LanguageModelPipeline. A trained run, as `nlp_lstm.pipeline.load_run` returns it.
        window: int. Characters the model sees for each prediction (40 in the Keras example).

    Example:
        generator = NaiveWindowGenerator(load_run(run_dir, with_data=False))
        generator.generate("ROMEO:", num_characters=100, temperature=0.8, seed=0)
    """

    def __init__(self, pipeline, window=40):
        self.stages = pipeline.stages
        self.model = pipeline.model
        self.vocabulary = pipeline.vocabulary.vocabulary
        self.separator = pipeline.separator
        self.window = window

    def prompt_ids(self, prompt):
        x = tf.constant([prompt], tf.string)
        for stage in self.stages:
            x = stage(x)
        return x.numpy()[0].tolist()

    def generate(self, prompt, num_characters, temperature, seed):
        """`num_characters` new characters after `prompt` (the prompt is not repeated)."""
        rng = np.random.default_rng(seed)
        ids = self.prompt_ids(prompt)
        new = []
        for _ in range(num_characters):
            context = np.asarray((ids + new)[-self.window:], np.int64)[None, :]
            logits = self.model.predict(context, verbose=0)[0, -1].astype(np.float64)
            logits /= temperature
            probabilities = np.exp(logits - logits.max())
            new.append(int(rng.choice(len(probabilities),
                                      p=probabilities / probabilities.sum())))
        return self.separator.join(self.vocabulary[i] for i in new if i >= NUM_SPECIAL)
