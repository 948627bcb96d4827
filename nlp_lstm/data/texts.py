"""Read examples with Hugging Face `datasets` and cut them into train/validation/test; no
tokenization.

Supported sources: local csv/tsv/json/jsonl/text/parquet files (one file split by seeded fractions,
or given split files), one-example-per-line files per label (MR's rt-polarity.pos/.neg), sample
sets shipped in `nlp_lstm/samples`, and Hub dataset names."""

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np

from nlp_lstm.data.splitting import (
    SPLITS,
    cap_split,
    expand_files,
    file_format,
    fingerprint,
    given_files,
    split_dataset,
    stratified_split,
)
from nlp_lstm.data.tables import check_text_file, load_files, row_locator
from nlp_lstm.errors import InputDataError


@dataclasses.dataclass
class TextDataset:
    """Examples per split, as Python lists, plus what is needed to reproduce them.

    Args:
        splits: dict. Split name -> {"text": list of str, "label": int64 array}.
        label_names: list of str. Class names; `label` values index into it.
        fingerprint: str. SHA-256 of the source bytes, the split settings and the counts.
        files: list of str. The files read.
    """

    splits: dict
    label_names: list
    fingerprint: str
    files: list

    def counts(self):
        return {name: len(split["text"]) for name, split in self.splits.items()}

    def to_tf(self, split):
        """A `tf.data.Dataset` of {"text": string, "label": int64} for one split."""
        return split_dataset(self.splits[split], {"text": "string", "label": "int64"})


def check_header(num_rows, column_names, config, path):
    """Fails unless the table at `path` (`num_rows` rows, its `column_names`) has rows and the
    text and label columns of `config`."""
    text_col, label_col = config.data.text_column, config.data.label_column
    if num_rows == 0:
        raise InputDataError(
            "The file has a header but no examples. Add rows below the header.", path=path
        )
    for col in (text_col, label_col):
        if col not in column_names:
            key = "text_column" if col == text_col else "label_column"
            raise InputDataError(
                f"There is no column {col!r} (data.{key}). Available columns: "
                f"{', '.join(column_names)}. Set data.{key} to one of them.",
                path=path,
                column=col,
            )


def _columns(table, config, locate):
    """(texts, labels) of a table; `locate(row index)` gives (file, line) for errors."""
    text_col, label_col = config.data.text_column, config.data.label_column
    path = locate(0)[0]
    check_header(table.num_rows, table.column_names, config, path)
    texts, labels = table[text_col], table[label_col]
    for i, (t, y) in enumerate(zip(texts, labels)):
        if not isinstance(t, str):
            where, line = locate(i)
            what = "null" if t is None else f"{type(t).__name__} {t!r:.60}"
            raise InputDataError(
                f"The text field {text_col!r} of this row holds {what}, not a "
                f"string. Write it as a string, or fix or drop that row.",
                path=where,
                line=line,
                column=text_col,
            )
        if y is None or isinstance(y, str) and not y.strip():
            where, line = locate(i)
            raise InputDataError(
                "This row has no label. Fill in or drop that row.",
                path=where,
                line=line,
                column=label_col,
            )
    return list(texts), [str(y) for y in labels]


def _load_label_files(config):
    import datasets

    texts, labels, files = [], [], []
    for label, pattern in config.data.label_files.items():
        for f in expand_files(pattern, f"label_files.{label}"):
            check_text_file(f)
            files.append(f)
            table = datasets.load_dataset("text", data_files={"train": [f]}, split="train")
            lines = [t for t in table["text"] if t.strip()]
            texts += lines
            labels += [str(label)] * len(lines)
    return {"all": (texts, labels)}, files


def _load_hub(config):
    import datasets

    data = config.data
    # The split mapping is checked before anything is downloaded.
    mapping = data.hub_splits or {"train": "train", "validation": "validation", "test": "test"}
    unknown = sorted(set(mapping) - set(SPLITS))
    if unknown:
        raise InputDataError(
            f"data.hub_splits maps {', '.join(map(repr, unknown))}, which is not a split. Use "
            f"train, validation and test as its keys. Received: hub_splits={mapping!r}."
        )
    try:
        loaded = datasets.load_dataset(data.hub_name, data.hub_config)
    except (ConnectionError, OSError) as err:
        raise InputDataError(
            f"Cannot download the Hub dataset {data.hub_name!r}: {err}. This machine looks offline "
            f"(or HF_DATASETS_OFFLINE=1 is set). Download it once with network access, or point "
            f"data.source=files at local copies."
        ) from err
    except Exception as err:  # datasets raises DatasetNotFoundError, not a builtin
        if type(err).__name__ not in ("DatasetNotFoundError", "DataFilesNotFoundError"):
            raise
        raise InputDataError(
            f"The Hub has no dataset {data.hub_name!r} (data.hub_name): {err}. Check the name."
        ) from err
    out = {}
    for split, hub_split in mapping.items():
        if hub_split in loaded:
            name = f"{data.hub_name}[{hub_split}]"
            out[split] = _columns(loaded[hub_split], config, lambda index, n=name: (n, None))
    return out, [f"hub:{data.hub_name}"]


