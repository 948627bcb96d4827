"""The synthetic long-tailed corpus and the token-id files the peers read."""

import csv

import numpy as np

from benchmarks import corpora


def test_the_long_tailed_corpus_has_the_promised_lengths_and_learnable_labels(tmp_path):
    paths, lengths = corpora.write_long_tailed(tmp_path, {"train": 3000, "test": 10}, seed=3)
    assert set(paths) == {"train", "test"}
    assert 35 <= np.median(lengths) <= 45
    assert lengths.max() <= 400 and lengths.min() >= 1
    assert np.mean(lengths > 2 * np.median(lengths)) > 0.1  # a long tail
    with paths["train"].open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == 3000
    assert [len(row["text"].split()) for row in rows] == lengths.tolist()
    # Letters only, so a word tokenizer keeps each word whole.
    assert all(word.isalpha() for row in rows[:50] for word in row["text"].split())
    agree = []
    for row in rows:
        words = row["text"].split()
        positive = sum(w.startswith("pos") for w in words)
        negative = sum(w.startswith("neg") for w in words)
        if positive != negative:
            agree.append((positive > negative) == (row["label"] == "positive"))
    assert np.mean(agree) > 0.9  # the cue words carry the label


def test_the_corpus_is_seeded(tmp_path):
    first, _ = corpora.write_long_tailed(tmp_path / "a", {"train": 50}, seed=5)
    second, _ = corpora.write_long_tailed(tmp_path / "b", {"train": 50}, seed=5)
    other, _ = corpora.write_long_tailed(tmp_path / "c", {"train": 50}, seed=6)
    assert first["train"].read_text() == second["train"].read_text()
    assert first["train"].read_text() != other["train"].read_text()


def test_token_ids_round_trip(tmp_path):
    splits = {
        "train": ([np.array([4, 5, 6]), np.array([7]), np.array([8, 9])], [1, 0, 1]),
        "test": ([np.array([3])], [0]),
    }
    corpora.save_ids(tmp_path / "ids.npz", splits)
    loaded = corpora.load_ids(tmp_path / "ids.npz")
    assert set(loaded) == {"train", "test"}
    for split, (sequences, labels) in splits.items():
        assert [s.tolist() for s in loaded[split][0]] == [s.tolist() for s in sequences]
        assert loaded[split][1].tolist() == labels
