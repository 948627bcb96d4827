"""Read a time-series table with `datasets`, check it, and cut it into time-ordered splits.

The table (csv, tsv, json, jsonl or parquet; or a sample in `nlp_lstm/samples`) has a timestamp
column and numeric columns. Every problem is an `InputDataError` that names the file, the column
and the row: a missing column, a non-numeric cell, a NaN, a duplicate, out-of-order or missing
timestamp (gaps may be filled with `data.fill_gaps`). Splits are given as target borders: the rows
whose values a split's windows predict. Validation and test windows take their inputs from the
`input_length` rows before their border, as the ETT protocol does; their targets lie inside.
"""

import dataclasses
import hashlib
import json

import numpy as np

from nlp_lstm.data import splitting
from nlp_lstm.data import texts as data_lib
from nlp_lstm.errors import ConfigError, InputDataError

SPLITS = ("train", "validation", "test")
DAY = 86_400
# The ETT protocol (Informer, Autoformer, DLinear, PatchTST): 12/4/4 months of 30 days.
ETT_MONTHS = (12, 4, 4)


@dataclasses.dataclass
class SeriesData:
    """A checked, regular series and its split borders.

    Args:
        timestamps: int64 array [rows]. Seconds since 1970-01-01 (UTC, or naive local time).
        values: float64 array [rows, channels]. The input columns, in `columns` order.
        columns: list of str. The input columns.
        target_columns: list of str. The predicted columns (a subset of `columns`).
        step: int. Seconds between consecutive rows (the most common difference).
        weekdays_only: bool. The rows skip weekends (trading days): future steps do too.
        splits: dict. Split name -> (first row, end row) of the rows its targets cover.
        fingerprint: str. SHA-256 of the file bytes and the data settings.
        files: list of str. The file read.
    """

    timestamps: np.ndarray
    values: np.ndarray
    columns: list
    target_columns: list
    step: int
    weekdays_only: bool
    splits: dict
    fingerprint: str
    files: list

    @property
    def target_indices(self):
        return [self.columns.index(name) for name in self.target_columns]

    def counts(self):
        """Rows per split (the rows its targets cover)."""
        return {name: int(end - start) for name, (start, end) in self.splits.items()}


def series_file(config):
    """The one file a forecasting config reads (data.path or a packaged sample)."""
    data = config.data
    if data.source == "sample":
        return str(splitting.sample_path(data.sample, ".csv", "sample series"))
    if data.source != "files":
        raise ConfigError(
            f"A series is read from one table: set data.source: files with data.path (or "
            f"data.source: sample); the splits are cut in time order by data.split. Received: "
            f"data.source={data.source!r}."
        )
    files = splitting.expand_files(data.path, "path")
    if len(files) != 1:
        raise ConfigError(
            f"`data.path`={data.path!r} matches {len(files)} files; a series is one "
            f"table. Give one file."
        )
    return files[0]


def _where(fmt, index):
    """(line for InputDataError, text naming the row) of 0-based data row `index`."""
    if fmt in ("csv", "tsv"):
        return index + 2, f"row {index + 1} (after the header)"
    return None, f"row {index + 1}"


def _numeric(column, values, path, fmt):
    """A column as float64, or an error naming the first non-numeric or missing cell."""
    out = np.empty(len(values), dtype=np.float64)
    for index, value in enumerate(values):
        try:
            number = float(value) if value is not None and not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not np.isfinite(number):
            line, row = _where(fmt, index)
            kind = (
                "is empty or NaN"
                if value is None or (isinstance(value, float) and np.isnan(value))
                else f"holds {value!r}, not a finite number"
            )
            raise InputDataError(
                f"{row} {kind}. Every cell of a series column must be a number; "
                f"fix or drop that row, or leave the column out of "
                f"data.feature_columns.",
                path=path,
                line=line,
                column=column,
            )
        out[index] = number
    return out


def _timestamps(column, values, path, fmt, timestamp_format):
    import pandas as pd

    parsed = pd.to_datetime(
        pd.Series(values, dtype=object), format=timestamp_format, errors="coerce"
    )
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        line, row = _where(fmt, int(bad[0]))
        hint = (
            f"data.timestamp_format={timestamp_format!r}"
            if timestamp_format
            else "set data.timestamp_format (e.g. %d-%m-%y)"
        )
        raise InputDataError(
            f"{row}: {values[bad[0]]!r} is not a timestamp; {hint}.",
            path=path,
            line=line,
            column=column,
        )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.to_numpy().astype("datetime64[s]").astype(np.int64)


