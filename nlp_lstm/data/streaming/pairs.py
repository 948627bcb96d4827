"""Sentence pairs larger than memory (translation with data.streaming): the source and target
columns stay in the Arrow files `datasets` writes, read record batch by record batch.

Tables (csv/tsv/json/jsonl/parquet) go through `tables.prepare_files` as for classification;
line-aligned files per language go through the `datasets` "text" builder, one Arrow file set a
file, so that the line counts of each pair of files are known. The in-memory reader's checks and
messages are kept (a missing column, an empty or non-string field with its file and line,
parallel files of different lengths, an empty line), done with Arrow compute batch by batch.

The text builder reads files with Python's universal newlines, so a lone carriage return ends a
line there, while the in-memory reader splits on line feeds only (and strips a "\r" before
them): files with lone carriage returns may give other line counts in the two readers.

Splits cut from a pool keep every translation of one source sentence in one split, from bounded
memory: a 64-bit hash of each source sentence (8 bytes a pair), then a seeded permutation of the
sorted distinct hashes, cut by `data.split_fractions` as the in-memory reader cuts its sorted
distinct strings (`parallel_data.group_assignment`). The two orders differ, so streamed and
in-memory splits of a pool differ (same sizes up to rounding); the fingerprint records which cut
was made. Split files are used as they are, so given splits agree in both readers."""

import glob
import os

import numpy as np

from nlp_lstm.data import pairs as parallel_data
from nlp_lstm.data import splitting
from nlp_lstm.data.streaming import columns as arrow_data
from nlp_lstm.data.tables import prepare_files, row_locator
from nlp_lstm.errors import InputDataError

# The text builder's column.
LINE_COLUMN = "text"


def read_parallel(config):
    """`parallel_data.read_parallel`, streamed (an `ArrowParallelDataset`) when
    `data.streaming` is always, or auto and the files pass `data.streaming_threshold_bytes`."""
    data = config.data
    if data.source in ("files", "sample"):
        given = splitting.given_files(data)
        languages = [data.source_language, data.target_language] if data.source_language else [None]
        files = [
            f
            for pattern in given.values()
            for lang in languages
            for f in glob.glob(os.path.expanduser(pattern.replace("{lang}", lang or "{lang}")))
        ]
        if arrow_data.streaming_enabled(data, files):
            return read_arrow_parallel(config, given)
    return parallel_data.read_parallel(config)


def read_arrow_parallel(config, given):
    """Reads split files or one pool (`given`: split or "all" -> file pattern) into an
    `ArrowParallelDataset`: the in-memory reader's checks, caps and fingerprint inputs, with
    the texts left in the Arrow files and the pool cut by hashed groups (module docstring)."""
    data = config.data
    parts, files = {}, []
    for split, pattern in given.items():
        key = "path" if split == "all" else split
        source_files, target_files = parallel_data.split_files(data, key, pattern)
        if target_files is not None:
            parts[split] = _line_columns(source_files, target_files)
            files += source_files + target_files
        else:
            parts[split] = _table_columns(source_files, config)
            files += source_files
    splits, pool_name, names = parallel_data.pool_plan(parts, data)
    counts_extra = {}
    if pool_name:
        sources, targets = parts.pop(pool_name)
        cut = hashed_group_split(
            source_hashes(sources), data.split_fractions, data.split_seed, names
        )
        for name in names:
            splits[name] = _pair_subset(sources, targets, cut.pop(name))
        del sources, targets  # the pool's row indices (8 bytes a pair)
        counts_extra = {"group_split": "source_hash64"}
    parallel_data.check_train(splits)
    encoded = {}
    for split, (sources, targets) in splits.items():
        if data.max_examples and len(sources) > data.max_examples:
            sources, targets = _pair_subset(
                sources,
                targets,
                splitting.cap_split(len(sources), data.max_examples, data.split_seed),
            )
        encoded[split] = {"source": sources, "target": targets}
    counts = {s: len(v["source"]) for s, v in encoded.items()}
    return ArrowParallelDataset(
        splits=encoded,
        files=files,
        fingerprint=splitting.fingerprint(files, config, {**counts, **counts_extra}),
    )


