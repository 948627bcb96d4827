"""Forecasting: the series reader's checks, split borders, the numeric stages, the models and
the baselines (the ETT checks skip when ../shared/data/ett is absent)."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.config.loading import config_from_dict
from nlp_lstm.data import series
from nlp_lstm.errors import ConfigError, InputDataError
from nlp_lstm.models import MODELS, LSTMForecaster, LSTMSeq2SeqForecaster, cudnn_report
from nlp_lstm.stages import CalendarFeatures, Windower, ZScoreScaler
from nlp_lstm.tasks import ForecastingTask
from nlp_lstm.tasks.forecasting import metrics as fm

ETT = Path(__file__).resolve().parents[3] / "shared" / "data" / "ett" / "ETTh1.csv"
HOUR = 3600


def write_series(path, rows=200, start="2024-01-01 00:00:00", step=HOUR, edit=None):
    """An hourly csv `date,a,b`; `edit(lines)` may change the text lines (0 is the header)."""
    t0 = np.datetime64(start, "s").astype(np.int64)
    lines = ["date,a,b"] + [
        f"{series._iso(t0 + i * step)},{np.sin(i / 5):.4f},{i * 0.1:.2f}" for i in range(rows)
    ]
    if edit:
        edit(lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def config_for(path, stages=(24, 6), **data):
    raw = {
        "task": "forecasting",
        "data": {"source": "files", "path": str(path), **data},
        "stages": [
            {"type": "zscore_scaler"},
            {"type": "windower", "input_length": stages[0], "horizon": stages[1]},
        ],
        "model": {"type": "lstm_forecaster", "units": 4},
    }
    return config_from_dict(raw)


# -- reading and checking ----------------------------------------------------------------------


def test_reads_columns_and_step(tmp_path):
    data = series.read_series(config_for(write_series(tmp_path / "s.csv")))
    assert data.columns == ["a", "b"] and data.target_columns == ["a", "b"]
    assert data.step == HOUR and data.values.shape == (200, 2)
    assert data.splits == {"train": (0, 160), "validation": (160, 180), "test": (180, 200)}


def test_missing_column_is_named(tmp_path):
    path = write_series(tmp_path / "s.csv")
    with pytest.raises(InputDataError, match=r"column 'OT'.*no column 'OT'.*date, a, b"):
        series.read_series(config_for(path, feature_columns=["a", "OT"]))
    with pytest.raises(InputDataError, match="no column 'time'"):
        series.read_series(config_for(path, timestamp_column="time"))


def test_non_numeric_cell_names_row_and_column(tmp_path):
    def edit(lines):
        lines[5] = lines[5].rsplit(",", 1)[0] + ",4.1x"

    path = write_series(tmp_path / "s.csv", edit=edit)
    with pytest.raises(InputDataError) as err:
        series.read_series(config_for(path))
    message = str(err.value)
    assert f"{path}:6" in message and "column 'b'" in message and "row 5" in message
    assert "'4.1x'" in message


def test_nan_cell_names_row(tmp_path):
    def edit(lines):
        date, a, b = lines[9].split(",")
        lines[9] = f"{date},,{b}"

    path = write_series(tmp_path / "s.csv", edit=edit)
    with pytest.raises(
        InputDataError,
        match=r"s.csv:10, column 'a': row 9 "
        r".*(empty or NaN|holds '', not a finite number)",
    ):
        series.read_series(config_for(path))


def test_duplicate_and_unordered_timestamps(tmp_path):
    def duplicate(lines):
        lines[4] = lines[3]

    with pytest.raises(InputDataError, match=r"s.csv:5, column 'date': row 4.*repeats"):
        series.read_series(config_for(write_series(tmp_path / "s.csv", edit=duplicate)))

    def swap(lines):
        lines[4], lines[5] = lines[5], lines[4]

    with pytest.raises(InputDataError, match="row 5.*comes before"):
        series.read_series(config_for(write_series(tmp_path / "t.csv", edit=swap)))


def test_gap_is_an_error_unless_filled(tmp_path):
    def gap(lines):
        del lines[50:53]  # rows 49, 50, 51 (0-based) go missing

    path = write_series(tmp_path / "s.csv", edit=gap)
    with pytest.raises(InputDataError, match=r"row 50 .*3 row\(s\) are missing.*fill_gaps"):
        series.read_series(config_for(path))
    forward = series.read_series(config_for(path, fill_gaps="forward"))
    linear = series.read_series(config_for(path, fill_gaps="linear"))
    assert len(forward.timestamps) == len(linear.timestamps) == 200
    assert np.all(np.diff(forward.timestamps) == HOUR)
    assert forward.values[49, 1] == forward.values[48, 1] == pytest.approx(4.8)
    assert linear.values[49, 1] == pytest.approx(4.9)
    kept = series.read_series(config_for(path, fill_gaps="keep"))
    assert len(kept.timestamps) == 197


def test_bad_timestamp_and_format(tmp_path):
    def edit(lines):
        lines[3] = "yesterday" + lines[3][19:]

    with pytest.raises(InputDataError, match="row 3.*'yesterday' is not a timestamp"):
        series.read_series(config_for(write_series(tmp_path / "s.csv", edit=edit)))
    path = tmp_path / "d.csv"
    path.write_text("Date,Close\n03-01-00,1.0\n04-01-00,2.0\n05-01-00,3.0\n", encoding="utf-8")
    data = series.read_series(
        config_for(path, stages=(1, 1), timestamp_column="Date", timestamp_format="%d-%m-%y")
    )
    assert series._iso(data.timestamps[0]).startswith("2000-01-03")


def test_variables_choose_inputs_and_targets(tmp_path):
    path = write_series(tmp_path / "s.csv")
    uni = series.read_series(config_for(path, variables="univariate", target_columns=["b"]))
    assert uni.columns == ["b"] and uni.target_indices == [0]
    ms = series.read_series(config_for(path, variables="multivariate_to_one"))
    assert ms.columns == ["a", "b"] and ms.target_columns == ["b"] and ms.target_indices == [1]
    with pytest.raises(ConfigError, match="univariate predicts one column"):
        series.read_series(config_for(path, variables="univariate", target_columns=["a", "b"]))


# -- splits: no target crosses a border -------------------------------------------------------


@pytest.mark.parametrize(
    "split",
    [
        {"split": "rows", "split_borders": {"validation": 120, "test": 150, "end": 190}},
        {
            "split": "dates",
            "split_borders": {"validation": "2024-01-06 00:00", "test": "2024-01-07"},
        },
        {"split": "fractions", "split_fractions": {"train": 0.6, "validation": 0.2, "test": 0.2}},
    ],
)
def test_windows_keep_targets_inside_their_split(tmp_path, split):
    task = ForecastingTask.from_config(config_for(write_series(tmp_path / "s.csv"), **split))
    task.read()
    task.adapt()
    if split["split"] == "rows":
        assert task.data.splits == {"train": (0, 120), "validation": (120, 150), "test": (150, 190)}
    if split["split"] == "dates":
        assert task.data.splits["validation"] == (120, 144)
    length, horizon = task.windower.input_length, task.windower.horizon
    for name, (first, end) in task.data.splits.items():
        starts = task.starts(name)
        assert starts.min() >= first and starts.max() + horizon <= end
        assert starts.min() - length >= 0
        if name != "train":
            # inputs come from before the border, the first window's targets start on it
            assert starts[0] == first and starts[0] - length < first
            assert len(starts) == end - first - horizon + 1
    x, y = task.windows("test")
    first = task.data.splits["test"][0]
    scaled = task.scaled()
    np.testing.assert_allclose(y[0], scaled[first : first + horizon])
    np.testing.assert_allclose(x[0], scaled[first - length : first])


def test_ett_split_borders_in_rows(tmp_path):
    path = write_series(tmp_path / "s.csv", rows=20 * 30 * 24 + 5)
    data = series.read_series(config_for(path, split="ett"))
    assert data.splits == {"train": (0, 8640), "validation": (8640, 11520), "test": (11520, 14400)}
    with pytest.raises(InputDataError, match="ett needs 14400 rows"):
        series.read_series(config_for(write_series(tmp_path / "t.csv"), split="ett"))


def test_scaler_adapts_on_train_rows_only(tmp_path):
    task = ForecastingTask.from_config(config_for(write_series(tmp_path / "s.csv")))
    task.read()
    task.adapt()
    train = task.data.values[:160]
    np.testing.assert_allclose(task.scaler.mean, train.mean(axis=0))
    np.testing.assert_allclose(task.scaler.std, train.std(axis=0))


# -- stages ------------------------------------------------------------------------------------


def test_scaler_round_trip_and_constant_column():
    scaler = ZScoreScaler()
    with pytest.raises(ConfigError, match="no learned state"):
        scaler(tf.zeros([1, 2]))
    rows = np.array([[1.0, 5.0], [2.0, 5.0], [6.0, 5.0]])
    scaler.adapt(rows)
    assert scaler.std[1] == 1.0
    scaled = scaler(tf.constant(rows, tf.float32))
    np.testing.assert_allclose(scaler.inverse(scaled).numpy(), rows, rtol=1e-6)
    again = ZScoreScaler.from_config(scaler.get_config())
    assert again.mean == scaler.mean and again.std == scaler.std
    with pytest.raises(ValueError, match="std"):
        ZScoreScaler(mean=[0.0], std=[0.0])


def test_windower_shapes_and_stride():
    windower = Windower(input_length=4, horizon=2, stride=3)
    x, y = windower(tf.reshape(tf.range(20.0), [10, 2]))
    assert x.shape == (2, 4, 2) and y.shape == (2, 2, 2)
    np.testing.assert_array_equal(y[1, :, 0], [14.0, 16.0])
    assert windower.target_starts(5, 12).tolist() == [5, 8]
    with pytest.raises(ValueError, match="horizon"):
        Windower(input_length=4, horizon=0)


def test_calendar_features():
    monday_noon = np.datetime64("2024-03-11T12:00", "s").astype(np.int64)
    hour, weekday, month = CalendarFeatures()(tf.constant([monday_noon])).numpy()[0]
    assert hour == pytest.approx(12 / 23 - 0.5) and weekday == pytest.approx(-0.5)
    assert month == pytest.approx(2 / 11 - 0.5)
    assert CalendarFeatures(hour=False, month=False).num_features == 1


def calendar_config(path, calendar=None, model=None, **data):
    """`config_for(path)` with a calendar_features stage between the scaler and the windower."""
    raw = config_for(path, **data).to_dict()
    raw.pop("sources")
    raw["stages"].insert(1, {"type": "calendar_features", **(calendar or {})})
    raw["model"].update(model or {})
    return config_from_dict(raw)


def test_the_task_takes_two_stage_chains_and_names_both(tmp_path):
    path = write_series(tmp_path / "s.csv")
    task = ForecastingTask.from_config(calendar_config(path, {"hour": False}))
    assert task.calendar.num_features == 2 and task.preprocessor.covariate_channels == 2
    assert ForecastingTask.from_config(config_for(path)).calendar is None
    raw = config_for(path).to_dict()
    raw.pop("sources")
    raw["stages"].append({"type": "calendar_features"})  # after the windower
    with pytest.raises(
        ConfigError,
        match=r"needs the stages \[\{type: zscore_scaler\}, \{type: "
        r"windower.*\}\] or \[\{type: zscore_scaler\}, \{type: "
        r"calendar_features.*lists \['zscore_scaler', "
        r"'windower', 'calendar_features'\]",
    ):
        ForecastingTask.from_config(config_from_dict(raw))
    with pytest.raises(ConfigError, match="hour"):
        ForecastingTask.from_config(calendar_config(path, {"hour": "yes"}))


def _adapted(config):
    task = ForecastingTask.from_config(config)
    task.read()
    task.adapt()
    return task


def test_calendar_features_are_unscaled_channels_after_the_values(tmp_path):
    path = write_series(tmp_path / "s.csv")
    plain = _adapted(config_for(path))
    task = _adapted(calendar_config(path, {"hour": False}))
    assert task.model_arguments()["input_channels"] == 2
    assert task.model_arguments()["covariate_channels"] == 2
    assert plain.model_arguments()["covariate_channels"] == 0
    x, y = task.windows("test")
    plain_x, plain_y = plain.windows("test")
    assert x.shape == plain_x.shape[:2] + (2 + 2,)
    np.testing.assert_array_equal(x[..., :2], plain_x)  # z-scored values first
    np.testing.assert_array_equal(y, plain_y)  # targets are the value columns
    first, length = task.data.splits["test"][0], task.windower.input_length
    rows = task.data.timestamps[first - length : first]
    np.testing.assert_allclose(x[0, :, 2:], CalendarFeatures(hour=False)(tf.constant(rows)))
    # the same training order (resume repeats it) and the same targets, batch by batch
    for (bx, by), (px, py) in zip(task.datasets("train", True), plain.datasets("train", True)):
        np.testing.assert_array_equal(bx.numpy()[..., :2], px.numpy())
        np.testing.assert_array_equal(by.numpy(), py.numpy())
    # the baselines and the linear peer see only the values
    np.testing.assert_allclose(task.fit_linear_peer().weights, plain.fit_linear_peer().weights)
    assert task.example_inputs().shape == (1, length, 4)
    assert "calendar features weekday+month" in task.describe_stages()


def test_the_task_builds_models_with_covariate_channels(tmp_path):
    path = write_series(tmp_path / "s.csv")
    for model in (
        {"linear_skip": True, "revin": True, "channel_independence": True},
        {"type": "lstm_seq2seq_forecaster", "revin": True},
    ):
        task = _adapted(calendar_config(path, model=model))
        built = task.build_model()
        assert built.covariate_channels == 3 and built.input_channels == 2
        x, _ = task.windows("validation")
        assert built(x).shape == (len(x), 6, 2)
        if model.get("linear_skip"):  # the skip starts as the value-only linear peer
            np.testing.assert_allclose(
                built(x).numpy(),
                task.fit_linear_peer().predict(x[:, :, task.data.target_indices]),
                rtol=1e-3,
                atol=1e-4,
            )
    raw = calendar_config(path).to_dict()
    raw.pop("sources")
    raw["model"]["covariate_channels"] = 3
    with pytest.raises(ConfigError, match="model.covariate_channels. is filled in"):
        ForecastingTask.from_config(config_from_dict(raw))


# -- models ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"segment_length": 4},
        {"channel_independence": True},
        {"revin": True},
        {"segment_length": 2, "channel_independence": True, "revin": True, "num_layers": 2},
        {"linear_skip": True},
        {"linear_skip": True, "channel_independence": True, "revin": True},
    ],
)
def test_forecaster_shapes_and_cudnn(options):
    model = LSTMForecaster(
        input_length=8, horizon=3, input_channels=3, target_indices=[2, 0], units=4, **options
    )
    out = model(np.random.default_rng(0).normal(size=[5, 8, 3]).astype("float32"))
    assert out.shape == (5, 3, 2) and np.isfinite(out.numpy()).all()
    report = cudnn_report(model)
    assert report["layers"] and all(e["eligible_kernel"] == "cudnn" for e in report["layers"])


def test_channel_independence_shares_one_model_over_channels():
    model = LSTMForecaster(
        input_length=4,
        horizon=2,
        input_channels=2,
        target_indices=[0, 1],
        units=3,
        channel_independence=True,
    )
    x = np.random.default_rng(1).normal(size=[1, 4, 1]).astype("float32")
    out = model(np.concatenate([x, x], axis=-1)).numpy()
    np.testing.assert_allclose(out[..., 0], out[..., 1], rtol=1e-6)


def test_revin_output_follows_the_window_level():
    model = LSTMForecaster(
        input_length=6, horizon=2, input_channels=1, target_indices=[0], units=3, revin=True
    )
    x = np.random.default_rng(2).normal(size=[1, 6, 1]).astype("float32")
    np.testing.assert_allclose(model(x + 100.0).numpy(), model(x).numpy() + 100.0, rtol=1e-4)


def test_seq2seq_forecaster_shapes_and_cudnn():
    model = LSTMSeq2SeqForecaster(
        input_length=6,
        horizon=4,
        input_channels=2,
        target_indices=[1],
        units=4,
        attention_units=3,
        revin=True,
    )
    assert model(np.ones([3, 6, 2], "float32")).shape == (3, 4, 1)
    layers = cudnn_report(model)["layers"]
    assert len(layers) == 2 and all(e["eligible_kernel"] == "cudnn" for e in layers)


COVARIATE_OPTIONS = [
    {},
    {"segment_length": 4},
    {"channel_independence": True},
    {"revin": True},
    {"segment_length": 2, "channel_independence": True, "revin": True, "num_layers": 2},
    {"linear_skip": True, "channel_independence": True, "revin": True},
]


def _with_covariates(batch=5, length=8, values=3, covariates=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=[batch, length, values]).astype("float32")
    return x, rng.uniform(-0.5, 0.5, size=[batch, length, covariates]).astype("float32")


def _covariate_model(kind, **options):
    if kind == "seq2seq":
        return LSTMSeq2SeqForecaster(
            input_length=8,
            horizon=3,
            input_channels=3,
            covariate_channels=2,
            target_indices=[2, 0],
            units=4,
            attention_units=3,
            **options,
        )
    return LSTMForecaster(
        input_length=8,
        horizon=3,
        input_channels=3,
        covariate_channels=2,
        target_indices=[2, 0],
        units=4,
        **options,
    )


@pytest.mark.parametrize(
    "kind, options",
    [("lstm", o) for o in COVARIATE_OPTIONS] + [("seq2seq", {}), ("seq2seq", {"revin": True})],
)
def test_forecasters_take_covariate_channels(kind, options):
    model = _covariate_model(kind, **options)
    x, covariates = _with_covariates()
    history = np.concatenate([x, covariates], axis=-1)
    out = model(history).numpy()
    if options.get("linear_skip"):  # the LSTM's residual starts at zero: give it a say
        model.head.kernel.assign(np.full(model.head.kernel.shape, 0.1, "float32"))
        out = model(history).numpy()
    assert out.shape == (5, 3, 2) and np.isfinite(out).all()
    report = cudnn_report(model)
    assert report["layers"] and all(e["eligible_kernel"] == "cudnn" for e in report["layers"])
    # the covariates reach the model
    moved = model(np.concatenate([x, covariates[:, ::-1]], axis=-1)).numpy()
    assert np.abs(moved - out).max() > 1e-6
    if options.get("revin"):
        assert model.revin_weight.shape == (3,)  # values only
    again = type(model).from_config(model.get_config())
    assert again.covariate_channels == 2 and again.input_channels == 3
    again(history)
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again(history).numpy(), out, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"must have 5 channels.*covariate_channels=2"):
        model(x)


@pytest.mark.parametrize(
    "kind, options",
    [
        ("lstm", {"revin": True}),
        ("lstm", {"revin": True, "channel_independence": True}),
        ("lstm", {"revin": True, "channel_independence": True, "linear_skip": True}),
        ("seq2seq", {"revin": True}),
    ],
)
def test_revin_normalises_the_values_not_the_covariates(kind, options):
    model = _covariate_model(kind, **options)
    x, covariates = _with_covariates(seed=4)
    out = model(np.concatenate([x, covariates], axis=-1)).numpy()
    if options.get("linear_skip"):  # the LSTM's residual starts at zero: give it a say
        model.head.kernel.assign(np.full(model.head.kernel.shape, 0.1, "float32"))
        out = model(np.concatenate([x, covariates], axis=-1)).numpy()
    # a level shift of the values moves the forecast by as much
    np.testing.assert_allclose(
        model(np.concatenate([x + 100.0, covariates], -1)).numpy(),
        out + 100.0,
        rtol=1e-4,
        atol=1e-3,
    )
    # shifting the covariates is no level shift: neither normalised away nor added on
    shifted = model(np.concatenate([x, covariates + 1.0], -1)).numpy()
    assert np.abs(shifted - out).max() > 1e-4
    assert np.abs(shifted - (out + 1.0)).max() > 1e-2


def test_channel_independence_gives_every_series_the_shared_covariates():
    model = LSTMForecaster(
        input_length=4,
        horizon=2,
        input_channels=2,
        covariate_channels=1,
        target_indices=[0, 1],
        units=3,
        channel_independence=True,
    )
    rng = np.random.default_rng(5)
    x = rng.normal(size=[3, 4, 1]).astype("float32")
    covariates = rng.uniform(-0.5, 0.5, size=[3, 4, 1]).astype("float32")
    out = model(np.concatenate([x, x, covariates], axis=-1)).numpy()
    np.testing.assert_allclose(out[..., 0], out[..., 1], rtol=1e-6)
    # window b's series see window b's covariates: one window alone gives the same forecast
    alone = model(np.concatenate([x, x, covariates], axis=-1)[1:2]).numpy()
    np.testing.assert_allclose(alone, out[1:2], rtol=1e-5, atol=1e-6)
    other = np.concatenate([x, x, covariates[::-1]], axis=-1)
    assert np.abs(model(other).numpy()[0] - out[0]).max() > 1e-6


def test_bad_model_arguments_are_config_errors():
    entry = {"type": "lstm_forecaster", "segment_length": 5}
    with pytest.raises(ConfigError, match="segment_length.*divide input_length=8"):
        MODELS.build(entry, input_length=8, horizon=2, input_channels=1, target_indices=[0])
    with pytest.raises(ConfigError, match="target_indices"):
        MODELS.build(
            {"type": "lstm_forecaster"},
            input_length=8,
            horizon=2,
            input_channels=1,
            target_indices=[1],
        )
    with pytest.raises(ConfigError, match="covariate_channels"):
        MODELS.build(
            {"type": "lstm_seq2seq_forecaster"},
            input_length=8,
            horizon=2,
            input_channels=1,
            covariate_channels=-1,
            target_indices=[0],
        )


# -- baselines ---------------------------------------------------------------------------------


def test_baselines():
    history = np.arange(12, dtype=float).reshape(1, 12, 1)
    assert fm.repeat_last(history, 3)[0, :, 0].tolist() == [11.0, 11.0, 11.0]
    assert fm.seasonal_naive(history, 5, 4)[0, :, 0].tolist() == [8.0, 9.0, 10.0, 11.0, 8.0]
    assert fm.seasonal_naive(history, 5, 13) is None
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=[200, 10, 2]), axis=1)
    y = x[:, -1:, :] + 0.5 * (x[:, -1:, :] - x[:, -2:-1, :]) * np.arange(1, 4)[None, :, None]
    peer = fm.LinearPeer(ridge=1e-9).fit(x, y)
    np.testing.assert_allclose(peer.predict(x), y, atol=1e-5)
    assert fm.errors([[1.0]], [[3.0]]) == {"mse": 4.0, "mae": 2.0}


# -- ETTh1 against SOURCE.md -------------------------------------------------------------------


@pytest.mark.skipif(not ETT.is_file(), reason="../shared/data/ett/ETTh1.csv is absent")
@pytest.mark.parametrize("variables, repeat_mse", [("multivariate", 1.295), ("univariate", 0.069)])
def test_ett_protocol_reproduces_the_published_repeat_baseline(variables, repeat_mse):
    config = config_for(
        ETT,
        stages=(96, 96),
        split="ett",
        variables=variables,
        target_columns=None if variables == "multivariate" else ["OT"],
    )
    task = ForecastingTask.from_config(config)
    task.read()
    task.adapt()
    columns = task.data.columns
    assert task.data.splits == {
        "train": (0, 8640),
        "validation": (8640, 11520),
        "test": (11520, 14400),
    }
    ot = columns.index("OT")
    assert task.scaler.mean[ot] == pytest.approx(17.1283, abs=1e-4)
    assert task.scaler.std[ot] == pytest.approx(9.1765, abs=1e-4)
    x, y = task.windows("test")
    assert len(y) == 2880 - 96 + 1
    # SOURCE.md: Repeat with drop_last (batch 32); all windows move it by far less than 0.005
    got = fm.errors(fm.repeat_last(x[:, :, task.data.target_indices], 96), y)["mse"]
    assert got == pytest.approx(repeat_mse, abs=0.005)


@pytest.mark.parametrize("options", [{}, {"revin": True, "channel_independence": True}])
def test_linear_skip_starts_as_the_linear_peer_and_trains_the_residual(options):
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=[64, 8, 2]), axis=1).astype("float32")
    y = (x[:, -1:, 1:] + rng.normal(size=[64, 3, 1]) * 0.1).astype("float32")
    peer = fm.LinearPeer().fit(x[:, :, 1:], y)
    model = LSTMForecaster(
        input_length=8,
        horizon=3,
        input_channels=2,
        target_indices=[1],
        units=3,
        linear_skip=True,
        **options,
    )
    model(x[:1])
    model.set_linear_map(peer.weights)
    # the LSTM's residual starts at zero: the forecast is the peer's
    np.testing.assert_allclose(model(x).numpy(), peer.predict(x[:, :, 1:]), rtol=1e-4, atol=1e-4)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert np.abs(model.head.get_weights()[0]).max() > 0  # the residual trains
    assert LSTMForecaster.from_config(model.get_config()).linear_skip
    with pytest.raises(ValueError, match=r"weights of shape \[9, 3\]"):
        model.set_linear_map(np.zeros([8, 3]))


def test_the_task_fits_the_linear_skip_before_training(tmp_path):
    raw = config_for(write_series(tmp_path / "s.csv")).to_dict()
    raw.pop("sources")
    raw["model"].update(linear_skip=True, revin=True)
    task = ForecastingTask.from_config(config_from_dict(raw))
    task.read()
    task.adapt()
    model = task.build_model()
    x, _ = task.windows("validation")
    np.testing.assert_allclose(
        model(x).numpy(),
        task.fit_linear_peer().predict(x[:, :, task.data.target_indices]),
        rtol=1e-3,
        atol=1e-4,
    )
