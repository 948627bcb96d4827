"""Corpora larger than memory: splits are index arrays into the Arrow files `datasets` writes,
read into tf.data lazily, and their token ids are cached on disk.

`tables.prepare_files` has a `datasets` builder convert csv/tsv/json/parquet files once into
Arrow files in its cache, without opening them as a `datasets.Dataset`: that table is memory-mapped
and the pages it touches (when it is built, when a column is read) count in the resident size of
the process, 2.3 GB of it on a 2 GB corpus. A split is the list of Arrow files plus a sorted int64
array of its row indices (8 bytes an example), cut by the same seeded, stratified index code as
in-memory corpora, so both paths give the same splits. The label checks and codes, and the texts,
are read record batch by record batch with plain reads, so that memory stays bounded by a batch
plus a few bytes a row.

`cached_ids` writes a split's token ids with `tf.data.Dataset.save` into the run directory (into
a temporary folder renamed when complete) and reuses them on resume; `shuffled_ids` reads the
train ids in an order that is a function of (seed, epoch) and reaches across the whole file: the
ids are saved as batches in `NUM_SHARDS` shards (batch i in shard i mod NUM_SHARDS); each epoch
reads the shards in a seeded order, interleaved, through a shuffle buffer.
"""

import os
import shutil
from pathlib import Path

import numpy as np

from nlp_lstm import artifacts
from nlp_lstm.data import splitting
from nlp_lstm.data import texts as data_lib
from nlp_lstm.data.tables import prepare_files
from nlp_lstm.errors import InputDataError

READ_BATCH = 4096
NUM_SHARDS = 64
INTERLEAVE = 8


def streaming_enabled(data, files):
    """Whether `data` (DataConfig) streams the corpus made of `files`."""
    if data.streaming != "auto":
        return data.streaming == "always"
    return (
        sum(os.path.getsize(f) for f in files if os.path.exists(f)) > data.streaming_threshold_bytes
    )


class ArrowColumn:
    """One column of a split: the rows `indices` (sorted) of the Arrow stream files `files`
    (what `tables.prepare_files` returns), read lazily with plain reads.

    `len()` counts the rows, `[i:j]` reads a slice as a list of str, `batches(n)` yields lists of
    at most n texts in index order; nothing holds the whole column.
    """

    def __init__(self, files, column, indices):
        self.files = list(files)
        self.column = column
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("ArrowColumn takes slices only; read it in batches.")
        rows = self.indices[key]
        order = np.argsort(rows, kind="stable")  # a negative step reverses the file order
        part = ArrowColumn(self.files, self.column, rows[order])
        texts = [text for batch in part.batches() for text in batch]
        out = [None] * len(rows)
        for position, text in zip(order, texts):
            out[position] = text
        return out

    def sample(self, limit, seed):
        """A seeded sample of at most `limit` texts, in file order (all when fewer)."""
        return self.subset(splitting.cap_split(len(self), limit, seed))

    def subset(self, positions):
        """The rows at `positions` (sorted positions into this column) as an ArrowColumn."""
        return ArrowColumn(self.files, self.column, self.indices[positions])

    def batches(self, size=READ_BATCH):
        """Lists of at most `size` texts, in index order, read from the Arrow files."""
        import pyarrow as pa

        start, position = 0, 0
        for batch in record_batches(self.files, [self.column]):
            end = start + batch.num_rows
            lo, hi = np.searchsorted(self.indices, [start, end])
            for first in range(lo, hi, size):
                rows = self.indices[first : min(first + size, hi)] - start
                yield batch.column(self.column).take(pa.array(rows)).to_pylist()
            position += hi - lo
            start = end
        if position != len(self):
            raise InputDataError(
                f"The Arrow cache of {self.files[0]} holds {start} rows, fewer "
                f"than the split needs. Delete the datasets cache and run again."
            )


