"""Peer: the sampling loop of the Keras character-LSTM example.

keras.io's "Character-level text generation with LSTM" seeds generation with a 40-character slice
of the text and, for every new character, runs the model on the last 40 characters with
`model.predict` and samples the next one from the temperature-scaled softmax in NumPy. Nothing is
carried from one character to the next, so every character re-runs the whole window. The stage
chain, the separator and the special ids (which print as nothing) come from the run's
preprocessor, as in the export.
"""

import numpy as np
import tensorflow as tf


class NaiveWindowGenerator:
    """Generates text by re-running a fixed window of the last characters for each new one.

    Args:
        task: GenerationTask. A trained run's task, as `nlp_lstm.pipeline.load_run` restores it.
        window: int. Characters the model sees for each prediction (40 in the Keras example).

    Example:
        generator = NaiveWindowGenerator(load_run(run_dir, with_data=False).task)
        generator.generate("ROMEO:", num_characters=100, temperature=0.8, seed=0)
    """

    def __init__(self, task, window=40):
        self.preprocessor = task.preprocessor
        self.model = task.model
        self.vocabulary = task.preprocessor.vocabulary.vocabulary
        self.separator = task.preprocessor.separator
        # Special ids (padding, unknown, start, end) print as nothing, as in the export.
        self.num_special = task.preprocessor.num_special
        self.window = window

    def prompt_ids(self, prompt):
        return self.preprocessor(tf.constant([prompt], tf.string)).numpy()[0].tolist()

    def generate(self, prompt, num_characters, temperature, seed):
        """`num_characters` new characters after `prompt` (the prompt is not repeated)."""
        rng = np.random.default_rng(seed)
        ids = self.prompt_ids(prompt)
        new = []
        for _ in range(num_characters):
            context = np.asarray((ids + new)[-self.window :], np.int64)[None, :]
            logits = self.model.predict(context, verbose=0)[0, -1].astype(np.float64)
            logits /= temperature
            probabilities = np.exp(logits - logits.max())
            new.append(int(rng.choice(len(probabilities), p=probabilities / probabilities.sum())))
        return self.separator.join(self.vocabulary[i] for i in new if i >= self.num_special)
