"""Running text larger than memory (generation): splits are character ranges of the files, their
token ids a flat int32 file, and the windows are read from it with plain reads.

`TextFiles` counts the characters of a part's files in one pass of bounded blocks. The text
counted is the one the in-memory reader builds (`datasets`' text builder: UTF-8, universal
newlines, so "\\r\\n" and "\\r" count as one "\\n"), and a sparse index of checkpoints (each file
start and a line start every INDEX_BYTES bytes or so) lets any character range be decoded again
from the checkpoint before it. `read_corpus` cuts the splits with the in-memory code
(`data.corpus_ranges`) from those counts, so both paths give the same ranges, `max_examples`
ranges and fingerprint.

`TextRange.blocks` reads a split in blocks of about BLOCK_CHARS characters, each cut after a
newline that a non-space character follows (the newline stays in its block). No stage joins
text across such a place: normalization and case folding stop at a newline, the tokenizers
split on it, and a whitespace run (which `unicode_script_tokenizer(keep_whitespace=True)` keeps
as one token) is never cut; so the ids of the blocks are the ids of the whole split. A text with
no such place in 8 * BLOCK_CHARS characters is cut before another non-space character, and
failing that anywhere (there word tokenizers could differ from in memory). `write_ids`
appends the ids of each block to a temporary file that is renamed when complete.

`TokenIds` reads slices of that file with `os.pread` into fresh arrays; a memory map would keep
the pages it touched resident. The window datasets are Python generators that yield whole
batches, in the same order as the in-memory datasets of `GenerationTask`: the shuffled window
order comes from the same `Dataset.range(count).shuffle(...)` (its permutation, 8 bytes a
window, is the only per-window state), the offsets from the same stateless draws.
"""

import bisect
import codecs
import io
import math
import os
import re
from pathlib import Path

import numpy as np

from nlp_lstm import artifacts
from nlp_lstm.data import running_text, splitting
from nlp_lstm.data import texts as data_lib
from nlp_lstm.data.streaming.columns import streaming_enabled
from nlp_lstm.errors import ConfigError, InputDataError

# Bytes between two checkpoints of the character index (each at a line start): a range is
# decoded from at most about this many bytes before it.
INDEX_BYTES = 2**20
# Bytes decoded per read of a character range.
READ_BYTES = 2**20
# Characters per tokenized block (a block ends at the next line start after them); a block's
# tokens as tf.string take about 24 bytes a character.
BLOCK_CHARS = 2**18
# Up to this many training windows, the window order is the in-memory one (tf.data's shuffle,
# whose buffer holds about 300 bytes a window); above, a numpy permutation seeded by (seed,
# epoch), 8 bytes a window.
EXACT_SHUFFLE_WINDOWS = 2**18
# Lines per block of the seeded samples (vocabulary, leakage check).
SAMPLE_LINES = 1000
# Token ids on disk: little-endian int32.
ID_DTYPE = np.dtype("<i4")
_LINE_CUT = re.compile(r"\n(?=\S)")
_SPACE_CUT = re.compile(r"\s(?=\S)")


def _decoder():
    """UTF-8 with universal newlines, as Python's text mode reads a file."""
    return io.IncrementalNewlineDecoder(codecs.getincrementaldecoder("utf-8")(), translate=True)


