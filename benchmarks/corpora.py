"""The benchmark corpora: a synthetic long-tailed one written here, and MR from the data root.

The synthetic corpus has lognormal lengths (median about 40 tokens, a long tail cut at 400), so
that padding every text to one fixed length wastes most of the work, as it does on real
documents. Its labels are learnable: each text carries a few cue words, most of them from its
class's set, placed at random positions among Zipf-distributed filler words.
"""

import csv
from pathlib import Path

import numpy as np

NUM_CUES = 24  # cue words per class
CUE_SPACING = 20  # one cue word per this many tokens, on average (at least one per text)
OWN_CUE_SHARE = 0.9  # share of a text's cue words that come from its own class
FILLER_VOCABULARY = 8000


def _word(index):
    """A letters-only word for an index (the word tokenizer would split letters from digits)."""
    letters = ""
    while True:
        index, digit = divmod(index, 26)
        letters += chr(ord("a") + digit)
        if not index:
            return letters


def _text(rng, length, label):
    filler = (rng.zipf(1.25, length) - 1) % FILLER_VOCABULARY
    words = ["w" + _word(i) for i in filler]
    num_cues = 1 + rng.poisson(length / CUE_SPACING)
    own = rng.random(num_cues) < OWN_CUE_SHARE
    for is_own in own:
        cls = label if is_own else 1 - label
        words[rng.integers(length)] = f"{'pos' if cls else 'neg'}{_word(rng.integers(NUM_CUES))}"
    return " ".join(words)


def write_long_tailed(directory, sizes, seed=1337, median=40, sigma=0.8, max_length=400):
    """Writes train/validation/test TSV files (text, label) of the synthetic corpus.

    Args:
        directory: Path. Where the files go.
        sizes: dict. Examples per split, e.g. {"train": 8000, "validation": 1000, "test": 1000}.
        seed: int. Seeds lengths, words and labels.
        median: float. Median length in tokens (the lognormal's exp(mu)).
        sigma: float. Spread of the log length.
        max_length: int. Longer texts are cut to this many tokens.

    Returns:
        dict of split -> Path, and the lengths of the train texts.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths, train_lengths = {}, None
    for split, size in sizes.items():
        lengths = np.clip(np.round(rng.lognormal(np.log(median), sigma, size)), 1, max_length)
        labels = rng.integers(0, 2, size)
        path = directory / f"{split}.tsv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
            writer.writerow(["text", "label"])
            for length, label in zip(lengths.astype(int), labels):
                writer.writerow([_text(rng, length, label), "positive" if label else "negative"])
        paths[split] = path
        if split == "train":
            train_lengths = lengths.astype(int)
    return paths, train_lengths


def long_tailed_data_config(paths):
    return {
        "source": "files",
        "train": str(paths["train"]),
        "validation": str(paths["validation"]),
        "test": str(paths["test"]),
        "labels": ["negative", "positive"],
    }


def mr_data_config(data_dir):
    """The MR data section (label files under <root>/mr_polarity), as the MR pipeline reads it."""
    root = Path(data_dir) / "mr_polarity"
    return {
        "source": "label_files",
        "label_files": {
            "negative": str(root / "rt-polarity.neg"),
            "positive": str(root / "rt-polarity.pos"),
        },
        "split_fractions": {"train": 0.8, "validation": 0.1, "test": 0.1},
        "split_seed": 1337,
    }


def save_ids(path, splits):
    """Writes {split: (list of id arrays, labels)} to one .npz (ids concatenated, with offsets)."""
    arrays = {}
    for split, (sequences, labels) in splits.items():
        arrays[f"{split}_ids"] = np.concatenate(sequences).astype(np.int64)
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(s) for s in sequences])
        arrays[f"{split}_labels"] = np.asarray(labels, np.int64)
    np.savez(path, **arrays)


def load_ids(path):
    """The inverse of `save_ids`."""
    data = np.load(path)
    splits = {}
    for key in data.files:
        if key.endswith("_labels"):
            split = key[: -len("_labels")]
            ids, offsets = data[f"{split}_ids"], data[f"{split}_offsets"]
            splits[split] = ([ids[a:b] for a, b in zip(offsets[:-1], offsets[1:])], data[key])
    return splits
