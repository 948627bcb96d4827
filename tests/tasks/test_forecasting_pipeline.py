"""The forecasting quickstart end to end (one tiny epoch): metrics and baselines, the export in a
TF-only process, `nlp_lstm.load`, `nlp-lstm forecast`, and a restored run."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nlp_lstm import load, presets
from nlp_lstm.config.loading import load_config
from nlp_lstm.data.splitting import SAMPLES_DIR
from nlp_lstm.pipeline import build_pipeline, load_run
from tests.testing import call_export_in_fresh_process

TINY = [
    "train.epochs=1",
    "train.verbose=0",
    "model.units=8",
    "stages.1.input_length=48",
    "stages.1.horizon=12",
]


@pytest.fixture(scope="module")
def run(tiny_run):
    # TINY with the quickstart's batches and segments (tiny_run's own are one batch of 4096).
    _, result = tiny_run("forecasting", *TINY, "train.batch_size=32", "model.segment_length=12")
    return result


def test_metrics_report_model_and_baselines_on_all_windows(run):
    test = run.metrics["test"]
    assert test["num_windows"] == 450 - 12 + 1
    for name in ("mse", "mae", "raw_mse", "raw_mae"):
        assert np.isfinite(test[name]) and test[name] > 0
    assert len(test["mse_per_step"]) == 12
    assert set(test["baselines"]) == {"repeat", "seasonal_naive", "linear"}
    # on this series the in-run linear peer and seasonal naive are far better than Repeat
    baselines = test["baselines"]
    assert baselines["linear"]["mse"] < baselines["repeat"]["mse"]
    assert baselines["seasonal_naive"]["mse"] < baselines["repeat"]["mse"]
    assert (run.run_dir / "forecast_test.png").stat().st_size > 10_000
    assert run.manifest["cudnn"]["layers"][0]["eligible_kernel"] == "cudnn"


def test_test_mse_recomputed_from_the_series_and_the_export_beats_repeat(run):
    """The model's and Repeat's test MSE recomputed from demand.csv and the export's forecasts:
    the 70/15/15 row borders, z-scores with the train rows' mean and std (ddof 0), every
    window whose targets lie in the test rows."""
    values = np.loadtxt(SAMPLES_DIR / "demand.csv", delimiter=",", skiprows=1, usecols=(1, 2, 3))
    rows = len(values)
    train_end = int(rows * 0.7)
    starts = np.arange(train_end + int(rows * 0.15), rows - 12 + 1)
    history = np.stack([values[start - 48 : start] for start in starts])
    truth = np.stack([values[start : start + 12] for start in starts])
    std = values[:train_end].std(axis=0)  # the train mean cancels out of forecast - truth

    def mse(forecast):
        return float(np.mean(((forecast - truth) / std) ** 2))

    test = run.metrics["test"]
    assert test["num_windows"] == len(starts)
    repeat = np.repeat(history[:, -1:], 12, axis=1)
    assert mse(repeat) == pytest.approx(test["baselines"]["repeat"]["mse"], abs=1e-5)
    assert mse(load(run.run_dir).forecast(history)) == pytest.approx(test["mse"], abs=2e-5)
    # One epoch of the LSTM beats Repeat (the last value), by both errors.
    assert test["mse"] < test["baselines"]["repeat"]["mse"]
    assert test["mae"] < test["baselines"]["repeat"]["mae"]


def _recent(tmp_path, rows=60):
    lines = (SAMPLES_DIR / "demand.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "recent.csv"
    path.write_text("\n".join([lines[0]] + lines[-rows:]) + "\n", encoding="utf-8")
    return path, lines[-1].split(",")[0]


@pytest.mark.slow  # a process that imports TensorFlow
def test_export_serves_raw_values_in_a_tensorflow_only_process(run):
    data = np.loadtxt(SAMPLES_DIR / "demand.csv", delimiter=",", skiprows=1, usecols=(1, 2, 3))
    history = np.stack([data[-48:], data[-148:-100]]).astype(np.float32)
    served = call_export_in_fresh_process(
        run.run_dir / "export", [("forecast", {"history": history})]
    )
    forecast = np.asarray(served["outputs"][0]["forecast"])
    assert forecast.shape == (2, 12, 3)
    # raw values out: the load column stays on its own scale (tens), not z-scored
    assert 20 < forecast[..., 1].mean() < 100
    local = load(run.run_dir).forecast(history)
    np.testing.assert_allclose(local, forecast, rtol=1e-4, atol=1e-3)


def test_predictor_checks_its_input(run):
    predictor = load(run.run_dir)
    assert predictor.task == "forecasting" and predictor.target_columns == [
        "temperature",
        "load",
        "price",
    ]
    assert predictor.forecast(np.ones([48, 3])).shape == (12, 3)
    with pytest.raises(ValueError, match=r"shape \[48, 3\]"):
        predictor.forecast(np.ones([47, 3]))
    history = np.ones([48, 3])
    history[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        predictor.forecast(history)


def test_the_forecast_graph_enforces_its_limits(run):
    import tensorflow as tf

    from nlp_lstm.export.limits import error_line

    predictor = load(run.run_dir)
    rows = predictor.limits["max_batch_rows"]
    forecast = tf.saved_model.load(str(run.run_dir / "export")).signatures["forecast"]
    assert forecast(history=tf.zeros([0, 48, 3]))["forecast"].shape == (0, 12, 3)
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        forecast(history=tf.zeros([rows + 1, 48, 3]))
    assert error_line(err.value).startswith(
        f"`history` has more than {rows} rows (limits.max_batch_rows"
    )
    history = np.ones([2, 48, 3], np.float32)
    history[1, 7, 2] = np.inf
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        forecast(history=tf.constant(history))
    assert "NaN or infinite" in error_line(err.value)


def _cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "nlp_lstm.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.mark.slow  # a CLI or server process that imports TensorFlow
def test_forecast_cli_writes_the_next_timestamps(run, tmp_path):
    recent, last = _recent(tmp_path)
    out = tmp_path / "next.csv"
    proc = _cli("forecast", str(run.run_dir), "--input", str(recent), "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["date", "temperature", "load", "price"] and len(rows) == 13
    assert last == "2024-05-04 23:00:00" and rows[1][0] == "2024-05-05 00:00:00"
    assert rows[12][0] == "2024-05-05 11:00:00"
    assert all(np.isfinite(float(v)) for row in rows[1:] for v in row[1:])
    short, _ = _recent(tmp_path, rows=10)
    proc = _cli("forecast", str(run.run_dir), "--input", str(short))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "has 10 rows; the export needs the last 48 rows" in proc.stderr


def test_restored_run_evaluates_the_same(run):
    pipeline = load_run(run.run_dir)
    again = pipeline.evaluate(run.run_dir, ["test"])["test"]
    assert again["mse"] == pytest.approx(run.metrics["test"]["mse"], abs=1e-5)
    assert again["baselines"]["linear"] == run.metrics["test"]["baselines"]["linear"]


@pytest.mark.slow
def test_tuning_scores_trials_on_validation_mse(tmp_path):
    from nlp_lstm.runs import tuning

    config = load_config(presets.find_pipeline("quickstart_forecast"), TINY)
    assert config.tune.objective == "val_mse" and tuning.objective_direction(config.tune) == "min"
    summary, ranked, _ = tuning.tune(
        build_pipeline(config), {"model.revin": {"boolean": True}}, "test", tmp_path / "t"
    )
    assert summary["completed"] >= 2 and summary["objective"] == "val_mse"
    assert ranked[0]["score"] <= ranked[-1]["score"]


@pytest.mark.slow  # a CLI or server process that imports TensorFlow
def test_evaluate_scores_a_new_file_and_checks_its_columns(run, tmp_path):
    recent, _ = _recent(tmp_path, rows=100)
    proc = _cli("evaluate", str(run.run_dir), "--data", str(recent))
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = next((run.run_dir / "evaluations").iterdir())
    scored = json.loads((folder / "metrics.json").read_text())["data"]
    assert scored["num_windows"] == 100 - 48 - 12 + 1 and "linear" not in scored["baselines"]
    other = tmp_path / "other.csv"
    other.write_text(recent.read_text().replace("temperature,load,price", "temperature,load,cost"))
    proc = _cli("evaluate", str(run.run_dir), "--data", str(other))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "trained on ['temperature', 'load', 'price']" in proc.stderr


@pytest.mark.slow  # a CLI or server process that imports TensorFlow
def test_the_server_forecasts_and_names_the_bad_field(run, tmp_path):
    import httpx

    from tests.serving_helpers import Server

    data = np.loadtxt(SAMPLES_DIR / "demand.csv", delimiter=",", skiprows=1, usecols=(1, 2, 3))
    window = data[-48:].astype(np.float32).tolist()
    url = "/v1/models/demand:predict"
    with Server({"demand": run.run_dir}, tmp_path / "serve.log") as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            meta = client.get("/v1/models/demand/metadata").json()
            assert "forecast" in meta["metadata"]["signature_def"]["signature_def"]
            answer = client.post(url, json={"instances": [window, window]})
            assert answer.status_code == 200, answer.text
            got = np.asarray(answer.json()["predictions"])
            assert got.shape == (2, 12, 3)
            expected = load(run.run_dir).forecast(np.asarray([window, window]))
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)
            named = client.post(
                url, json={"signature_name": "forecast", "instances": [{"history": window}]}
            )
            assert named.status_code == 200
            np.testing.assert_allclose(
                named.json()["predictions"], expected[:1], rtol=1e-4, atol=1e-3
            )
            columnar = client.post(url, json={"inputs": {"history": [window]}})
            assert columnar.status_code == 200 and np.shape(columnar.json()["outputs"]) == (
                1,
                12,
                3,
            )
            nan = [row[:] for row in window]
            nan[5][1] = float("nan")
            bad = {
                "too many rows in a window": (
                    [window + window[:1]],
                    "instances[0].history`",
                    "48 elements",
                ),
                "a short row": (
                    [window[:3] + [[1.0, 2.0]] + window[4:]],
                    "instances[0].history[3]`",
                    "3 elements",
                ),
                "NaN": ([nan], "instances[0].history[5][1]`", "finite number"),
                "a string": (
                    [[["x"] * 3] + window[1:]],
                    "instances[0].history[0][0]`",
                    "finite number",
                ),
            }
            for case, (instances, field, why) in bad.items():
                response = client.post(
                    url,
                    content=json.dumps({"instances": instances}),
                    headers={"content-type": "application/json"},
                )
                assert response.status_code == 400, case
                error = response.json()["error"]
                assert field in error and why in error, (case, error)
            assert client.get("/healthz").json()["status"] == "ok"


# -- calendar features: the three-stage chain end to end ---------------------------------------

CAL_LENGTH, CAL_HORIZON = 24, 6


def _calendar_series(path, rows=400, start="2024-03-01 00:00:00"):
    """An hourly `date,load,temp` table with a daily cycle (what the hour feature can explain)."""
    t0 = np.datetime64(start, "s").astype(np.int64)
    hours = np.arange(rows)
    load_ = 50 + 10 * np.sin(2 * np.pi * hours / 24) + 0.01 * hours
    temp = 15 + 5 * np.cos(2 * np.pi * hours / 24)
    lines = ["date,load,temp"] + [
        f"{str(np.datetime64(int(t0 + 3600 * i), 's')).replace('T', ' ')},{a:.4f},{b:.4f}"
        for i, a, b in zip(hours, load_, temp)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def calendar_run(tmp_path_factory):
    from nlp_lstm.config.loading import config_from_dict

    folder = tmp_path_factory.mktemp("calendar")
    raw = {
        "task": "forecasting",
        "seed": 7,
        "steps": ["train", "evaluate", "export"],
        "data": {
            "source": "files",
            "path": str(_calendar_series(folder / "series.csv")),
            "timestamp_column": "date",
            "variables": "multivariate",
            "split": "fractions",
            "split_fractions": {"train": 0.7, "validation": 0.15, "test": 0.15},
        },
        "stages": [
            {"type": "zscore_scaler"},
            {"type": "calendar_features", "hour": True, "weekday": True, "month": False},
            {"type": "windower", "input_length": CAL_LENGTH, "horizon": CAL_HORIZON},
        ],
        "model": {
            "type": "lstm_forecaster",
            "units": 8,
            "segment_length": 6,
            "channel_independence": True,
            "revin": True,
        },
        "train": {"batch_size": 32, "epochs": 1, "verbose": 0},
        "evaluate": {"splits": ["validation", "test"], "seasonal_period": 24},
    }
    return build_pipeline(config_from_dict(raw)).run(run_dir=folder / "run")


def _calendar_windows(run, count=3):
    """(raw history [n, L, 2], timestamps [n, L]) of the last windows of the series."""
    import pandas as pd

    table = pd.read_csv(run.run_dir.parent / "series.csv")
    values = table[["load", "temp"]].to_numpy(np.float32)
    seconds = pd.to_datetime(table["date"]).to_numpy().astype("datetime64[s]").astype(np.int64)
    ends = [len(table) - i * 7 for i in range(count)]
    return (
        np.stack([values[end - CAL_LENGTH : end] for end in ends]),
        np.stack([seconds[end - CAL_LENGTH : end] for end in ends]),
    )


def test_calendar_run_trains_evaluates_and_exports_two_inputs(calendar_run):
    import tensorflow as tf

    run = calendar_run
    test = run.metrics["test"]
    assert np.isfinite(test["mse"]) and set(test["baselines"]) == {
        "repeat",
        "seasonal_naive",
        "linear",
    }
    assert run.manifest["cudnn"]["layers"][0]["eligible_kernel"] == "cudnn"
    meta = json.loads((run.run_dir / "export" / "assets.extra" / "nlp_lstm.json").read_text())
    assert meta["calendar_features"] == {"hour": True, "weekday": True, "month": False}
    assert meta["signature_inputs"] == ["history", "timestamps"]
    # verify_export fed the reloaded export the windows' timestamps too
    assert run.manifest["export"]["max_abs_difference"] < 1e-3
    loaded = tf.saved_model.load(str(run.run_dir / "export"))
    forecast = loaded.signatures["forecast"]
    specs = forecast.structured_input_signature[1]
    assert specs["history"].shape.as_list() == [None, CAL_LENGTH, 2]
    assert specs["timestamps"].shape.as_list() == [None, CAL_LENGTH]
    assert specs["timestamps"].dtype == tf.int64
    history, seconds = _calendar_windows(run)
    got = forecast(history=tf.constant(history), timestamps=tf.constant(seconds))["forecast"]
    assert got.shape == (3, CAL_HORIZON, 2)
    # the in-memory model on the z-scored values and the calendar features of the same rows
    task = load_run(run.run_dir, lock=False).task
    inputs = np.concatenate(
        [task.scaler(history).numpy(), task.calendar(tf.constant(seconds)).numpy()], axis=-1
    )
    expected = task.scaler.inverse(task.model(inputs), task.data.target_indices).numpy()
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-3)
    # the timestamps matter: other hours give another forecast
    shifted = forecast(history=tf.constant(history), timestamps=tf.constant(seconds + 5 * 3600))[
        "forecast"
    ].numpy()
    assert np.abs(shifted - got.numpy()).max() > 1e-6
    with pytest.raises(tf.errors.InvalidArgumentError, match="`timestamps` must have one row"):
        forecast(history=tf.constant(history), timestamps=tf.constant(seconds[:2]))


def test_calendar_predictor_needs_timestamps(calendar_run):
    predictor = load(calendar_run.run_dir)
    assert predictor.calendar_features == {"hour": True, "weekday": True, "month": False}
    history, seconds = _calendar_windows(calendar_run)
    batch = predictor.forecast(history, seconds)
    assert batch.shape == (3, CAL_HORIZON, 2)
    as_dates = seconds[0].astype("datetime64[s]")
    np.testing.assert_allclose(predictor.forecast(history[0], as_dates), batch[0], rtol=1e-5)
    iso = [str(t).replace("T", " ") for t in as_dates]
    np.testing.assert_allclose(predictor.forecast(history[0], iso), batch[0], rtol=1e-5)
    with pytest.raises(ValueError, match=r"calendar features .*pass `timestamps`.*\[24\]"):
        predictor.forecast(history[0])
    with pytest.raises(ValueError, match=r"`timestamps` must have shape \[3, 24\].*\[3, 23\]"):
        predictor.forecast(history, seconds[:, 1:])
    with pytest.raises(ValueError, match="int seconds.*float64"):
        predictor.forecast(history, seconds.astype(np.float64))
    with pytest.raises(ValueError, match="takes no `timestamps`"):
        load_plain = predictor.__class__(
            predictor.loaded, {**predictor.metadata, "calendar_features": None}, predictor.limits
        )
        load_plain.forecast(history, seconds)


def test_calendar_run_restores_and_scores_a_new_file(calendar_run, tmp_path):
    pipeline = load_run(calendar_run.run_dir)
    again = pipeline.evaluate(calendar_run.run_dir, ["test"])["test"]
    assert again["mse"] == pytest.approx(calendar_run.metrics["test"]["mse"], abs=1e-5)
    recent = _calendar_series(tmp_path / "recent.csv", rows=80, start="2024-06-01 00:00:00")
    metrics, _ = pipeline.evaluate_file(calendar_run.run_dir, recent)
    assert metrics["data"]["num_windows"] == 80 - CAL_LENGTH - CAL_HORIZON + 1
    assert np.isfinite(metrics["data"]["mse"])
    pipeline.lock.release()


def test_calendar_server_parses_two_inputs_and_names_the_bad_field(calendar_run):
    from nlp_lstm.serving.served_model import ServedModel
    from nlp_lstm.serving.signatures import RequestError

    served = ServedModel("calendar", load(calendar_run.run_dir))
    history, seconds = _calendar_windows(calendar_run, count=1)
    window, times = history[0].tolist(), seconds[0].tolist()
    call = served.parse({"instances": [{"history": window, "timestamps": times}]})
    assert call.rows == 1 and call.batched["timestamps"] == [times]
    got = call.signature.call(call.batched, call.scalars)["forecast"]
    np.testing.assert_allclose(
        got, load(calendar_run.run_dir).forecast(history, seconds), rtol=1e-5
    )
    bad = {
        "a float": (times[:5] + [1.5] + times[6:], "instances[0].timestamps[5]`", "an integer"),
        "a string": (
            times[:5] + ["2024-01-01"] + times[6:],
            "instances[0].timestamps[5]`",
            "an integer",
        ),
        "a short row": (times[:-1], "instances[0].timestamps`", "24 elements"),
    }
    for case, (value, field, why) in bad.items():
        with pytest.raises(RequestError) as err:
            served.parse({"instances": [{"history": window, "timestamps": value}]})
        assert err.value.status == 400 and field in str(err.value) and why in str(err.value), (
            case,
            str(err.value),
        )
    with pytest.raises(RequestError, match="missing 'timestamps'"):
        served.parse({"instances": [{"history": window}]})


@pytest.mark.slow  # a process that imports TensorFlow
def test_calendar_export_runs_in_a_tensorflow_only_process(calendar_run):
    history, seconds = _calendar_windows(calendar_run)
    served = call_export_in_fresh_process(
        calendar_run.run_dir / "export",
        [("forecast", {"history": history, "timestamps": seconds})],
    )
    np.testing.assert_allclose(
        served["outputs"][0]["forecast"],
        load(calendar_run.run_dir).forecast(history, seconds),
        rtol=1e-4,
        atol=1e-3,
    )


@pytest.mark.slow  # a CLI or server process that imports TensorFlow
def test_calendar_forecast_and_evaluate_cli(calendar_run, tmp_path):
    recent = _calendar_series(tmp_path / "latest.csv", rows=60, start="2024-06-01 00:00:00")
    out = tmp_path / "next.csv"
    proc = _cli("forecast", str(calendar_run.run_dir), "--input", str(recent), "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["date", "load", "temp"] and len(rows) == CAL_HORIZON + 1
    assert rows[1][0] == "2024-06-03 12:00:00"
    import pandas as pd

    table = pd.read_csv(recent)
    seconds = pd.to_datetime(table["date"]).to_numpy().astype("datetime64[s]").astype(np.int64)
    expected = load(calendar_run.run_dir).forecast(
        table[["load", "temp"]].to_numpy(np.float32)[-CAL_LENGTH:], seconds[-CAL_LENGTH:]
    )
    np.testing.assert_allclose(
        [[float(v) for v in row[1:]] for row in rows[1:]], expected, rtol=1e-4, atol=1e-3
    )
    proc = _cli("evaluate", str(calendar_run.run_dir), "--data", str(recent))
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = next((calendar_run.run_dir / "evaluations").glob("latest-*"))
    scored = json.loads((folder / "metrics.json").read_text())["data"]
    assert scored["num_windows"] == 60 - CAL_LENGTH - CAL_HORIZON + 1


@pytest.mark.slow  # a CLI or server process that imports TensorFlow
def test_calendar_server_forecasts_with_timestamps(calendar_run, tmp_path):
    import httpx

    from tests.serving_helpers import Server

    history, seconds = _calendar_windows(calendar_run, count=2)
    expected = load(calendar_run.run_dir).forecast(history, seconds)
    instances = [
        {"history": h.tolist(), "timestamps": t.tolist()} for h, t in zip(history, seconds)
    ]
    url = "/v1/models/calendar:predict"
    with Server({"calendar": calendar_run.run_dir}, tmp_path / "serve.log") as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            meta = client.get("/v1/models/calendar/metadata").json()
            inputs = meta["metadata"]["signature_def"]["signature_def"]["forecast"]["inputs"]
            assert inputs["timestamps"]["dtype"] == "DT_INT64"
            answer = client.post(url, json={"instances": instances})
            assert answer.status_code == 200, answer.text
            np.testing.assert_allclose(answer.json()["predictions"], expected, rtol=1e-4, atol=1e-3)
            columnar = client.post(
                url, json={"inputs": {"history": history.tolist(), "timestamps": seconds.tolist()}}
            )
            assert columnar.status_code == 200, columnar.text
            np.testing.assert_allclose(columnar.json()["outputs"], expected, rtol=1e-4, atol=1e-3)
            bad = [
                dict(
                    instances[0],
                    timestamps=instances[0]["timestamps"][:5]
                    + ["noon"]
                    + instances[0]["timestamps"][6:],
                )
            ]
            response = client.post(url, json={"instances": bad})
            assert response.status_code == 400
            error = response.json()["error"]
            assert "instances[0].timestamps[5]`" in error and "an integer" in error, error
            missing = client.post(url, json={"instances": [{"history": instances[0]["history"]}]})
            assert missing.status_code == 400 and "'timestamps'" in missing.json()["error"]