class ArrowParallelDataset(parallel_data.ParallelDataset):
    """A `ParallelDataset` whose pairs stay in Arrow files: each split is
    {"source": ArrowColumn, "target": ArrowColumn} (the same rows), read batch by batch."""

    streamed = True

    def to_tf(self, split):
        part = self.splits[split]
        return (
            pair_batches(part["source"], part["target"])
            .unbatch()
            .map(lambda source, target: {"source": source, "target": target})
        )


def hashed_group_split(hashes, fractions, seed, names, chunk=2**22):
    """Indices per split (sorted) of the rows whose group hashes are `hashes` (uint64): a seeded
    permutation of the sorted distinct hashes, cut by `fractions`, so a group never straddles.
    Differs from `parallel_data._group_split`, which orders the distinct strings themselves.

    Memory: the hashes, one sorted copy while the distinct ones are found, a byte a row for its
    split, then the indices; `np.unique(return_inverse=True)` would hold five arrays of 8 bytes
    a row at once (3.2 GB for 80M pairs)."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    distinct = np.sort(hashes)
    new = np.ones(len(distinct), dtype=bool)
    np.not_equal(distinct[1:], distinct[:-1], out=new[1:])
    distinct = distinct[new]
    del new
    group_split = parallel_data.group_assignment(len(distinct), fractions, seed, names).astype(
        np.int8
    )
    row_split = np.empty(len(hashes), dtype=np.int8)
    for start in range(0, len(hashes), chunk):
        row_split[start : start + chunk] = group_split[
            np.searchsorted(distinct, hashes[start : start + chunk])
        ]
    del distinct, group_split
    return {name: np.flatnonzero(row_split == i).astype(np.int64) for i, name in enumerate(names)}


def source_hashes(column):
    """A 64-bit hash (uint64) of each text of `column` (ArrowColumn), computed batch by batch
    into one array; pandas' SipHash with its fixed key, so the same text hashes the same in
    every process."""
    import pandas as pd

    hashes, start = np.empty(len(column), dtype=np.uint64), 0
    for texts in column.batches():
        hashes[start : start + len(texts)] = pd.util.hash_array(
            np.asarray(texts, dtype=object), categorize=False
        )
        start += len(texts)
    return hashes


def _pair_subset(sources, targets, positions):
    """The (source, target) ArrowColumns of the pairs at `positions`; both share one index array
    when the two columns share one (the same rows), as the readers make them."""
    sources_at = sources.subset(positions)
    if targets.indices is not sources.indices:
        return sources_at, targets.subset(positions)
    return sources_at, arrow_data.ArrowColumn(targets.files, targets.column, sources_at.indices)


def pair_lists(sources, targets, size=arrow_data.READ_BATCH):
    """(source texts, target texts) lists of at most `size` pairs, in row order, from two
    ArrowColumns of the same rows (re-cut so that both sides have the same lengths)."""
    return zip(_recut(sources.batches(size), size), _recut(targets.batches(size), size))


def _recut(batches, size):
    held = []
    for batch in batches:
        held += batch
        while len(held) >= size:
            yield held[:size]
            held = held[size:]
    if held:
        yield held


def pair_batches(sources, targets, size=arrow_data.READ_BATCH):
    """A tf.data.Dataset of ([n] string, [n] string) batches of `pair_lists`."""
    import tensorflow as tf

    def rows():
        for source, target in pair_lists(sources, targets, size):
            yield np.asarray(source, dtype=object), np.asarray(target, dtype=object)

    return tf.data.Dataset.from_generator(
        rows, output_signature=(tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string))
    )


def split_texts(part):
    """{"source": list, "target": list} of one split ({"source", "target"} ArrowColumns, or
    lists: returned as they are), read batch by batch: evaluation holds an eval split's texts
    for sacreBLEU and the TSV."""
    if not isinstance(part["source"], arrow_data.ArrowColumn):
        return part
    out = {"source": [], "target": []}
    for source, target in pair_lists(part["source"], part["target"]):
        out["source"] += source
        out["target"] += target
    return out


def _line_columns(source_files, target_files):
    """(source, target) ArrowColumns of line-aligned files, with the in-memory reader's checks."""
    columns, num_rows = ([], []), 0
    for s_file, t_file in zip(source_files, target_files):
        (s_arrow, s_rows), (t_arrow, t_rows) = (
            prepare_files([f], "text", None) for f in (s_file, t_file)
        )
        if s_rows != t_rows:
            raise InputDataError(
                f"The parallel files differ in length: {s_rows} lines here but {t_rows} in "
                f"{t_file}. Line i of one file must translate line i of the other; fix the "
                f"files so that they have the same number of lines.",
                path=s_file,
            )
        for path, arrow_files, column in (
            (s_file, s_arrow, columns[0]),
            (t_file, t_arrow, columns[1]),
        ):
            line = _first_empty(arrow_files, LINE_COLUMN)
            if line is not None:
                raise InputDataError(
                    "This line is empty; every line must hold a sentence. "
                    "Remove the pair from both files (same line number).",
                    path=path,
                    line=line + 1,
                )
            column += arrow_files
        num_rows += s_rows
    rows = np.arange(num_rows, dtype=np.int64)  # one index array for both columns
    return tuple(arrow_data.ArrowColumn(files, LINE_COLUMN, rows) for files in columns)


