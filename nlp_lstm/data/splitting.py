"""Splits and sources shared by every reader: file patterns, formats by suffix, the shipped sample
sets, the seeded stratified split, seeded caps, and the data fingerprint.
"""

import dataclasses
import glob
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from nlp_lstm.errors import InputDataError

SPLITS = ("train", "validation", "test")

SAMPLES_DIR = Path(__file__).parents[1] / "samples"

SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".txt": "text",
    ".text": "text",
    ".parquet": "parquet",
}


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


def stratified_split(labels, fractions, seed, names):
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


def given_files(data):
    """Split (or "all") -> file pattern of a files or sample source (DataConfig `data`)."""
    if data.source == "sample":
        return {"all": str(sample_path(data.sample, ".tsv", "sample set"))}
    if data.path:
        return {"all": data.path}
    return {s: getattr(data, s) for s in SPLITS if getattr(data, s)}
