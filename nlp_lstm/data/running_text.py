"""Running text (one corpus per split, for language models): files read whole, splits cut as
contiguous character ranges, and `max_characters` caps as seeded ranges.
"""

import dataclasses

import numpy as np

from nlp_lstm.data.splitting import SPLITS, expand_files, fingerprint, sample_path
from nlp_lstm.data.tables import check_text_file
from nlp_lstm.errors import InputDataError


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
    `nlp_lstm.tasks.generation.streaming` cuts the same ranges without reading the text into memory.
    """
    given = corpus_files(config.data)
    parts = {split: _read_running_text(files) for split, files in given.items()}
    files = [f for split_files in given.values() for f in split_files]
    ranges = corpus_ranges({part: len(text) for part, text in parts.items()}, config.data)
    splits = {s: parts[part][start:end] for s, (part, start, end) in ranges.items()}
    counts = {name: len(part) for name, part in splits.items()}
    check_train_range(counts, files)
    return TextCorpus(splits=splits, fingerprint=fingerprint(files, config, counts), files=files)


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