class TextFiles:
    """The concatenated text of `files`, counted once (`num_chars`) and read again by range.

    Each file is checked first (`tables.check_text_file`: empty, only whitespace, not UTF-8).

    Args:
        files: list of str. Text files, in order.
    """

    def __init__(self, files):
        self.files = list(files)
        # (characters before, line ends before, file index, byte offset), in text order.
        self.checkpoints = []
        chars = lines = 0
        for index, path in enumerate(self.files):
            if path.endswith(".gz"):
                # A range would be re-read from the start of the compressed stream each time.
                raise InputDataError(
                    "Streamed running text is read by byte offsets, which a "
                    "gzip file does not have. Decompress it (gunzip), or set "
                    "data.streaming: never.",
                    path=path,
                )
            data_lib.check_text_file(path)
            self.checkpoints.append((chars, lines, index, 0))
            decoder, position = _decoder(), 0
            with open(path, "rb") as handle:
                for raw in iter(lambda: handle.read(INDEX_BYTES), b""):
                    cut = raw.rfind(b"\n") + 1
                    text = decoder.decode(raw[:cut])
                    chars, lines = chars + len(text), lines + text.count("\n")
                    if cut:  # after a newline byte the decoders hold no partial byte or "\r"
                        self.checkpoints.append((chars, lines, index, position + cut))
                    text = decoder.decode(raw[cut:])
                    chars, lines = chars + len(text), lines + text.count("\n")
                    position += len(raw)
                text = decoder.decode(b"", final=True)
                chars, lines = chars + len(text), lines + text.count("\n")
        self.num_chars = chars
        self._starts = [point[0] for point in self.checkpoints]

    def pieces(self, start, end):
        """The text of characters [start, end), in pieces of about READ_BYTES."""
        if start >= end:
            return
        chars, _, first, offset = self.checkpoints[bisect.bisect_right(self._starts, start) - 1]
        for index in range(first, len(self.files)):
            decoder = _decoder()
            with open(self.files[index], "rb") as handle:
                handle.seek(offset if index == first else 0)
                while True:
                    raw = handle.read(READ_BYTES)
                    text = decoder.decode(raw, final=not raw)
                    low, high = max(start - chars, 0), min(end - chars, len(text))
                    if low < high:
                        yield text[low:high]
                    chars += len(text)
                    if chars >= end:
                        return
                    if not raw:
                        break

    def line_ends_before(self, position):
        """The number of newlines among the first `position` characters."""
        chars, lines, _, _ = self.checkpoints[bisect.bisect_right(self._starts, position) - 1]
        return lines + sum(piece.count("\n") for piece in self.pieces(chars, position))


class TextRange:
    """Characters [start, end) of a `TextFiles`: one split of a streamed corpus. `len()` counts
    its characters, `read(a, b)` returns characters [a, b) of it (a bounded slice), `blocks()`
    yields it all in blocks cut at line ends.

    Args:
        text: TextFiles.
        start: int. First character.
        end: int. One past the last character.
    """

    def __init__(self, text, start, end):
        self.text = text
        self.start = start
        self.end = end

    def __len__(self):
        return self.end - self.start

    def read(self, start, end):
        return "".join(self.text.pieces(self.start + start, self.start + min(end, len(self))))

    def line_ends(self):
        """The number of newlines in the range."""
        return self.text.line_ends_before(self.end) - self.text.line_ends_before(self.start)

    def blocks(self, size=None):
        return line_blocks(self.text.pieces(self.start, self.end), size)


class StreamedCorpus(running_text.TextCorpus):
    """A `TextCorpus` whose splits are `TextRange`s: the text stays in the files."""

    streamed = True


def read_corpus(config):
    """`data.read_corpus`, streamed (a `StreamedCorpus`) when `data.streaming` is always, or
    auto and the files pass `data.streaming_threshold_bytes`."""
    data = config.data
    given = running_text.corpus_files(data)
    files = [f for part_files in given.values() for f in part_files]
    if not streaming_enabled(data, files):
        return running_text.read_corpus(config)
    texts = {part: TextFiles(part_files) for part, part_files in given.items()}
    ranges = running_text.corpus_ranges({part: t.num_chars for part, t in texts.items()}, data)
    splits = {s: TextRange(texts[part], start, end) for s, (part, start, end) in ranges.items()}
    counts = {name: len(part) for name, part in splits.items()}
    running_text.check_train_range(counts, files)
    return StreamedCorpus(
        splits=splits, fingerprint=splitting.fingerprint(files, config, counts), files=files
    )


def line_blocks(pieces, size=None):
    """The text of `pieces` (an iterable of str) in blocks of at least `size` characters
    (default BLOCK_CHARS; the last may be shorter), each cut after a newline that a non-space
    character follows; see the module docstring for texts without such a place."""
    size = size or BLOCK_CHARS
    carry = ""
    for piece in pieces:
        carry += piece
        while len(carry) > size:
            cut = _cut(carry, size)
            if cut is None:
                break
            yield carry[:cut]
            carry = carry[cut:]
    if carry:
        yield carry