def read_dataset(config):
    """Reads the examples `config.data` describes into a `TextDataset` with
    train/validation/test."""
    data = config.data
    if data.source == "label_files":
        parts, files = _load_label_files(config)
    elif data.source == "hub":
        parts, files = _load_hub(config)
    else:
        given = given_files(data)
        parts, files = {}, []
        for split, pattern in given.items():
            split_files = expand_files(pattern, "path" if split == "all" else split)
            fmt = file_format(split_files[0], data.format)
            if fmt == "text":
                raise InputDataError(
                    "Plain text files have no label column. For one file per "
                    "label use data.source=label_files; otherwise use csv, tsv, "
                    "json or parquet.",
                    path=split_files[0],
                )
            table = load_files(split_files, fmt, data.delimiter, text_columns=[data.text_column])
            parts[split] = _columns(
                table, config, row_locator(split_files, fmt, True, data.delimiter)
            )
            files += split_files
    if "train" not in parts and "all" not in parts:
        raise InputDataError(
            "No train split was found. Give data.train, data.path or a source with a train split."
        )
    pool_name = "all" if "all" in parts else "train"
    # Split files are used as they are; only the splits not given are cut by fractions.
    missing = [
        s
        for s in SPLITS
        if s not in parts and s != pool_name and data.split_fractions.get(s, 0) > 0
    ]
    splits = {s: parts[s] for s in SPLITS if s in parts and s != "all"}
    if pool_name == "all" or missing:
        texts, labels = parts[pool_name]
        names = (
            ["train"] + missing
            if pool_name == "train"
            else [s for s in SPLITS if data.split_fractions.get(s, 0) > 0]
        )
        cut = stratified_split(labels, data.split_fractions, data.split_seed, names)
        for name, idx in cut.items():
            splits[name] = ([texts[i] for i in idx], [labels[i] for i in idx])
    if not splits.get("train") or not splits["train"][0]:
        raise InputDataError(
            "The train split is empty. Give more examples or larger data.split_fractions.train."
        )
    label_names = (
        list(data.labels)
        if data.labels
        else (list(data.label_files) if data.label_files else sorted(set(splits["train"][1])))
    )
    index = {name: i for i, name in enumerate(map(str, label_names))}
    encoded = {}
    for split, (texts, labels) in splits.items():
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise InputDataError(
                f"The {split} split has labels {unknown[:5]} that are not among "
                f"{label_names} (data.labels or the train labels). Fix the data "
                f"or list every label in data.labels.",
                column=data.label_column,
            )
        keep = cap_split(len(texts), data.max_examples, data.split_seed)
        encoded[split] = {
            "text": [texts[i] for i in keep],
            "label": np.asarray([index[labels[i]] for i in keep], dtype=np.int64),
        }
    if len(label_names) < 2:
        raise InputDataError(
            f"Classification needs at least 2 labels; the train split has "
            f"{label_names}. Check data.label_column.",
            column=data.label_column,
        )
    counts = {s: len(v["text"]) for s, v in encoded.items()}
    return TextDataset(
        splits=encoded,
        label_names=[str(n) for n in label_names],
        fingerprint=fingerprint(files, config, counts),
        files=files,
    )


def read_labelled_file(path, config, label_names):
    """One labelled file (csv/tsv/json/jsonl/parquet) as a TextDataset whose only split is
    "data", with its labels mapped to the ids of `label_names` (a trained run's classes)."""
    files = expand_files(str(path), "--data")
    fmt = file_format(files[0], "auto")
    if fmt == "text":
        raise InputDataError(
            "Plain text files have no label column; give a csv, tsv, json, jsonl "
            "or parquet file with a text and a label column.",
            path=files[0],
        )
    table = load_files(files, fmt, None, text_columns=[config.data.text_column])
    texts, labels = _columns(table, config, row_locator(files, fmt))
    unknown = sorted(set(labels) - set(label_names))
    if unknown:
        raise InputDataError(
            f"Labels {unknown[:5]} are not among the run's classes "
            f"{label_names}. Fix the file or pick its label column with "
            f"--label-column.",
            path=files[0],
            column=config.data.label_column,
        )
    index = {name: i for i, name in enumerate(label_names)}
    split = {"text": texts, "label": np.asarray([index[y] for y in labels], dtype=np.int64)}
    return TextDataset(
        splits={"data": split},
        label_names=list(label_names),
        fingerprint=fingerprint(files, config, {"data": len(texts)}),
        files=files,
    )


def read_texts(path, column="text"):
    """The texts of a file: a .txt (one per line), a .csv/.tsv or .jsonl file (`column`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            texts = []
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)[column]
                except (json.JSONDecodeError, KeyError, TypeError) as err:
                    raise InputDataError(
                        f"expected a JSON object with key {column!r} ({err}).",
                        path=path,
                        line=number,
                    ) from err
                if not isinstance(value, str):
                    raise InputDataError(
                        f"{column!r} must be a string, not {type(value).__name__}.",
                        path=path,
                        line=number,
                    )
                texts.append(value)
            return texts
        if suffix in (".csv", ".tsv"):
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
                if column not in (reader.fieldnames or []):
                    raise InputDataError(
                        f"no column {column!r}; columns: {reader.fieldnames}. Pass --column.",
                        path=path,
                    )
                return [row[column] for row in reader]
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise InputDataError("the file is not UTF-8 text.", path=path) from err
