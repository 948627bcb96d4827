"""Predictor: plain Python over one loaded export (strings in, Python objects out), the base of
every task's predictor; batching within the export's limits and a progress bar.
"""

import tensorflow as tf


class Predictor:
    """Plain Python over one loaded export: a string or a list of strings in, Python objects out.

    Long lists are cut into batches of `batch_size` (at most the export's
    `limits.max_batch_rows`); `progress=True` shows a progress bar. The
    task modules subclass it (`ClassifierPredictor`, `TranslatorPredictor`, `GeneratorPredictor`);
    `nlp_lstm.load(path)` picks the right one.

    Args:
        loaded: the object `tf.saved_model.load` returned for the export.
        metadata: dict. What the export says of itself (task, signatures, labels, defaults).
        limits: dict. What one call of the export may ask for (`Task.load_predictor` reads it
            from the metadata).
        batch_size: int or None. Inputs per call of a signature (None: 64, or the export's
            limits.max_batch_rows when that is lower).
        progress: bool. Show a progress bar over the batches (tqdm).
    """

    def __init__(self, loaded, metadata, limits, batch_size=None, progress=False):
        if batch_size is None:
            batch_size = min(64, limits["max_batch_rows"])
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(
                f"`batch_size` must be an int >= 1. Received: batch_size={batch_size!r}."
            )
        self.loaded = loaded
        self.metadata = metadata
        # What one call may ask for: the export's limits (the defaults for an older export).
        self.limits = limits
        self.batch_size = self.check_batch_size(batch_size)
        self.progress = progress

    @property
    def task(self):
        """The name of the export's task (its metadata's `task`)."""
        return self.metadata["task"]

    def __repr__(self):
        return f"<{type(self).__name__} of {self.metadata.get('path', 'an export')}>"

    def signature(self, name):
        return self.loaded.signatures[name]

    def check_batch_size(self, batch_size):
        """`batch_size`, or a ValueError when one call of the export would not take it."""
        limit = self.limits["max_batch_rows"]
        if batch_size > limit:
            raise ValueError(
                f"`batch_size` must be at most {limit} (this export's "
                f"limits.max_batch_rows). Received: batch_size={batch_size}."
            )
        return batch_size

    def batches(self, items, batch_size=None):
        """`items` in slices of `batch_size`, with a progress bar when asked for."""
        size = self.check_batch_size(batch_size) if batch_size else self.batch_size
        starts = range(0, len(items), size)
        if self.progress and len(starts) > 1:
            from tqdm.auto import tqdm

            starts = tqdm(starts, unit="batch", desc=type(self).__name__)
        for start in starts:
            yield items[start : start + size]


def as_text_list(texts, name="texts"):
    """(list of str, whether one string was given), or a ValueError naming what is wrong."""
    if isinstance(texts, str):
        return [texts], True
    if isinstance(texts, (list, tuple)):
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(
                    f"`{name}[{index}]` must be a string. Received: "
                    f"{type(text).__name__} {text!r:.60}."
                )
        return list(texts), False
    raise ValueError(
        f"`{name}` must be a string or a list of strings. Received: {type(texts).__name__}."
    )


def predict_batches(model):
    """A traced inference call of `model` that retraces only for new shape classes."""
    return tf.function(lambda x: model(x, training=False), reduce_retracing=True)