def _cut(text, size):
    match = _LINE_CUT.search(text, size - 1)
    if match:
        return match.end()
    if len(text) < 8 * size:
        return None  # wait for more text
    match = _SPACE_CUT.search(text, size - 1)
    return match.end() if match else size


def _sampled_lines(read, num_chars, num_lines, limit, seed):
    """Texts of whole lines, about `limit` lines in all: `ceil(limit / SAMPLE_LINES)` of the
    `ceil(num_lines / SAMPLE_LINES)` equal character segments of the text, picked by
    `data.cap_split` (seeded, in text order), each without its first and last partial line."""
    segments = math.ceil(num_lines / SAMPLE_LINES)
    for index in splitting.cap_split(segments, math.ceil(limit / SAMPLE_LINES), seed):
        start, end = num_chars * int(index) // segments, num_chars * (int(index) + 1) // segments
        text = read(max(start - 1, 0), end)
        if start > 0:  # the character before the segment says whether a line starts there
            text = text[text.find("\n") + 1 :] if "\n" in text else ""
        if end < num_chars:
            text = text[: text.rfind("\n") + 1]
        if text:
            yield text


def sample_texts(part, limit, seed):
    """The texts of a split (a str, or a `TextRange` read in blocks) when it has at most `limit`
    lines (newlines), else a seeded sample of about `limit` whole lines taken in blocks of
    SAMPLE_LINES lines (`limit` 0: always all). A function that returns the iterable."""
    whole = isinstance(part, str)
    num_lines = part.count("\n") if whole else part.line_ends()
    if not limit or num_lines <= limit:
        return (lambda: [part]) if whole else part.blocks

    def read(start, end):
        return part[start:end] if whole else part.read(start, end)

    return lambda: _sampled_lines(read, len(part), num_lines, limit, seed)


def text_dataset(texts):
    """A tf.data.Dataset of the scalar strings `texts()` yields."""
    import tensorflow as tf

    return tf.data.Dataset.from_generator(texts, output_signature=tf.TensorSpec([], tf.string))


# -- token ids on disk ---------------------------------------------------------------------------


