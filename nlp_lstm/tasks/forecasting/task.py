"""Forecasting: a series -> z-score scaler -> windows -> an LSTM forecaster -> raw forecasts.

The stages are `[zscore_scaler, windower]` or `[zscore_scaler, calendar_features, windower]`:
the scaler adapts on the train rows (per column), the calendar features (hour, weekday, month of
each row's timestamp, in [-0.5, 0.5], not scaled) become K extra input channels after the C
value channels, and the windower cuts windows of `input_length` rows of history and `horizon`
rows of targets. Targets are always value columns; the baselines and the linear peer see only
the values. The model trains on z-scored values (MSE). Metrics, on every window of a split: MSE
and MAE on the z-scored values (the ETT papers' protocol) and on the original scale, the MSE per
horizon step, and the same for the baselines (Repeat, seasonal naive, the in-run linear peer).
The export's `forecast` signature takes raw history [batch, L, columns] (and, with calendar
features, `timestamps` [batch, L], int64 seconds since 1970-01-01 of each history row) and
returns raw forecasts [batch, H, targets]: the scaler and the calendar features are inside the
graph."""

import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from nlp_lstm import artifacts
from nlp_lstm.data import inputs
from nlp_lstm.data import series as series_lib
from nlp_lstm.errors import ConfigError, ExportError, InputDataError
from nlp_lstm.models import check_cudnn, cudnn_report
from nlp_lstm.stages import CalendarFeatures, Windower, ZScoreScaler
from nlp_lstm.stages.preprocessor import build_stages
from nlp_lstm.tasks.base import Task, register_task
from nlp_lstm.tasks.forecasting import metrics as fm
from nlp_lstm.tasks.forecasting.predictor import ForecastPredictor
from nlp_lstm.tasks.forecasting.serving import ForecastServing
from nlp_lstm.tasks.predictor import predict_batches

STAGE_CHAINS = (
    "[{type: zscore_scaler}, {type: windower, input_length: L, horizon: H}]",
    "[{type: zscore_scaler}, {type: calendar_features, hour: true, weekday: true, "
    "month: true}, {type: windower, input_length: L, horizon: H}]",
)

PLOT_WINDOWS = 3


class ForecastStages:
    """The forecasting stage chain, `[ZScoreScaler, Windower]` or `[ZScoreScaler,
    CalendarFeatures, Windower]`, as `task.preprocessor`.

    Args:
        stages: list. The scaler, the calendar features if any, then the windower.
    """

    def __init__(self, stages):
        self.stages = list(stages)
        self.scaler, self.windower = self.stages[0], self.stages[-1]
        self.calendar = self.stages[1] if len(self.stages) == 3 else None

    @property
    def covariate_channels(self):
        """K, the calendar features per row (0 without the stage)."""
        return 0 if self.calendar is None else self.calendar.num_features

    def get_config(self):
        return [stage.get_config() for stage in self.stages]

    @classmethod
    def from_config(cls, config):
        kinds = (
            (ZScoreScaler, Windower)
            if len(config) == 2
            else (ZScoreScaler, CalendarFeatures, Windower)
        )
        return cls([kind(**entry) for kind, entry in zip(kinds, config)])


