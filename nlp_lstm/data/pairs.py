"""Read sentence pairs (translation) with Hugging Face `datasets`: line-aligned files, tables,
and shipped samples, cut into train/validation/test by seeded groups; no tokenization."""

import dataclasses

import numpy as np

from nlp_lstm.data.splitting import (
    SPLITS,
    cap_split,
    expand_files,
    file_format,
    fingerprint,
    sample_path,
    split_dataset,
)
from nlp_lstm.data.texts import check_text_file, load_files, row_locator
from nlp_lstm.errors import InputDataError


@dataclasses.dataclass
class ParallelDataset:
    """Sentence pairs per split (translation).

    Args:
        splits: dict. Split name -> {"source": list of str, "target": list of str}.
        fingerprint: str. SHA-256 of the source bytes, the split settings and the counts.
        files: list of str. The files read.
    """

    splits: dict
    fingerprint: str
    files: list
    label_names = None

    def counts(self):
        return {name: len(split["source"]) for name, split in self.splits.items()}

    def to_tf(self, split):
        """A `tf.data.Dataset` of {"source": string, "target": string} for one split."""
        return split_dataset(self.splits[split], {"source": "string", "target": "string"})


def _read_lines(path):
    """The lines of a (possibly gzipped) UTF-8 text file, without line ends; errors name the
    line."""
    import gzip

    check_text_file(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for number, raw in enumerate(lines, 1):
        try:
            out.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as err:
            raise InputDataError(
                f"byte {err.start + 1} of this line is not valid UTF-8. "
                f"Re-encode the file as UTF-8.",
                path=path,
                line=number,
            ) from err
    return out


def _aligned_pairs(source_file, target_file):
    """Pairs from two line-aligned files; a count mismatch or an empty line is an error."""
    sources, targets = _read_lines(source_file), _read_lines(target_file)
    if len(sources) != len(targets):
        raise InputDataError(
            f"The parallel files differ in length: {len(sources)} lines here but {len(targets)} in "
            f"{target_file}. Line i of one file must translate line i of the other; fix the "
            f"files so that they have the same number of lines.",
            path=source_file,
        )
    for path, lines in ((source_file, sources), (target_file, targets)):
        for number, line in enumerate(lines, 1):
            if not line.strip():
                raise InputDataError(
                    "This line is empty; every line must hold a sentence. Remove "
                    "the pair from both files (same line number).",
                    path=path,
                    line=number,
                )
    return sources, targets


def _table_pairs(table, config, locate):
    """(sources, targets) of a table; `locate(row index)` gives (file, line) for errors."""
    data = config.data
    check_pair_header(table.column_names, data, locate(0)[0])
    sources, targets = table[data.source_column], table[data.target_column]
    for i, pair in enumerate(zip(sources, targets)):
        for column, value in zip((data.source_column, data.target_column), pair):
            if not isinstance(value, str) or not value.strip():
                raise field_error(column, value, *locate(i))
    return list(sources), list(targets)


def check_pair_header(column_names, data, path):
    """Fails unless `column_names` (of the table at `path`) hold the source and target columns
    of `data` (DataConfig)."""
    for key in ("source_column", "target_column"):
        column = getattr(data, key)
        if column not in column_names:
            raise InputDataError(
                f"There is no column {column!r} (data.{key}). Available columns: "
                f"{', '.join(column_names)}. Set data.{key} to one of them"
                f" (or data.column_names for files without a header).",
                path=path,
                column=column,
            )


def field_error(column, value, where, line):
    """The InputDataError of a field `value` of `column` that is not a non-blank string."""
    what = (
        "no" if value is None or isinstance(value, str) else f"{type(value).__name__}, not string,"
    )
    return InputDataError(
        f"The field {column!r} has {what} text ({value!r:.60}). Fill in or drop that row.",
        path=where,
        line=line,
        column=column,
    )


def _group_split(groups, fractions, seed, names):
    """Indices per split from a seeded permutation of the distinct groups (a group never
    straddles); the groups are all the distinct strings, sorted, held in memory."""
    distinct = sorted(set(groups))
    position = {group: i for i, group in enumerate(distinct)}
    which = group_assignment(len(distinct), fractions, seed, names)[
        np.asarray([position[group] for group in groups], dtype=np.int64)
    ]
    return {name: np.flatnonzero(which == i).astype(np.int64) for i, name in enumerate(names)}


def group_assignment(num_groups, fractions, seed, names):
    """The index in `names` of the split of each of `num_groups` sorted distinct groups: a seeded
    permutation of the groups cut by `fractions` (the last split takes the rest)."""
    order = np.random.RandomState(seed).permutation(num_groups)
    total = sum(fractions[n] for n in names)
    which, start = np.zeros(num_groups, dtype=np.int64), 0
    for i, name in enumerate(names):
        take = (
            num_groups - start
            if i == len(names) - 1
            else int(round(num_groups * fractions[name] / total))
        )
        which[order[start : start + take]] = i
        start += take
    return which


def split_files(data, key, pattern):
    """(source files, target files) of line-aligned files per language (`{lang}` in
    `pattern`), or (table files, None); `key` names the data key in errors."""
    if not data.source_language:
        return expand_files(pattern, key), None
    if "{lang}" not in pattern:
        raise InputDataError(
            f"data.{key}={pattern!r} has no {{lang}} placeholder. With "
            f"data.source_language, name the files like "
            f"train.{{lang}}.gz.",
            path=pattern,
        )
    source_files = expand_files(pattern.replace("{lang}", data.source_language), key)
    target_files = expand_files(pattern.replace("{lang}", data.target_language), key)
    if len(source_files) != len(target_files):
        raise InputDataError(
            f"data.{key} matches {len(source_files)} source but {len(target_files)} target files.",
            path=pattern,
        )
    return source_files, target_files


def table_format(files, data):
    """The format of the table `files` (data.format or the suffix); plain text is an error."""
    fmt = file_format(files[0], data.format)
    if fmt == "text":
        raise InputDataError(
            "A plain text file holds one side only. Give line-aligned "
            "files with data.source_language/target_language, or a "
            "table (tsv, csv, json, parquet).",
            path=files[0],
        )
    return fmt


def pool_plan(parts, data):
    """(the splits given as files, the pool's name or None, the splits cut from the pool) of
    the parts read (split or "all" -> anything)."""
    pool_name = "all" if "all" in parts else "train"
    if pool_name not in parts:
        raise InputDataError("No train split was found. Give data.train or data.path.")
    missing = [
        s
        for s in SPLITS
        if s not in parts and s != pool_name and data.split_fractions.get(s, 0) > 0
    ]
    given = {s: parts[s] for s in SPLITS if s in parts and s != "all"}
    if pool_name != "all" and not missing:
        return given, None, []
    names = (
        ["train"] + missing
        if pool_name == "train"
        else [s for s in SPLITS if data.split_fractions.get(s, 0) > 0]
    )
    return given, pool_name, names


def check_train(splits):
    """Fails when the train split (split -> (sources, targets)) is missing or empty."""
    if "train" not in splits or not len(splits["train"][0]):
        raise InputDataError(
            "The train split is empty. Give more pairs or a larger data.split_fractions.train."
        )


def read_parallel(config):
    """Reads sentence pairs into a `ParallelDataset` with train/validation/test.

    Sources: line-aligned files per language (`{lang}` in the paths, with data.source_language
    and data.target_language), a table with source and target columns (csv/tsv/json/parquet,
    data.column_names for header-less files), or a packaged sample (`.tsv`). Splits that are not
    given are cut from the pool by a seeded split that keeps all translations of one source
    sentence in the same split.
    """
    data = config.data
    if data.source == "sample":
        given = {"all": str(sample_path(data.sample, ".tsv", "sample set"))}
    elif data.source == "files":
        given = (
            {"all": data.path}
            if data.path
            else {s: getattr(data, s) for s in SPLITS if getattr(data, s)}
        )
    else:
        raise InputDataError(
            "Translation reads sentence pairs: set data.source to files or "
            "sample (Hub datasets: export them to files first)."
        )
    parts, files = {}, []
    for split, pattern in given.items():
        key = "path" if split == "all" else split
        source_files, target_files = split_files(data, key, pattern)
        if target_files is not None:
            sources, targets = [], []
            for s_file, t_file in zip(source_files, target_files):
                s_lines, t_lines = _aligned_pairs(s_file, t_file)
                sources += s_lines
                targets += t_lines
            files += source_files + target_files
        else:
            fmt = table_format(source_files, data)
            table = load_files(
                source_files,
                fmt,
                data.delimiter,
                data.column_names,
                [data.source_column, data.target_column],
            )
            sources, targets = _table_pairs(
                table, config, row_locator(source_files, fmt, not data.column_names, data.delimiter)
            )
            files += source_files
        parts[split] = (sources, targets)
    splits, pool_name, names = pool_plan(parts, data)
    if pool_name:
        sources, targets = parts[pool_name]
        cut = _group_split(sources, data.split_fractions, data.split_seed, names)
        for name, idx in cut.items():
            splits[name] = ([sources[i] for i in idx], [targets[i] for i in idx])
    check_train(splits)
    encoded = {}
    for split, (sources, targets) in splits.items():
        keep = cap_split(len(sources), data.max_examples, data.split_seed)
        encoded[split] = {
            "source": [sources[i] for i in keep],
            "target": [targets[i] for i in keep],
        }
    counts = {s: len(v["source"]) for s, v in encoded.items()}
    return ParallelDataset(
        splits=encoded, fingerprint=fingerprint(files, config, counts), files=files
    )


def read_pair_file(path, config):
    """One table of sentence pairs (csv/tsv/json/jsonl/parquet, with data.source_column and
    data.target_column) as a ParallelDataset whose only split is "data"."""
    data = config.data
    files = expand_files(str(path), "--data")
    fmt = file_format(files[0], "auto")
    table = load_files(
        files, fmt, None, data.column_names, [data.source_column, data.target_column]
    )
    sources, targets = _table_pairs(table, config, row_locator(files, fmt, not data.column_names))
    return ParallelDataset(
        splits={"data": {"source": sources, "target": targets}},
        fingerprint=fingerprint(files, config, {"data": len(sources)}),
        files=files,
    )
