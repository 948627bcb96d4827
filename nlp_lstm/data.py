"""Read examples with Hugging Face `datasets` and cut them into train/validation/test; no tokenization.

Supported sources: local csv/tsv/json/jsonl/text/parquet files (one file split by seeded fractions,
or given split files), one-example-per-line files per label (MR's rt-polarity.pos/.neg), sample
sets shipped in `nlp_lstm/samples`, and Hub dataset names.
"""

import csv
import dataclasses
import glob
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from nlp_lstm.errors import InputDataError
from nlp_lstm.tables import check_text_file, load_files, row_locator  # noqa: F401 (re-exported)

SPLITS = ("train", "validation", "test")
SAMPLES_DIR = Path(__file__).parent / "samples"
SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".txt": "text",
    ".text": "text",
    ".parquet": "parquet",
}


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


def split_dataset(part, dtypes):
    """A `tf.data.Dataset` of one split's columns, each with its dtype (column -> dtype name)."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(
        {column: tf.constant(part[column], dtype) for column, dtype in dtypes.items()}
    )


def expand_files(pattern, key):
    files = sorted(glob.glob(os.path.expanduser(pattern)))
    if not files:
        raise InputDataError(
            f"No file matches `data.{key}`={pattern!r}. Check the path "
            f"(relative paths are relative to the YAML that names them).",
            path=pattern,
        )
    return files


def file_format(path, fmt):
    if fmt != "auto":
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix == ".gz":
        suffix = Path(path[:-3]).suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        raise InputDataError(
            f"Cannot infer the format from the suffix {suffix!r}. Set data.format "
            f"to one of: {', '.join(sorted(set(SUFFIX_FORMATS.values())))}.",
            path=path,
        )
    return SUFFIX_FORMATS[suffix]


def sample_path(name, suffix, what):
    """The packaged sample file `name` + `suffix`; the error lists the samples of that kind."""
    path = SAMPLES_DIR / f"{name}{suffix}"
    if not path.is_file():
        available = sorted(p.stem for p in SAMPLES_DIR.glob(f"*{suffix}"))
        raise InputDataError(
            f"There is no {what} {name!r} (data.sample). Available: {', '.join(available)}."
        )
    return path


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
    mapping = data.hub_splits or {"train": "train", "validation": "validation", "test": "test"}
    out = {}
    for split, hub_split in mapping.items():
        if hub_split in loaded:
            name = f"{data.hub_name}[{hub_split}]"
            out[split] = _columns(loaded[hub_split], config, lambda index, n=name: (n, None))
    return out, [f"hub:{data.hub_name}"]


def _stratified_split(labels, fractions, seed, names):
    """Indices per split, cut per class from a seeded permutation (same class shares everywhere)."""
    rng = np.random.RandomState(seed)
    labels = np.asarray(labels)
    out = {name: [] for name in names}
    total = sum(fractions[n] for n in names)
    for value in np.unique(labels):  # sorted, as sorted(set(...)) but without a list
        idx = np.flatnonzero(labels == value)
        idx = idx[rng.permutation(len(idx))]
        start = 0
        for i, name in enumerate(names):
            if i == len(names) - 1:
                take = len(idx) - start
            else:
                take = int(round(len(idx) * fractions[name] / total))
            out[name].append(idx[start : start + take])
            start += take
    # numpy pieces, not Python lists: 40M rows as a list of ints took 1.5 GB.
    return {
        name: np.sort(np.concatenate(ix).astype(np.int64)) if ix else np.zeros(0, np.int64)
        for name, ix in out.items()
    }


def cap_split(count, max_examples, seed):
    """Indices of the rows one split keeps: all, or (`max_examples` > 0) a seeded sample of at
    most that many, in file order. Sampling, not the first rows: files are often sorted (by
    length, by label, by date)."""
    if not max_examples or count <= max_examples:
        return np.arange(count)
    return np.sort(np.random.RandomState(seed).choice(count, max_examples, replace=False))


def fingerprint(files, config, counts):
    digest = hashlib.sha256()
    for f in files:
        if f.startswith("hub:"):
            digest.update(f.encode())
            continue
        with open(f, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    settings = dataclasses.asdict(config.data)
    for key in ("path", "train", "validation", "test", "label_files"):
        settings.pop(key)  # the bytes are hashed; the location does not matter
    # A warning threshold and how the data is held or sampled are not properties of the data.
    for key in (
        "leakage_warn_share",
        "streaming",
        "streaming_threshold_bytes",
        "vocabulary_sample",
    ):
        settings.pop(key)
    digest.update(json.dumps([settings, counts], sort_keys=True).encode())
    return digest.hexdigest()


@dataclasses.dataclass
class TextCorpus:
    """Running text cut into contiguous splits (language modelling).

    Args:
        splits: dict. Split name -> the split's text.
        fingerprint: str. SHA-256 of the source bytes and the split settings.
        files: list of str. The files read.
    """

    splits: dict
    fingerprint: str
    files: list
    label_names = None

    def counts(self):
        return {name: len(text) for name, text in self.splits.items()}


def _read_running_text(files):
    import datasets

    for f in files:
        check_text_file(f)
    table = datasets.load_dataset(
        "text", data_files={"train": files}, split="train", keep_linebreaks=True
    )
    return "".join(table["text"])


def cap_range(start, end, max_characters, seed):
    """[start, end), or (`max_characters` > 0) a contiguous range of that many characters of it at
    a seeded offset: running text stays running text, and the start of a file is no special
    place."""
    if not max_characters or end - start <= max_characters:
        return start, end
    offset = int(np.random.RandomState(seed).randint(0, end - start - max_characters + 1))
    return start + offset, start + offset + max_characters


def cap_text(text, max_characters, seed):
    """`cap_range` applied to a string."""
    start, end = cap_range(0, len(text), max_characters, seed)
    return text[start:end]


def corpus_files(data):
    """Part ("all", or a split given as its own files) -> the files of running text of a
    DataConfig `data` (files or sample source)."""
    if data.source == "sample":
        return {"all": [str(sample_path(data.sample, ".txt", "sample text"))]}
    if data.source == "files" and (data.path or data.train):
        return (
            {"all": expand_files(data.path, "path")}
            if data.path
            else {s: expand_files(getattr(data, s), s) for s in SPLITS if getattr(data, s)}
        )
    raise InputDataError(
        "Generation reads running text: set data.source to files (with "
        "data.path or data.train) or sample."
    )


def corpus_ranges(lengths, data):
    """Split -> (part, start, end): the character range of each split in its part's text, from
    the length of each part (`corpus_files`' keys) and DataConfig `data`; see `read_corpus`."""
    pool_name = "all" if "all" in lengths else "train"
    missing = [
        s
        for s in SPLITS
        if s not in lengths and s != pool_name and data.split_fractions.get(s, 0) > 0
    ]
    ranges = {s: (s, 0, lengths[s]) for s in SPLITS if s in lengths}
    if pool_name == "all" or missing:
        names = (
            [s for s in SPLITS if data.split_fractions.get(s, 0) > 0]
            if pool_name == "all"
            else ["train"] + missing
        )
        size, start = lengths[pool_name], 0
        total = sum(data.split_fractions[n] for n in names)
        for index, name in enumerate(names):
            end = (
                size
                if index == len(names) - 1
                else start + int(round(size * data.split_fractions[name] / total))
            )
            ranges[name] = (pool_name, start, end)
            start = end
    return {
        s: (ranges[s][0], *cap_range(*ranges[s][1:], data.max_examples, data.split_seed))
        for s in SPLITS
        if s in ranges
    }


def check_train_range(counts, files):
    """Fails when the train split (`counts`: split -> characters) is too short to model."""
    if counts.get("train", 0) < 2:
        raise InputDataError(
            "The train split has fewer than 2 characters. Give more text.", path=files[0]
        )


def read_corpus(config):
    """Reads running text into contiguous train/validation/test ranges.

    Split files that are given (data.train, data.validation, data.test: PTB-style corpora ship
    their own) are used as they are; the splits not given are cut from data.path or data.train
    by data.split_fractions, in order and never shuffled: the first share of the characters
    trains, the next validates, the rest tests. `data.max_examples` keeps a contiguous range of
    at most that many characters of each split, at an offset seeded by data.split_seed.
    `nlp_lstm.running_text` cuts the same ranges without reading the text into memory.
    """
    given = corpus_files(config.data)
    parts = {split: _read_running_text(files) for split, files in given.items()}
    files = [f for split_files in given.values() for f in split_files]
    ranges = corpus_ranges({part: len(text) for part, text in parts.items()}, config.data)
    splits = {s: parts[part][start:end] for s, (part, start, end) in ranges.items()}
    counts = {name: len(part) for name, part in splits.items()}
    check_train_range(counts, files)
    return TextCorpus(splits=splits, fingerprint=fingerprint(files, config, counts), files=files)


def given_files(data):
    """Split (or "all") -> file pattern of a files or sample source (DataConfig `data`)."""
    if data.source == "sample":
        return {"all": str(sample_path(data.sample, ".tsv", "sample set"))}
    if data.path:
        return {"all": data.path}
    return {s: getattr(data, s) for s in SPLITS if getattr(data, s)}


def read_dataset(config):
    """Reads the examples `config.data` describes into a `TextDataset` with train/validation/test."""
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
        cut = _stratified_split(labels, data.split_fractions, data.split_seed, names)
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


def read_text_file(path, config):
    """One file of running text as a TextCorpus whose only split is "data"."""
    import datasets

    files = expand_files(str(path), "--data")
    for f in files:
        check_text_file(f)
    table = datasets.load_dataset(
        "text", data_files={"train": files}, split="train", keep_linebreaks=True
    )
    text = "".join(table["text"])
    return TextCorpus(
        splits={"data": text},
        fingerprint=fingerprint(files, config, {"data": len(text)}),
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
