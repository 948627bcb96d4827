"""ForecastPredictor: `nlp_lstm.load(path).forecast(history)` for a forecasting export."""

import numpy as np
import tensorflow as tf

from nlp_lstm.tasks.predictor import Predictor


class ForecastPredictor(Predictor):
    """Forecasts from a forecasting export: raw history in, raw forecast out.

    `forecast(history, timestamps=None)` takes one window [L, columns] (or a batch
    [n, L, columns]) of the columns in `columns` order and returns a float array [H, targets]
    (or [n, H, targets]). An export with calendar features (`calendar_features` is not None)
    also needs the timestamps of the history rows, [L] (or [n, L]): int seconds since
    1970-01-01, or anything numpy turns into datetime64[s] (ISO strings, datetime64 values).
    """

    @property
    def columns(self):
        return list(self.metadata["columns"])

    @property
    def target_columns(self):
        return list(self.metadata["target_columns"])

    @property
    def calendar_features(self):
        """The export's calendar switches {hour, weekday, month}, or None (no timestamps)."""
        return self.metadata.get("calendar_features")

    def forecast(self, history, timestamps=None, batch_size=None):
        array = np.asarray(history, dtype=np.float32)
        single = array.ndim == 2
        array = array[np.newaxis] if single else array
        length, columns = self.metadata["input_length"], len(self.columns)
        if array.ndim != 3 or array.shape[1:] != (length, columns):
            raise ValueError(
                f"`history` must have shape [{length}, {columns}] (or [n, {length},"
                f" {columns}]): the last {length} rows of {self.columns}. Received "
                f"shape {list(np.shape(history))}."
            )
        if not np.isfinite(array).all():
            row = int(np.argwhere(~np.isfinite(array))[0][1])
            raise ValueError(
                f"`history` holds a NaN or infinite value (row {row} of a window). Fill it first."
            )
        signature = self.signature("forecast")
        if self.calendar_features is None:
            if timestamps is not None:
                raise ValueError(
                    "This export has no calendar features and takes no "
                    "`timestamps`; call forecast(history) without them."
                )
            parts = [
                signature(history=tf.constant(batch))["forecast"].numpy()
                for batch in self.batches(array, batch_size)
            ]
        else:
            seconds = self.seconds(timestamps, array.shape[:2], single)
            parts = [
                signature(history=tf.constant(batch), timestamps=tf.constant(times))[
                    "forecast"
                ].numpy()
                for batch, times in zip(
                    self.batches(array, batch_size), self.batches(seconds, batch_size)
                )
            ]
        out = (
            np.concatenate(parts)
            if parts
            else np.zeros([0, self.metadata["horizon"], len(self.target_columns)], np.float32)
        )
        return out[0] if single else out

    def seconds(self, timestamps, shape, single):
        """`timestamps` as int64 seconds of shape `shape` ([n, L]), or a ValueError."""
        length = self.metadata["input_length"]
        expected = f"[{length}]" if single else f"[{shape[0]}, {length}]"
        if timestamps is None:
            raise ValueError(
                f"This export has calendar features "
                f"({self.calendar_features}): pass `timestamps`, the times of "
                f"the history rows, shape {expected} (int seconds since "
                f"1970-01-01, or datetime64 / ISO strings)."
            )
        array = np.asarray(timestamps)
        if array.dtype.kind in "iu":
            seconds = array.astype(np.int64)
        elif array.dtype.kind in "fcb":  # numpy would cast these to datetimes, silently
            raise ValueError(
                f"`timestamps` must be int seconds since 1970-01-01 or datetimes "
                f"(datetime64, ISO strings). Received dtype {array.dtype}."
            )
        else:
            try:
                times = array.astype("datetime64[s]")
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"`timestamps` must be int seconds since 1970-01-01 or values "
                    f"numpy turns into datetime64[s]. Received dtype "
                    f"{array.dtype} ({err})."
                ) from err
            if np.isnat(times).any():
                raise ValueError(
                    "`timestamps` holds a missing time (NaT). Give the time of every history row."
                )
            seconds = times.astype(np.int64)
        seconds = seconds[np.newaxis] if single and seconds.ndim == 1 else seconds
        if seconds.shape != tuple(shape):
            raise ValueError(
                f"`timestamps` must have shape {expected}, one per history row. "
                f"Received shape {list(array.shape)}."
            )
        return seconds