@register_task("forecasting")
class ForecastingTask(Task):
    """A series, z-scored (optionally with calendar features) and windowed; an LSTM forecaster
    trained on MSE.

    Args:
        config: PipelineConfig with task: forecasting.
        preprocessor: ForecastStages, or None when a run directory restores it.
    """

    injected_model_args = (
        "input_length",
        "horizon",
        "input_channels",
        "covariate_channels",
        "target_indices",
    )
    history_metrics = ("loss", "mse", "mae")
    counts_padding = False
    predictor = ForecastPredictor
    cli_verb = "forecast"
    limit_keys = ("max_batch_rows",)
    signature_names = ("forecast",)
    default_signature = "forecast"
    mergeable_signatures = signature_names
    config_keys = (
        "data.format",
        "data.delimiter",
        "data.timestamp_column",
        "data.timestamp_format",
        "data.feature_columns",
        "data.target_columns",
        "data.variables",
        "data.split",
        "data.split_borders",
        "data.fill_gaps",
        "train.loss",
        "evaluate.seasonal_period",
    )

    def __init__(self, config, preprocessor):
        super().__init__(config, preprocessor)
        self.columns = self.target_columns = None  # what the run was trained on (restored)
        self.linear_peer = None
        self._series = None  # the model's input rows: z-scored values, then calendar features

    @property
    def scaler(self):
        return self.preprocessor.scaler

    @property
    def windower(self):
        return self.preprocessor.windower

    @property
    def calendar(self):
        return self.preprocessor.calendar

    @classmethod
    def from_config(cls, config):
        where = config.where("stages")
        stages = build_stages(config.stages, "stages", where)
        kinds = [type(stage) for stage in stages]
        if kinds not in ([ZScoreScaler, Windower], [ZScoreScaler, CalendarFeatures, Windower]):
            names = [stage.registry_name for stage in stages]
            raise ConfigError(
                f"task: forecasting needs the stages {STAGE_CHAINS[0]} or "
                f"{STAGE_CHAINS[1]} (the calendar switches are optional); {where} "
                f"lists {names}. Change the stages to one of those chains."
            )
        task = cls(config, ForecastStages(stages))
        task.check_model_entry()
        return task

    # -- data ------------------------------------------------------------------------------------
    def read_data(self):
        return series_lib.read_series(self.config)

    def read(self):
        super().read()
        self._series = None
        return self.data

    def read_file(self, path):
        data = series_lib.read_series(self.config, path)
        trained = self.columns or data.columns, self.target_columns or data.target_columns
        if (data.columns, data.target_columns) != trained:
            raise InputDataError(
                f"The file gives the columns {data.columns} -> "
                f"{data.target_columns}; the run was trained on {trained[0]} -> "
                f"{trained[1]}. Give a table with those columns.",
                path=path,
            )
        self.data, self._series = data, None
        return self.data

    def describe_data(self):
        data = self.data
        return (
            f"{super().describe_data()} rows, columns {data.columns} -> "
            f"{data.target_columns}, step {data.step} s"
        )

    def describe_stages(self):
        w, calendar = self.windower, self.calendar
        features = (
            ""
            if calendar is None
            else ", calendar features "
            + "+".join(key for key in calendar.config_keys if getattr(calendar, key))
        )
        return (
            f"stages: z-score of {len(self.scaler.mean)} columns{features}, "
            f"L={w.input_length}, H={w.horizon}, stride {w.stride}"
        )

    def adapt(self):
        start, end = self.data.splits["train"]
        self.scaler.adapt(self.data.values[start:end])

    def model_series(self):
        """The model's input rows [rows, C + K]: the z-scored values, then the calendar
        features of each row's timestamp (K = 0 without the calendar stage)."""
        if self._series is None:
            parts = [self.scaler(self.data.values).numpy()]
            if self.calendar is not None:
                parts.append(self.calendar(tf.constant(self.data.timestamps, tf.int64)).numpy())
            self._series = np.concatenate(parts, axis=1)
        return self._series

    def scaled(self):
        """The z-scored values [rows, C]."""
        return self.model_series()[:, : len(self.scaler.mean)]

    def starts(self, split):
        """Target start rows of the windows of `split` (every one, stride apart)."""
        starts = self.windower.target_starts(*self.data.splits[split])
        if not len(starts):
            first, end = self.data.splits[split]
            raise ConfigError(
                f"The {split} split (rows {first}..{end}) holds no window of "
                f"input_length={self.windower.input_length} and horizon="
                f"{self.windower.horizon}. Lower them (stages["
                f"{len(self.preprocessor.stages) - 1}]) or give it more rows."
            )
        return starts

    def windows(self, split):
        """(history [n, L, C + K], targets [n, H, targets]) of a split, z-scored, numpy; the
        history's first C channels are the values, then the K calendar features."""
        x, y = self.windower.gather(tf.constant(self.model_series()), self.starts(split))
        return x.numpy(), y.numpy()[:, :, self.data.target_indices]

    def datasets(self, split, training=False, counter=None):
        """Batched (z-scored history and calendar features, z-scored targets); shuffled for
        training."""
        starts = self.starts(split)
        series, targets = tf.constant(self.model_series()), list(self.data.target_indices)
        dataset = tf.data.Dataset.from_tensor_slices(starts)
        if training:
            # Each epoch's order is a function of (seed, epoch), so a resumed run repeats it.
            dataset = inputs.shuffled_per_epoch(dataset, len(starts), self.config.seed)
        batch = self.config.train.batch_size if training else self.config.evaluate.batch_size

        def window(s):
            x, y = self.windower.gather(series, s)
            return x, tf.gather(y, targets, axis=-1)

        return dataset.batch(batch).map(window).prefetch(tf.data.AUTOTUNE)

    def steps_per_epoch(self):
        return max(math.ceil(len(self.starts("train")) / self.config.train.batch_size), 1)

    # -- model -----------------------------------------------------------------------------------
    def model_arguments(self):
        return {
            "input_length": self.windower.input_length,
            "horizon": self.windower.horizon,
            "input_channels": len(self.scaler.mean),
            "covariate_channels": self.preprocessor.covariate_channels,
            "target_indices": self.data.target_indices,
        }

    def leakage_units(self):
        """None: the splits are disjoint, time-ordered row ranges, so no target row is shared."""
        return None, None

    def placeholder_model_args(self):
        # The window is known from the stages before any data is read; the channels are not.
        channels = len(self.config.data.feature_columns or ()) or 16
        return {
            "input_length": self.windower.input_length,
            "horizon": self.windower.horizon,
            "input_channels": channels,
            "covariate_channels": self.preprocessor.covariate_channels,
            "target_indices": [0],
        }

    def example_inputs(self):
        channels = len(self.scaler.mean) + self.preprocessor.covariate_channels
        return np.zeros([1, self.windower.input_length, channels], np.float32)

    def build_model(self):
        """The model; a `linear_skip` map starts as the in-run linear peer's least-squares fit
        (a resumed run then loads its checkpoint over it)."""
        model = super().build_model()
        if getattr(model, "skip", None) is not None:
            model.set_linear_map(self.fit_linear_peer().weights)
        return model

    def cudnn_report(self):
        report = cudnn_report(self.model)
        check_cudnn(report, self.config.train.strict_cudnn)
        return report

    def compile_arguments(self):
        return {"loss": self.config.train.loss, "metrics": ["mse", "mae"]}

    # -- evaluation ------------------------------------------------------------------------------
    def fit_linear_peer(self):
        if self.linear_peer is None:
            x, y = self.windows("train")
            targets = self.data.target_indices
            self.linear_peer = fm.LinearPeer().fit(x[:, :, targets], y)
        return self.linear_peer

    def predict_scaled(self, split):
        predict = predict_batches(self.model)
        return np.concatenate(
            [tf.cast(predict(x), tf.float32).numpy() for x, _ in self.datasets(split)]
        )

    def evaluate(self, run_dir, splits=None):
        """Model and baselines on every window of each split: z-scored and raw errors."""
        metrics, targets = {}, self.data.target_indices
        peer = self.fit_linear_peer() if self.has_split("train") else None
        for split in splits or self.config.evaluate.splits:
            if not self.has_split(split):
                continue
            x, y = self.windows(split)
            history = x[:, :, targets]
            horizon = self.windower.horizon
            forecasts = {
                "model": self.predict_scaled(split),
                "repeat": fm.repeat_last(history, horizon),
                "seasonal_naive": fm.seasonal_naive(
                    history, horizon, self.config.evaluate.seasonal_period
                ),
            }
            if peer is not None:
                forecasts["linear"] = peer.predict(history)
            raw_truth = self.scaler.inverse(y, targets).numpy()
            scores = {}
            for name, forecast in forecasts.items():
                if forecast is None:
                    scores[name] = None
                    continue
                raw = self.scaler.inverse(forecast.astype(np.float32), targets).numpy()
                scores[name] = {
                    **fm.errors(forecast, y),
                    **{f"raw_{k}": v for k, v in fm.errors(raw, raw_truth).items()},
                    "mse_per_step": fm.per_step_mse(forecast, y),
                }
            metrics[split] = {
                **{k: v for k, v in scores["model"].items()},
                "num_windows": int(len(y)),
                "windows": f"all (stride {self.windower.stride}, no drop_last)",
                "baselines": {k: v for k, v in scores.items() if k != "model"},
            }
            self.plot(run_dir, split, x, y, forecasts, scores)
        return metrics

    def plot(self, run_dir, split, x, y, forecasts, scores):
        column = self.data.target_indices[0]
        picks = np.linspace(0, len(y) - 1, PLOT_WINDOWS).astype(int)
        windows = [
            (
                x[i, :, column],
                y[i, :, 0],
                {name: f[i, :, 0] for name, f in forecasts.items() if f is not None},
            )
            for i in picks
        ]
        curves = {name: s["mse_per_step"] for name, s in scores.items() if s}
        fm.plot_forecasts(
            windows,
            curves,
            Path(run_dir) / f"forecast_{split}.png",
            f"{self.config.name}: {split}, {self.data.target_columns[0]} (z-scored)",
        )

    # -- export ----------------------------------------------------------------------------------
    def serving_module(self):
        return ForecastServing(
            self.scaler,
            self.model,
            self.windower.input_length,
            self.data.target_indices,
            self.limits_of(self.config.export.limits),
            self.calendar,
        )

    def signatures(self, module):
        return {"forecast": module.forecast}

    def verify_export(self, export_dir, module):
        """Reloads the SavedModel and compares its raw forecasts with the in-memory module (on
        raw history, and the history rows' timestamps when the export takes them)."""
        split = next(s for s in ("validation", "test", "train", "data") if self.has_split(s))
        starts = self.starts(split)[:16]
        history, _ = self.windower.gather(tf.constant(self.data.values, tf.float32), starts)
        feeds = {"history": history}
        if self.calendar is not None:
            feeds["timestamps"], _ = self.windower.gather(
                tf.constant(self.data.timestamps, tf.int64), starts
            )
        loaded = tf.saved_model.load(str(export_dir))
        got = loaded.signatures["forecast"](**feeds)["forecast"].numpy()
        expected = module.forecast(**feeds)["forecast"].numpy()
        scale = 1.0 + float(np.max(np.abs(expected)))
        difference = float(np.max(np.abs(got - expected)))
        if not np.isfinite(got).all() or difference > 1e-4 * scale:
            raise ExportError(
                f"The reloaded SavedModel disagrees with the trained model (max abs "
                f"difference {difference:.2e}). The export is not trustworthy."
            )
        return {"max_abs_difference": difference}

    def export_metadata(self):
        data, calendar = self.data, self.calendar
        switches = (
            None
            if calendar is None
            else {key: getattr(calendar, key) for key in calendar.config_keys}
        )
        return {
            **super().export_metadata(),
            "signature": "forecast",
            "signature_inputs": ["history"] + ([] if calendar is None else ["timestamps"]),
            "calendar_features": switches,
            "input_length": self.windower.input_length,
            "horizon": self.windower.horizon,
            "columns": data.columns,
            "target_columns": data.target_columns,
            "timestamp_column": self.config.data.timestamp_column,
            "timestamp_format": self.config.data.timestamp_format,
            "step_seconds": data.step,
            "weekdays_only": data.weekdays_only,
        }

    # -- saving and loading a run ----------------------------------------------------------------
    def state(self):
        data = self.data
        return {
            "stages": self.preprocessor.get_config(),
            "columns": data.columns,
            "target_columns": data.target_columns,
        }

    def restore(self, state):
        self.preprocessor, self._series = ForecastStages.from_config(state["stages"]), None
        self.columns, self.target_columns = state["columns"], state["target_columns"]

    def save_state(self, run_dir):
        artifacts.atomic_write_json(Path(run_dir) / "preprocessor.json", self.state())