def record_batches(files, columns):
    """The record batches of the Arrow stream files `files`, in row order, with only `columns`:
    plain reads into buffers freed batch by batch, not a memory map (whose touched pages would
    stay resident)."""
    import pyarrow as pa

    for path in files:
        with pa.OSFile(path) as source:
            names = pa.ipc.open_stream(source).schema.names
        options = pa.ipc.IpcReadOptions(included_fields=[names.index(c) for c in columns])
        with pa.OSFile(path) as source:
            yield from pa.ipc.open_stream(source, options=options)


def check_columns(files, num_rows, config, locate):
    """Checks the text and label columns of the Arrow files `files` (`num_rows` rows) record
    batch by record batch with Arrow compute (no Python row loop, no whole column in memory)
    and returns (the sorted label names, the int32 code of each row's label in them); the
    messages are those of the in-memory reader."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text_col, label_col = config.data.text_column, config.data.label_column
    with pa.OSFile(files[0]) as source:
        schema = pa.ipc.open_stream(source).schema
    data_lib.check_header(num_rows, schema.names, config, locate(0)[0])
    text_type = schema.field(text_col).type
    strings = pa.types.is_string(text_type) or pa.types.is_large_string(text_type)
    codes = np.empty(num_rows, dtype=np.int32)
    index, start = {}, 0
    for batch in record_batches(files, [text_col, label_col]):
        texts, count = batch.column(text_col), batch.num_rows
        if not count:
            continue
        if not strings:
            where, line = locate(start)
            value = texts[0].as_py()
            raise InputDataError(
                f"The text field {text_col!r} of this row holds "
                f"{type(value).__name__} {value!r:.60}, not a string. Write it "
                f"as a string, or fix or drop that row.",
                path=where,
                line=line,
                column=text_col,
            )
        if texts.null_count:
            where, line = locate(start + pc.index(pc.is_null(texts), True).as_py())
            raise InputDataError(
                f"The text field {text_col!r} of this row holds null, not a "
                f"string. Write it as a string, or fix or drop that row.",
                path=where,
                line=line,
                column=text_col,
            )
        labels = pc.cast(batch.column(label_col), pa.string())
        empty = pc.or_kleene(
            pc.is_null(labels), pc.equal(pc.utf8_trim_whitespace(labels.fill_null("")), "")
        )
        if pc.any(empty).as_py():
            where, line = locate(start + pc.index(empty, True).as_py())
            raise InputDataError(
                "This row has no label. Fill in or drop that row.",
                path=where,
                line=line,
                column=label_col,
            )
        encoded = pc.dictionary_encode(labels)
        to_code = np.asarray(
            [index.setdefault(name, len(index)) for name in encoded.dictionary.to_pylist()],
            dtype=np.int32,
        )
        codes[start : start + count] = to_code[encoded.indices.to_numpy(zero_copy_only=False)]
        start += count
    if start != num_rows:
        raise InputDataError(
            f"The Arrow cache of {files[0]} holds {start} rows, not the "
            f"{num_rows} `datasets` recorded. Delete the datasets cache and run "
            f"again."
        )
    names = list(index)
    # Codes in sorted-name order, so that index code splits class by class as the in-memory
    # reader does with the names.
    order = np.argsort(np.asarray(names, dtype=object).astype(str), kind="stable")
    rank = np.empty(len(names), dtype=np.int32)
    rank[order] = np.arange(len(names), dtype=np.int32)
    np.take(rank, codes, out=codes)
    return [names[i] for i in order], codes


def read_dataset(config):
    """`data.read_dataset`, streamed (an `ArrowTextDataset`) when `data.streaming` is always, or
    auto and the files pass `data.streaming_threshold_bytes`; label files and Hub sources are
    read into memory."""
    data = config.data
    if data.source in ("files", "sample"):
        given = splitting.given_files(data)
        files = [
            f
            for split, pattern in given.items()
            for f in splitting.expand_files(pattern, "path" if split == "all" else split)
        ]
        if streaming_enabled(data, files):
            return read_arrow_dataset(config, given)
    return data_lib.read_dataset(config)


def read_arrow_dataset(config, given):
    """Reads split files or one pooled file (`given`: split or "all" -> file pattern) into an
    `ArrowTextDataset`: the same splits, labels, caps and fingerprint as `data.read_dataset`,
    with the texts left in the Arrow files."""
    data = config.data
    tables, files = {}, []
    for split, pattern in given.items():
        split_files = splitting.expand_files(pattern, "path" if split == "all" else split)
        fmt = splitting.file_format(split_files[0], data.format)
        if fmt == "text":
            raise InputDataError(
                "Plain text files have no label column. For one file per "
                "label use data.source=label_files; otherwise use csv, tsv, "
                "json or parquet.",
                path=split_files[0],
            )
        # JSON lines go through the json builder: the in-memory reader's line-by-line parse
        # would hold every row.
        arrow_files, num_rows = prepare_files(
            split_files,
            "json" if fmt == "jsonl" else fmt,
            data.delimiter,
            text_columns=[data.text_column],
        )
        locate = data_lib.row_locator(split_files, fmt, True, data.delimiter)
        names, codes = check_columns(arrow_files, num_rows, config, locate)
        tables[split] = (arrow_files, np.asarray(names, dtype=object), codes)
        files += split_files
    if "train" not in tables and "all" not in tables:
        raise InputDataError(
            "No train split was found. Give data.train, data.path or a source with a train split."
        )
    pool_name = "all" if "all" in tables else "train"
    missing = [
        s
        for s in splitting.SPLITS
        if s not in tables and s != pool_name and data.split_fractions.get(s, 0) > 0
    ]
    rows = {
        s: (tables[s][0], np.arange(len(tables[s][2])), tables[s][1], tables[s][2])
        for s in splitting.SPLITS
        if s in tables
    }
    if pool_name == "all" or missing:
        arrow_files, names, codes = tables[pool_name]
        split_names = (
            ["train"] + missing
            if pool_name == "train"
            else [s for s in splitting.SPLITS if data.split_fractions.get(s, 0) > 0]
        )
        cut = splitting.stratified_split(codes, data.split_fractions, data.split_seed, split_names)
        for name, idx in cut.items():
            rows[name] = (arrow_files, idx, names, codes[idx])
    if "train" not in rows or not len(rows["train"][1]):
        raise InputDataError(
            "The train split is empty. Give more examples or larger data.split_fractions.train."
        )
    _, _, train_names, train_codes = rows["train"]
    label_names = (
        [str(n) for n in data.labels]
        if data.labels
        else sorted(str(n) for n in train_names[np.unique(train_codes)])
    )
    index = {name: i for i, name in enumerate(label_names)}
    splits = {}
    for split, (arrow_files, idx, names, codes) in rows.items():
        present = [str(n) for n in names[np.unique(codes)]] if len(codes) else []
        unknown = sorted(set(present) - set(index))
        if unknown:
            raise InputDataError(
                f"The {split} split has labels {unknown[:5]} that are not among "
                f"{label_names} (data.labels or the train labels). Fix the data "
                f"or list every label in data.labels.",
                column=data.label_column,
            )
        to_id = np.asarray([index.get(str(n), -1) for n in names], dtype=np.int64)
        keep = splitting.cap_split(len(idx), data.max_examples, data.split_seed)
        splits[split] = {
            "text": ArrowColumn(arrow_files, data.text_column, idx[keep]),
            "label": to_id[codes[keep]],
        }
    if len(label_names) < 2:
        raise InputDataError(
            f"Classification needs at least 2 labels; the train split has "
            f"{label_names}. Check data.label_column.",
            column=data.label_column,
        )
    counts = {s: len(v["text"]) for s, v in splits.items()}
    return ArrowTextDataset(
        splits=splits,
        label_names=label_names,
        fingerprint=splitting.fingerprint(files, config, counts),
        files=files,
    )


class ArrowTextDataset(data_lib.TextDataset):
    """A `TextDataset` whose texts stay in Arrow files: each split is {"text": ArrowColumn,
    "label": int64 array}, and `to_tf` reads the texts batch by batch."""

    streamed = True

    def to_tf(self, split):
        part = self.splits[split]
        return text_dataset(part["text"], part["label"])


def text_batches(column, labels, batch_size=READ_BATCH):
    """A tf.data.Dataset of {"text": [n] string, "label": [n] int64} batches of at most
    `batch_size` rows, reading `column` (ArrowColumn) from Arrow; `labels` holds the int64 label
    of each of its rows. Batches, not rows: a Python generator yields one batch per call."""
    import tensorflow as tf

    def rows():
        start = 0
        for texts in column.batches(batch_size):
            yield np.asarray(texts, dtype=object), labels[start : start + len(texts)]
            start += len(texts)

    dataset = tf.data.Dataset.from_generator(
        rows, output_signature=(tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.int64))
    )
    return dataset.map(lambda text, label: {"text": text, "label": label})


def text_dataset(column, labels):
    """`text_batches` as single {"text", "label"} rows."""
    import tensorflow as tf

    return (
        text_batches(column, labels)
        .unbatch()
        .apply(tf.data.experimental.assert_cardinality(len(column)))
    )


def cached_ids(make, path):
    """Unbatched (ids, label) rows of the batches saved at `path`, written first from `make()`
    (a dataset of (ragged ids, labels) batches, or for translation (ragged source ids, ragged
    target ids)) when missing.

    The batches are written into a temporary folder that is renamed when complete, so a killed
    process leaves no half-written cache; a resumed run loads what an earlier process wrote.
    Batches, not rows, are saved: a row at a time cost about 100 us each on this CPU.
    """
    _write_once(make, path)
    return _rows(_load(path))


def cached_lengths(make, path, component=0):
    """The lengths of the rows cached at `path` (written first from `make()` when missing), read
    per batch, in the order of the shards: of the ids, or of the ragged `component` of each
    element (translation: 0 the source, 1 the target)."""
    _write_once(make, path)
    parts = list(
        _load(path).map(lambda *element: element[component].row_lengths()).as_numpy_iterator()
    )
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _write_once(make, path):
    path = Path(path)
    if path.is_dir():
        return
    tmp = artifacts.temporary_sibling(path)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    # Batch i goes to shard i mod NUM_SHARDS, so every shard holds blocks from the whole file.
    make().enumerate().save(str(tmp), shard_func=lambda index, _: index % NUM_SHARDS)
    try:
        os.replace(tmp, path)
    except OSError:
        if not path.is_dir():  # not another process that wrote the same ids first
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _load(path, reader_func=None):
    import tensorflow as tf

    return tf.data.Dataset.load(str(path), reader_func=reader_func).map(
        lambda index, element: element
    )


def _rows(batches):
    # tf.data rejects the ragged-derived element spec in bucketing without the identity map.
    return batches.unbatch().map(lambda ids, label: (ids, label))


def shuffled_ids(path, buffer_size, seed, epoch):
    """The cached rows at `path` in the order of `epoch`: shards in a seeded order, interleaved
    in batches, then a seeded shuffle buffer (a function of (seed, epoch))."""
    from nlp_lstm.data.inputs import shuffle_seed

    order_seed = shuffle_seed(seed, epoch)

    def reader(shards):
        return shards.shuffle(
            NUM_SHARDS, seed=order_seed, reshuffle_each_iteration=False
        ).interleave(lambda shard: shard, cycle_length=INTERLEAVE)

    return _rows(_load(path, reader)).shuffle(
        buffer_size, seed=order_seed, reshuffle_each_iteration=False
    )