def _first_empty(files, column):
    """The row index of the first null or blank text of `column` in `files`, or None."""
    import pyarrow.compute as pc

    start = 0
    for batch in arrow_data.record_batches(files, [column]):
        blank = _blank(batch.column(column))
        if pc.any(blank).as_py():
            return start + pc.index(blank, True).as_py()
        start += batch.num_rows
    return None


def _blank(texts):
    import pyarrow.compute as pc

    return pc.or_kleene(
        pc.is_null(texts), pc.equal(pc.utf8_trim_whitespace(texts.fill_null("")), "")
    )


def _table_columns(files, config):
    """(source, target) ArrowColumns of a table, with the in-memory reader's checks."""
    data = config.data
    fmt = parallel_data.table_format(files, data)
    columns = [data.source_column, data.target_column]
    arrow_files, num_rows = prepare_files(
        files, "json" if fmt == "jsonl" else fmt, data.delimiter, columns, data.column_names
    )
    check_pair_columns(
        arrow_files, config, row_locator(files, fmt, not data.column_names, data.delimiter)
    )
    rows = np.arange(num_rows, dtype=np.int64)  # one index array for both columns
    return tuple(arrow_data.ArrowColumn(arrow_files, c, rows) for c in columns)


def check_pair_columns(files, config, locate):
    """Fails, as `parallel_data._table_pairs` does, on a missing source or target column or a
    field that is not a non-blank string, naming its file and line (`locate(row index)`)."""
    import pyarrow as pa

    data = config.data
    with pa.OSFile(files[0]) as source:
        parallel_data.check_pair_header(pa.ipc.open_stream(source).schema.names, data, locate(0)[0])
    columns = [data.source_column, data.target_column]
    start = 0
    for batch in arrow_data.record_batches(files, columns):
        bad = [_first_bad(batch.column(c)) for c in columns]
        found = [(row, i) for i, row in enumerate(bad) if row is not None]
        if found:
            row, i = min(found)
            raise parallel_data.field_error(
                columns[i], batch.column(columns[i])[row].as_py(), *locate(start + row)
            )
        start += batch.num_rows


def _first_bad(texts):
    """The index of the first field of `texts` that is not a non-blank string, or None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(texts):
        return None
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        return 0  # null or another type: every field is bad
    blank = _blank(texts)
    return pc.index(blank, True).as_py() if pc.any(blank).as_py() else None


# -- the translation task's token ids ------------------------------------------------------------
def sampled_pairs(part, limit, seed):
    """(source, target) datasets of string batches of a seeded sample of at most `limit` pairs
    of a streamed split (`part`), in file order; all pairs when fewer (or `limit` 0)."""
    from nlp_lstm.data.inputs import TOKENIZE_BATCH

    pairs = pair_batches(
        part["source"].sample(limit, seed), part["target"].sample(limit, seed), TOKENIZE_BATCH
    )
    return pairs.map(lambda s, t: s), pairs.map(lambda s, t: t)
