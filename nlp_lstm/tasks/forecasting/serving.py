"""The forecaster's serving module: a raw history window in (scaling in the graph), forecasts in
the data's units out.
"""

import tensorflow as tf

from nlp_lstm.export.limits import checked_windows


class ForecastServing(tf.Module):
    """Raw history [batch, L, columns] -> scaler -> model -> inverse scaler -> raw forecast.

    Without calendar features the signature is `forecast(history)`; with them it is
    `forecast(history, timestamps)`, `timestamps` [batch, L] int64 seconds since 1970-01-01 of
    each history row, whose calendar features the graph computes and appends to the z-scored
    history. It refuses (InvalidArgumentError) more than `limits["max_batch_rows"]` windows, a
    NaN or infinite value, or timestamps of another batch size, before the model runs.

    Args:
        scaler: ZScoreScaler. Adapted on the train rows of the input columns.
        model: a forecaster (z-scored history, then the calendar features, in; z-scored targets
            out).
        input_length: int. L.
        target_indices: list of int. The predicted columns among the inputs.
        limits: dict. `export.limits` (max_batch_rows), baked into the graph.
        calendar: CalendarFeatures or None. The calendar stage, when the chain has one.
    """

    def __init__(self, scaler, model, input_length, target_indices, limits, calendar=None):
        super().__init__(name="nlp_lstm_forecaster")
        self.scaler = scaler
        self.model = model
        self.calendar = calendar
        self.target_indices = list(target_indices)
        self.limits = dict(limits)
        specs = [tf.TensorSpec([None, input_length, len(scaler.mean)], tf.float32, name="history")]
        if calendar is None:
            self.forecast = tf.function(self._forecast, input_signature=specs)
        else:
            specs.append(tf.TensorSpec([None, input_length], tf.int64, name="timestamps"))
            self.forecast = tf.function(self._forecast_with_calendar, input_signature=specs)

    def _forecast(self, history):
        history = checked_windows(history, "history", self.limits)
        return self._raw_forecast(self.scaler(history))

    def _forecast_with_calendar(self, history, timestamps):
        history = checked_windows(history, "history", self.limits)
        same_rows = tf.debugging.assert_equal(
            tf.shape(timestamps)[0],
            tf.shape(history)[0],
            message="`timestamps` must have one row per window of `history` (the same batch size)",
        )
        with tf.control_dependencies([same_rows]):
            features = self.calendar(timestamps)
        return self._raw_forecast(tf.concat([self.scaler(history), features], axis=-1))

    def _raw_forecast(self, inputs):
        scaled = self.model(inputs, training=False)
        return {"forecast": self.scaler.inverse(tf.cast(scaled, tf.float32), self.target_indices)}
