"""Numeric stages for forecasting: a z-score scaler, a windower and calendar features.

They are Keras layers like the text stages, run on tf tensors in tf.data and in the SavedModel:
the scaler sits inside the exported graph, so an export takes raw values and returns raw values.
"""

import numpy as np
import tensorflow as tf

from nlp_lstm.stages.base import PreprocessingStage, register_stage


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be an int >= 1. Received: {name}={value!r}.")
    return value


@register_stage("zscore_scaler")
class ZScoreScaler(PreprocessingStage):
    """Per-column z-score: (x - mean) / std, with the mean and population std of the train rows.

    A column whose std is 0 (constant in train) is divided by 1. `inverse` maps scaled values
    of some columns back to the original scale.

    Args:
        mean: list of float or None. Per-column means (learned by `adapt` when None).
        std: list of float or None. Per-column standard deviations (ddof 0).

    Example:
    >>> import numpy as np, nlp_lstm
    >>> scaler = nlp_lstm.stages.ZScoreScaler()
    >>> scaler.adapt(np.array([[1.0, 10.0], [3.0, 10.0]]))
    >>> scaler.mean, scaler.std
    ([2.0, 10.0], [1.0, 1.0])
    >>> scaler(tf.constant([[3.0, 12.0]])).numpy()
    array([[1., 2.]], dtype=float32)
    >>> scaler.inverse(tf.constant([[1.0]]), [0]).numpy()
    array([[3.]], dtype=float32)
    """

    config_keys = ("mean", "std")
    requires_adapt = True
    adapt_hint = "Pass `mean=` and `std=` or call `adapt()` on the train rows first."

    def __init__(self, mean=None, std=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if (mean is None) != (std is None) or (mean is not None and len(mean) != len(std)):
            raise ValueError(
                f"Give `mean` and `std` together, one value per column. Received: "
                f"mean={mean!r}, std={std!r}."
            )
        if std is not None and any(not np.isfinite(s) or s <= 0 for s in std):
            raise ValueError(f"Every `std` must be a finite number > 0. Received: std={std!r}.")
        self.mean = None if mean is None else [float(m) for m in mean]
        self.std = None if std is None else [float(s) for s in std]

    @property
    def is_adapted(self):
        return self.mean is not None

    def adapt(self, dataset):
        """Learns the per-column mean and std of `dataset`: an array [rows, columns] or a
        tf.data dataset of such batches."""
        if isinstance(dataset, tf.data.Dataset):
            dataset = np.concatenate(list(dataset.as_numpy_iterator()))
        rows = np.asarray(dataset, dtype=np.float64)
        if rows.ndim != 2 or not len(rows):
            raise ValueError(f"`adapt` needs rows [rows, columns]. Received shape {rows.shape}.")
        std = rows.std(axis=0)
        self.mean = rows.mean(axis=0).tolist()
        self.std = np.where(std > 1e-12, std, 1.0).tolist()

    def call(self, inputs):
        self.check_adapted()
        inputs = tf.convert_to_tensor(inputs, tf.float32)
        return (inputs - tf.constant(self.mean, tf.float32)) / tf.constant(self.std, tf.float32)

    def inverse(self, scaled, columns=None):
        """Scaled values of `columns` (indices; None: all) back on the original scale."""
        self.check_adapted()
        columns = list(range(len(self.mean))) if columns is None else list(columns)
        mean = tf.constant([self.mean[c] for c in columns], tf.float32)
        std = tf.constant([self.std[c] for c in columns], tf.float32)
        return tf.convert_to_tensor(scaled, tf.float32) * std + mean


@register_stage("windower")
class Windower(PreprocessingStage):
    """Cuts a series [rows, columns] into (input window [L, columns], target window [H, columns]).

    A window whose targets start at row t takes rows [t - L, t) as input and [t, t + H) as
    targets; consecutive windows are `stride` rows apart. `target_starts(first, end)` lists the
    windows whose targets lie inside the rows [first, end) (inputs may come from before `first`).

    Args:
        input_length: int. L, the rows of history the model sees.
        horizon: int. H, the rows predicted at once.
        stride: int. Rows between the starts of consecutive windows.

    Example:
    >>> import numpy as np, nlp_lstm
    >>> windower = nlp_lstm.stages.Windower(input_length=3, horizon=2, stride=1)
    >>> x, y = windower(tf.reshape(tf.range(7.0), [7, 1]))
    >>> x.shape, y.shape
    (TensorShape([3, 3, 1]), TensorShape([3, 2, 1]))
    >>> y[0, :, 0].numpy()
    array([3., 4.], dtype=float32)
    >>> windower.target_starts(4, 7).tolist()
    [4, 5]
    """

    config_keys = ("input_length", "horizon", "stride")

    def __init__(self, input_length, horizon, stride=1, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.input_length = _positive_int("input_length", input_length)
        self.horizon = _positive_int("horizon", horizon)
        self.stride = _positive_int("stride", stride)

    def target_starts(self, first, end):
        """Target start rows of the windows whose targets lie in [first, end) and whose inputs
        start at row 0 or later."""
        return np.arange(
            max(first, self.input_length), end - self.horizon + 1, self.stride, dtype=np.int64
        )

    def gather(self, series, starts, axis=0):
        """(inputs [n, L, columns], targets [n, H, columns]) of the windows at `starts` (rows
        along `axis`: 1 for a batch of series, which gives [batch, n, L, columns])."""
        starts = tf.cast(starts, tf.int64)[:, tf.newaxis]
        past = starts + tf.range(-self.input_length, 0, dtype=tf.int64)[tf.newaxis]
        future = starts + tf.range(self.horizon, dtype=tf.int64)[tf.newaxis]
        return tf.gather(series, past, axis=axis), tf.gather(series, future, axis=axis)

    def call(self, series):
        series = tf.convert_to_tensor(series, tf.float32)
        # One series [rows, columns], or a batch of equally long ones [batch, rows, columns].
        axis = 1 if series.shape.rank == 3 else 0
        rows = tf.shape(series, out_type=tf.int64)[axis]
        starts = tf.range(self.input_length, rows - self.horizon + 1, self.stride, dtype=tf.int64)
        return self.gather(series, starts, axis)


def _civil_month(days):
    """Month 1..12 of days since 1970-01-01 (H. Hinnant's civil_from_days, integer ops)."""
    z = days + 719468
    era = tf.math.floordiv(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    return tf.where(mp < 10, mp + 3, mp - 9)


@register_stage("calendar_features")
class CalendarFeatures(PreprocessingStage):
    """Calendar features of timestamps (int64 seconds since 1970-01-01), each in [-0.5, 0.5].

    hour / 23 - 0.5, weekday / 6 - 0.5 (Monday 0) and (month - 1) / 11 - 0.5, as Informer's time
    features; the last axis holds the features switched on, in that order.

    Args:
        hour: bool. Include the hour of the day.
        weekday: bool. Include the day of the week.
        month: bool. Include the month of the year.

    Example:
    >>> import nlp_lstm
    >>> calendar = nlp_lstm.stages.CalendarFeatures()
    >>> # 2016-07-01 00:00 (a Friday) and 2017-12-31 23:00 (a Sunday)
    >>> calendar(tf.constant([1467331200, 1514761200], tf.int64)).numpy().round(3)
    array([[-0.5  ,  0.167,  0.045],
           [ 0.5  ,  0.5  ,  0.5  ]], dtype=float32)
    """

    config_keys = ("hour", "weekday", "month")

    def __init__(self, hour=True, weekday=True, month=True, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        for key, value in (("hour", hour), ("weekday", weekday), ("month", month)):
            if not isinstance(value, bool):
                raise ValueError(f"`{key}` must be true or false. Received: {key}={value!r}.")
        if not (hour or weekday or month):
            raise ValueError("Switch on at least one of hour, weekday and month.")
        self.hour, self.weekday, self.month = hour, weekday, month

    @property
    def num_features(self):
        return int(self.hour) + int(self.weekday) + int(self.month)

    def call(self, seconds):
        seconds = tf.cast(seconds, tf.int64)
        days = tf.math.floordiv(seconds, 86400)
        out = []
        if self.hour:
            out.append(tf.cast(tf.math.floormod(seconds, 86400) // 3600, tf.float32) / 23.0 - 0.5)
        if self.weekday:
            out.append(tf.cast(tf.math.floormod(days + 3, 7), tf.float32) / 6.0 - 0.5)
        if self.month:
            out.append(tf.cast(_civil_month(days) - 1, tf.float32) / 11.0 - 0.5)
        return tf.stack(out, axis=-1)
