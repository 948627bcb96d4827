"""Read table files (csv/tsv/json/jsonl/parquet) into rows, and find the file and line of a row.

csv and tsv go through Hugging Face `datasets` with no NA detection (text is text); JSON lines
are parsed here, line by line, so that a field of the wrong type is reported with its line.
"""

import contextlib
import csv
import json
import os

from nlp_lstm.errors import InputDataError

CHECK_BLOCK = 16 * 2**20


def check_text_file(path):
    """Fails on an empty or non-UTF-8 file, naming the first bad line."""
    size = os.path.getsize(path)
    if size == 0:
        raise InputDataError("The file is empty. Give a file with at least one example.", path=path)
    if path.endswith((".parquet", ".gz")):
        return
    # Blocks, not the whole file: a corpus may be larger than memory.
    lines, blank, carry, last_line_bytes = 0, True, b"", 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHECK_BLOCK), b""):
            data = carry + block
            cut = len(data)
            # Keep a character cut at the block's end for the next block.
            while cut > 0 and len(data) - cut < 3 and data[cut - 1] & 0xC0 == 0x80:
                cut -= 1
            if cut > 0 and data[cut - 1] >= 0xC0:
                cut -= 1
            if len(block) < CHECK_BLOCK:
                cut = len(data)  # the last block: a cut character is an error
            data, carry = data[:cut], data[cut:]
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as err:
                line = lines + data[: err.start].count(b"\n") + 1
                column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
                if b"\n" not in data[: err.start]:
                    column += last_line_bytes
                raise InputDataError(
                    f"byte {column} of this line is not valid UTF-8 "
                    f"({data[err.start : err.start + 1]!r}). Re-encode the file as "
                    f"UTF-8 (e.g. iconv -f latin1 -t utf-8).",
                    path=path,
                    line=line,
                ) from err
            lines += data.count(b"\n")
            newline = data.rfind(b"\n")
            last_line_bytes = (
                len(data) - newline - 1 if newline >= 0 else last_line_bytes + len(data)
            )
            blank = blank and not text.strip()
    if blank:
        raise InputDataError(
            "The file holds only whitespace. Give at least one example.", path=path
        )


def load_files(files, fmt, delimiter, column_names=None, text_columns=()):
    """The rows of `files` as one `datasets.Dataset`. In csv/tsv no cell is read as missing
    (pandas would turn NA, null, None, nan and empty cells into NaN) and the `text_columns`
    stay strings even when they look like numbers: text is text."""
    import datasets

    builder, kwargs = _builder_arguments(files, fmt, delimiter, column_names, text_columns)
    if fmt == "jsonl":
        return _read_json_lines(files)
    with _parse_errors(fmt, files[0]):
        return datasets.load_dataset(builder, data_files={"train": files}, split="train", **kwargs)


def prepare_files(files, fmt, delimiter, text_columns=(), column_names=None):
    """(the Arrow files `datasets` writes for `files`, their number of rows), read as
    `load_files` reads them (jsonl through the json builder; "text": one row a line, in a
    column "text"), without opening the table: a
    `datasets.Dataset` memory-maps its files, and the pages it touches count in the resident
    size of the process. The Arrow files are IPC streams in row order, one per shard."""
    import datasets
    from datasets.naming import filenames_for_dataset_split

    builder_name, kwargs = _builder_arguments(files, fmt, delimiter, column_names, text_columns)
    with _parse_errors(fmt, files[0]):
        builder = datasets.load_dataset_builder(builder_name, data_files={"train": files}, **kwargs)
        builder.download_and_prepare()
    split = builder.info.splits["train"]
    paths = filenames_for_dataset_split(
        builder.cache_dir, builder.dataset_name, "train", "arrow", split.shard_lengths
    )
    return paths, split.num_examples


def _builder_arguments(files, fmt, delimiter, column_names, text_columns):
    """(the `datasets` builder, its keyword arguments) that read `files`; checks the files."""
    for f in files:
        check_text_file(f)
    kwargs = {}
    builder = {"tsv": "csv", "jsonl": "json"}.get(fmt, fmt)
    if fmt in ("csv", "tsv"):
        for f in files:
            if f.endswith(".gz") or column_names:
                continue
            with open(f, encoding="utf-8") as handle:
                rows = sum(1 for line, _ in zip(handle, range(2)) if line.strip())
            if rows < 2:
                raise InputDataError(
                    "The file has a header but no examples. Add rows below the header.", path=f
                )
        kwargs["delimiter"] = delimiter or ("\t" if fmt == "tsv" else ",")
        if column_names:
            kwargs["column_names"] = list(column_names)
        kwargs["na_filter"] = False
        if text_columns:
            kwargs["converters"] = {column: str for column in text_columns}
        # Keep quotes literal in TSV: review text often starts with a quote character.
        if fmt == "tsv":
            kwargs["quoting"] = 3
    return builder, kwargs


@contextlib.contextmanager
def _parse_errors(fmt, path):
    """Turns the errors of a `datasets` parser into an InputDataError naming `path`."""
    try:
        yield
    except (ValueError, TypeError, KeyError, OSError) as err:
        raise InputDataError(
            f"Cannot parse it as {fmt}: {err}. Check data.format and data.delimiter.", path=path
        ) from err
    except Exception as err:  # datasets wraps parser errors in its own DatasetGenerationError
        if type(err).__name__ != "DatasetGenerationError":
            raise
        cause = err.__cause__ or err
        raise InputDataError(
            f"Cannot parse it as {fmt}: {cause}. Check data.format and data.delimiter.", path=path
        ) from err


class _Rows:
    """Columns of JSON-lines rows, read as they are (no type unification across rows, so that a
    row whose field has another type is reported with its line, not as a parser error)."""

    def __init__(self, rows):
        self.rows = rows
        self.column_names = list(dict.fromkeys(key for row in rows for key in row))
        self.num_rows = len(rows)

    def __getitem__(self, column):
        return [row.get(column) for row in self.rows]


def _read_json_lines(files):
    import gzip

    rows = []
    for path in files:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise InputDataError(
                        f"This line is not JSON ({err.msg}). Each line of a "
                        f".jsonl file holds one JSON object.",
                        path=path,
                        line=number,
                    ) from err
                if not isinstance(row, dict):
                    raise InputDataError(
                        f"Each line must hold a JSON object, not {type(row).__name__}.",
                        path=path,
                        line=number,
                    )
                rows.append(row)
    return _Rows(rows)


def _record_lines(path, fmt, header, delimiter):
    """The 1-based line on which each row of one file starts (what `load_files` reads as rows)."""
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        if fmt in ("csv", "tsv"):
            reader = csv.reader(
                handle,
                delimiter=delimiter or ("\t" if fmt == "tsv" else ","),
                quoting=csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL,
            )
            starts, line = [], 1
            for record in reader:
                if any(cell.strip() for cell in record):  # pandas skips blank lines
                    starts.append(line)
                line = reader.line_num + 1
            return starts[1:] if header else starts
        return [number for number, text in enumerate(handle, 1) if text.strip()]


def row_locator(files, fmt, header=True, delimiter=None):
    """A function: index of a row of the table `load_files(files, ...)` read -> (file, line),
    for error messages; files are scanned only when an error needs a line."""

    def locate(index):
        if fmt not in ("csv", "tsv", "jsonl"):  # json arrays and parquet have no row lines
            return files[0] if len(files) == 1 else ", ".join(files), None
        for path in files:
            starts = _record_lines(path, fmt, header, delimiter)
            if index < len(starts):
                return path, starts[index]
            index -= len(starts)
        return files[-1], None

    return locate