def is_weekend(seconds):
    """True where the timestamp (seconds) falls on a Saturday or Sunday."""
    return ((np.asarray(seconds) // DAY + 3) % 7) >= 5  # 1970-01-01 was a Thursday


def check_regular(timestamps, values, fill_gaps, path, fmt, column):
    """(timestamps, values, step, weekdays_only) after checking the order and filling gaps."""
    if len(timestamps) < 2:
        raise InputDataError("The series has fewer than two rows.", path=path, column=column)
    diffs = np.diff(timestamps)
    bad = np.flatnonzero(diffs <= 0)
    if len(bad):
        i = int(bad[0]) + 1
        line, row = _where(fmt, i)
        what = "repeats" if diffs[i - 1] == 0 else "comes before"
        raise InputDataError(
            f"{row}: timestamp {_iso(timestamps[i])} {what} the one of the row "
            f"above ({_iso(timestamps[i - 1])}). Timestamps must increase "
            f"strictly: sort the table and drop duplicate rows.",
            path=path,
            line=line,
            column=column,
        )
    weekdays_only = not is_weekend(timestamps).any()
    kinds, counts = np.unique(diffs, return_counts=True)
    step = int(kinds[counts.argmax()])
    if fill_gaps == "keep":
        return timestamps, values, step, weekdays_only and step == DAY
    irregular = np.flatnonzero(diffs % step != 0)
    if len(irregular):
        i = int(irregular[0]) + 1
        line, row = _where(fmt, i)
        raise InputDataError(
            f"{row}: timestamp {_iso(timestamps[i])} is {int(diffs[i - 1])} s "
            f"after the row above, not a multiple of the series step ({step} s)."
            f" Resample the table to one step, or set data.fill_gaps: keep to "
            f"use the rows as steps.",
            path=path,
            line=line,
            column=column,
        )
    gaps = np.flatnonzero(diffs > step)
    if not len(gaps):
        return timestamps, values, step, False
    if fill_gaps == "none":
        i = int(gaps[0]) + 1
        line, row = _where(fmt, i)
        missing = int(diffs[i - 1] // step) - 1
        raise InputDataError(
            f"{row}: {missing} row(s) are missing before {_iso(timestamps[i])} "
            f"(the row above is {_iso(timestamps[i - 1])}, the step {step} s); "
            f"{len(gaps)} gap(s) in all. Fill them with data.fill_gaps: forward "
            f"or linear, or keep the rows as steps with data.fill_gaps: keep.",
            path=path,
            line=line,
            column=column,
        )
    full = np.arange(timestamps[0], timestamps[-1] + 1, step, dtype=np.int64)
    if fill_gaps == "linear":
        filled = np.stack(
            [np.interp(full, timestamps, values[:, c]) for c in range(values.shape[1])], axis=1
        )
    else:
        filled = values[np.searchsorted(timestamps, full, side="right") - 1]
    return full, filled, step, False


def _iso(seconds):
    return str(np.datetime64(int(seconds), "s")).replace("T", " ")


def choose_columns(names, data, path):
    """(input columns, target columns) from the data settings and the table's columns."""
    for key in ("timestamp_column",):
        if getattr(data, key) not in names:
            raise InputDataError(
                f"There is no column {getattr(data, key)!r} (data.{key}). The "
                f"table has: {', '.join(names)}.",
                path=path,
                column=getattr(data, key),
            )
    features = list(data.feature_columns or [n for n in names if n != data.timestamp_column])
    targets = list(
        data.target_columns
        or ([] if data.variables == "multivariate" else features[-1:])
        or features
    )
    for key, listed in (("feature_columns", features), ("target_columns", targets)):
        for name in listed:
            if name not in names:
                raise InputDataError(
                    f"There is no column {name!r} (data.{key}). The table has: {', '.join(names)}.",
                    path=path,
                    column=name,
                )
    if data.variables == "univariate":
        if len(targets) != 1:
            raise ConfigError(
                f"data.variables: univariate predicts one column; data."
                f"target_columns lists {targets}. Give one."
            )
        features = targets
    elif data.variables == "multivariate" and data.target_columns and set(targets) != set(features):
        raise ConfigError(
            "data.variables: multivariate predicts every input column; use "
            "multivariate_to_one to predict only data.target_columns."
        )
    missing = [t for t in targets if t not in features]
    if missing:
        raise ConfigError(
            f"data.target_columns {missing} are not among the inputs "
            f"(data.feature_columns {features}); add them there."
        )
    return features, targets


def read_table(path, config):
    """(timestamps, values [rows, columns], columns, targets, step, weekdays_only) of one file."""
    data = config.data
    fmt = splitting.file_format(path, data.format)
    table = data_lib.load_files([path], fmt, data.delimiter)
    features, targets = choose_columns(list(table.column_names), data, path)
    timestamps = _timestamps(
        data.timestamp_column, table[data.timestamp_column], path, fmt, data.timestamp_format
    )
    values = np.stack([_numeric(name, table[name], path, fmt) for name in features], axis=1)
    timestamps, values, step, weekdays_only = check_regular(
        timestamps, values, data.fill_gaps, path, fmt, data.timestamp_column
    )
    return timestamps, values, features, targets, step, weekdays_only


def split_borders(config, timestamps, step, path):
    """Split name -> (first row, end row) of the targets, by data.split."""
    data, rows = config.data, len(timestamps)
    if data.split == "fractions":
        fractions = data.split_fractions
        train = int(rows * fractions.get("train", 0))
        validation = train + int(rows * fractions.get("validation", 0))
        borders = {
            "train": (0, train),
            "validation": (train, validation),
            "test": (validation, rows),
        }
    elif data.split == "ett":
        per_month = 30 * DAY // step
        a, b, c = (per_month * sum(ETT_MONTHS[: i + 1]) for i in range(3))
        if c > rows:
            raise InputDataError(
                f"data.split: ett needs {c} rows (20 months of 30 days at a "
                f"{step} s step); the series has {rows}.",
                path=path,
            )
        borders = {"train": (0, a), "validation": (a, b), "test": (b, c)}
    else:
        given = data.split_borders or {}
        unknown = set(given) - {"validation", "test", "end"}
        if unknown or "validation" not in given or "test" not in given:
            raise ConfigError(
                f"data.split: {data.split} needs data.split_borders with keys "
                f"validation, test and optionally end. Received: {given!r}."
            )
        at = {key: _border(key, value, data.split, timestamps) for key, value in given.items()}
        end = at.get("end", rows)
        if not 0 < at["validation"] <= at["test"] <= end <= rows:
            raise ConfigError(
                f"data.split_borders {given!r} give rows {at}; they must increase "
                f"within the series' {rows} rows."
            )
        borders = {
            "train": (0, at["validation"]),
            "validation": (at["validation"], at["test"]),
            "test": (at["test"], end),
        }
    return {name: (int(a), int(b)) for name, (a, b) in borders.items() if b > a}


def _border(key, value, split, timestamps):
    if split == "rows":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"data.split: rows needs row numbers in data.split_borders. "
                f"Received: {key}={value!r}."
            )
        return value
    import pandas as pd

    try:
        seconds = pd.Timestamp(str(value)).to_datetime64().astype("datetime64[s]").astype(np.int64)
    except ValueError as err:
        raise ConfigError(f"data.split_borders.{key}={value!r} is not a date ({err}).") from err
    return int(np.searchsorted(timestamps, seconds, side="left"))


def read_series(config, path=None):
    """The checked series of a forecasting config (or of `path`, scored as the split "data")."""
    scoring = path is not None
    path = str(path) if scoring else series_file(config)
    timestamps, values, columns, targets, step, weekdays_only = read_table(path, config)
    splits = (
        {"data": (0, len(timestamps))} if scoring else split_borders(config, timestamps, step, path)
    )
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    settings = {
        k: v
        for k, v in dataclasses.asdict(config.data).items()
        if k not in ("path", "train", "validation", "test", "label_files")
    }
    digest.update(json.dumps([settings, splits], sort_keys=True, default=str).encode())
    return SeriesData(
        timestamps,
        values,
        columns,
        targets,
        step,
        weekdays_only,
        splits,
        digest.hexdigest(),
        [str(path)],
    )


def future_timestamps(last, step, count, weekdays_only=False):
    """The `count` timestamps (seconds) after `last`, `step` apart (skipping weekends if asked)."""
    out, current = [], int(last)
    while len(out) < count:
        current += step
        if weekdays_only and is_weekend(current):
            continue
        out.append(current)
    return np.asarray(out, dtype=np.int64)


def format_timestamp(seconds, step):
    """ISO text of a timestamp; the date only for steps of whole days."""
    text = _iso(seconds)
    return text[:10] if step % DAY == 0 else text


def read_recent(path, metadata):
    """(timestamps [L], values [L, columns]) of the last L rows of a table, for an export.

    `metadata` is the export's own (timestamp column and format, columns, input length); the
    rows are checked as a series' are (numbers, strictly increasing timestamps).
    """
    path = str(path)
    fmt = splitting.file_format(path, "auto")
    table = data_lib.load_files([path], fmt, None)
    names = list(table.column_names)
    wanted = [metadata["timestamp_column"], *metadata["columns"]]
    for name in wanted:
        if name not in names:
            raise InputDataError(
                f"There is no column {name!r}; the export reads {wanted}. The "
                f"table has: {', '.join(names)}.",
                path=path,
                column=name,
            )
    length = metadata["input_length"]
    if table.num_rows < length:
        raise InputDataError(
            f"The table has {table.num_rows} rows; the export needs the last "
            f"{length} rows of history.",
            path=path,
        )
    timestamps = _timestamps(
        wanted[0], table[wanted[0]], path, fmt, metadata.get("timestamp_format")
    )
    values = np.stack(
        [_numeric(name, table[name], path, fmt) for name in metadata["columns"]], axis=1
    )
    fill = "keep" if metadata.get("weekdays_only") else "none"
    timestamps, values, _, _ = check_regular(timestamps, values, fill, path, fmt, wanted[0])
    return timestamps[-length:], values[-length:]