class TokenIds:
    """The token ids of one split in a flat little-endian int32 file. `len()` counts them and
    `[a:b]` reads a slice into a fresh int64 array with `os.pread`.

    Args:
        path: str or Path. The id file (`write_ids`).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.size = os.path.getsize(self.path) // ID_DTYPE.itemsize
        self._fd = None

    def __len__(self):
        return self.size

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("TokenIds takes slices only.")
        start, stop, step = key.indices(self.size)
        if step != 1:
            raise TypeError("TokenIds takes contiguous slices only.")
        if stop <= start:
            return np.zeros(0, np.int64)
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        width = ID_DTYPE.itemsize
        raw = os.pread(self._fd, (stop - start) * width, start * width)
        return np.frombuffer(raw, ID_DTYPE).astype(np.int64)

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)


def write_ids(path, blocks, preprocessor):
    """The `TokenIds` at `path`, written first when missing: the ids of each text of `blocks`
    (an iterable of str), tokenized by `preprocessor` one block at a time, into a temporary file
    renamed when complete, so that a killed process leaves no half-written file and a resumed
    run reuses what an earlier one wrote."""
    import tensorflow as tf

    path = Path(path)
    if path.is_file():
        return TokenIds(path)
    size = preprocessor.vocabulary.vocabulary_size
    if size > np.iinfo(ID_DTYPE).max + 1:
        raise ConfigError(
            f"Streamed token ids are stored as int32, which holds vocabularies of "
            f"at most 2**31 tokens. Received: vocabulary_size={size}. Lower the "
            f"vocabulary's max_size, or set data.streaming: never."
        )
    tmp = artifacts.temporary_sibling(path)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as out:
        for block in blocks:
            out.write(preprocessor(tf.constant(block)).numpy().astype(ID_DTYPE).tobytes())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return TokenIds(path)


def token_counts(ids, block=2**22):
    """How often each id occurs in `ids` (an array or `TokenIds`), counted block by block."""
    counts = np.zeros(0, np.int64)
    for start in range(0, len(ids), block):
        part = np.bincount(ids[start : start + block])
        if len(part) > len(counts):
            counts = np.pad(counts, (0, len(part) - len(counts)))
        counts[: len(part)] += part
    return counts


# -- windows -------------------------------------------------------------------------------------


def windows_at(ids, starts, length):
    """(inputs, targets) of the windows at `starts`: ids [s, s + length) and one later."""
    rows = np.stack([ids[s : s + length + 1] for s in starts])
    return rows[:, :-1], rows[:, 1:]


def _batches_dataset(batches, length, num_batches, args=None, rows=None):
    import tensorflow as tf

    spec = tf.TensorSpec([rows, length], tf.int64)
    return tf.data.Dataset.from_generator(batches, args=args, output_signature=(spec, spec)).apply(
        tf.data.experimental.assert_cardinality(num_batches)
    )


def ordered_windows(ids, length, batch):
    """Windows k = ids [k * length, (k + 1) * length) and the next-token targets, in order, in
    batches of `batch`; each batch is one contiguous read."""
    count = (len(ids) - 1) // length

    def batches():
        for first in range(0, count, batch):
            size = min(batch, count - first)
            part = ids[first * length : (first + size) * length + 1]
            yield (part[:-1].reshape(size, length), part[1:].reshape(size, length))

    return _batches_dataset(batches, length, math.ceil(count / batch))


def shuffled_windows(ids, length, batch, seed, random_offsets):
    """Training windows in an order fixed by (seed, epoch): slot k at k * length, or with
    `random_offsets` at k * length plus a seeded offset in [0, length) drawn anew each epoch.
    Up to EXACT_SHUFFLE_WINDOWS windows the order and the offsets are those of the in-memory
    path; above, the offsets still are, the order is a numpy permutation seeded by (seed,
    epoch) (tf.data's shuffle would hold about 300 bytes a window)."""
    import tensorflow as tf

    from nlp_lstm.data.inputs import epoch_seed, per_epoch, shuffle_seed

    count = len(ids) // length - 1 if random_offsets else (len(ids) - 1) // length

    exact = count <= EXACT_SHUFFLE_WINDOWS

    def batches(order, offsets, index):
        if not exact:
            order = np.random.default_rng([seed or 0, int(index)]).permutation(count)
        for first in range(0, count, batch):
            starts = order[first : first + batch] * length
            yield windows_at(
                ids, starts + offsets[first : first + batch] if random_offsets else starts, length
            )

    def epoch(index):
        order = (
            tf.data.Dataset.range(count)
            .shuffle(count, seed=shuffle_seed(seed, index), reshuffle_each_iteration=False)
            .batch(count)
            .get_single_element()
            if exact
            else tf.zeros([0], tf.int64)
        )
        offsets = (
            tf.random.stateless_uniform(
                [count], epoch_seed(seed, index), maxval=length, dtype=tf.int64
            )
            % length
            if random_offsets
            else tf.zeros([0], tf.int64)
        )
        return _batches_dataset(
            batches, length, math.ceil(count / batch), args=(order, offsets, index)
        )

    return per_epoch(epoch)


def stream_windows(ids, length, batch, per_stream, windows, seed, random_offsets):
    """Batch k = window k of each of `batch` contiguous streams of `per_stream` tokens (row i
    of every batch continues row i of the one before), from an offset drawn each epoch."""
    import tensorflow as tf

    from nlp_lstm.data.inputs import epoch_seed, per_epoch

    def batches(offset):
        starts = int(offset) + np.arange(batch, dtype=np.int64) * per_stream
        for k in range(windows):
            yield windows_at(ids, starts + k * length, length)

    def epoch(index):
        offset = tf.random.stateless_uniform(
            [], epoch_seed(seed, index), maxval=length, dtype=tf.int64
        )
        offset = offset % length if random_offsets else offset * 0
        return _batches_dataset(batches, length, windows, args=(offset,), rows=batch)

    return per_epoch(epoch)
