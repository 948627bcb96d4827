"""Corpora larger than memory (data.streaming=always), on corpora small enough for CI.

Classification here; translation in tests/data/streaming/test_large_corpus_translation.py,
generation in tests/tasks/generation/test_large_corpus.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.config.loading import load_config
from nlp_lstm.data import texts as data_lib
from nlp_lstm.data.streaming import columns as arrow_data
from nlp_lstm.errors import InputDataError
from nlp_lstm.pipeline import build_pipeline
from tests.testing import forbid_memory_maps, write_pipeline, write_tiny_tsv


@pytest.fixture()
def tiny(tmp_path):
    return write_pipeline(tmp_path, write_tiny_tsv(tmp_path / "tiny.tsv", repeats=10))


def _config(path, *overrides):
    return load_config(path, overrides=["data.streaming=always", *overrides])


def test_streamed_splits_stay_in_arrow_and_equal_the_in_memory_ones(tiny):
    in_memory = data_lib.read_dataset(load_config(tiny, overrides=["data.streaming=never"]))
    streamed = arrow_data.read_dataset(_config(tiny))
    assert streamed.streamed and not isinstance(in_memory, arrow_data.ArrowTextDataset)
    for split, part in streamed.splits.items():
        assert isinstance(part["text"], arrow_data.ArrowColumn)  # not a list
        texts = [t for batch in part["text"].batches(7) for t in batch]
        assert texts == in_memory.splits[split]["text"]
        np.testing.assert_array_equal(part["label"], in_memory.splits[split]["label"])
    assert streamed.fingerprint == in_memory.fingerprint
    assert streamed.label_names == in_memory.label_names


def test_auto_streams_above_the_byte_threshold(tiny):
    assert not arrow_data.read_dataset(load_config(tiny)).__dict__.get("streamed")
    small_threshold = load_config(tiny, overrides=["data.streaming_threshold_bytes=100"])
    assert arrow_data.read_dataset(small_threshold).streamed


def test_max_examples_is_a_seeded_sample_in_both_paths(tiny):
    a = data_lib.read_dataset(
        load_config(tiny, overrides=["data.max_examples=10", "data.streaming=never"])
    )
    b = arrow_data.read_dataset(_config(tiny, "data.max_examples=10"))
    assert b.counts()["train"] == 10
    assert b.splits["train"]["text"][0:10] == a.splits["train"]["text"]


def test_vocabulary_learns_from_a_seeded_bounded_sample(tiny):
    vocabularies = []
    for _ in range(2):
        task = build_pipeline(_config(tiny, "data.vocabulary_sample=12")).task
        task.read()
        texts = [t for batch in task.adapt_source() for t in batch.numpy()]
        assert len(texts) == 12
        task.adapt()
        vocabularies.append(task.preprocessor.vocabulary.vocabulary)
    assert vocabularies[0] == vocabularies[1]


def test_the_ids_cache_is_keyed_by_what_the_vocabulary_learned(tiny, tmp_path):
    """Another vocabulary sample that learns another vocabulary (here of the same size: the
    cap) gets another cache; the same settings in a new task find the same one."""
    capped = tiny.with_name("capped.yaml")
    capped.write_text(
        tiny.read_text(encoding="utf-8").replace("max_size: 100", "max_size: 6"), encoding="utf-8"
    )
    paths, vocabularies = [], []
    for sample in (0, 12, 0):
        task = build_pipeline(_config(capped, f"data.vocabulary_sample={sample}")).task
        task.read()
        task.adapt()
        task.cache_dir = tmp_path
        paths.append(task.ids_path("train"))
        vocabularies.append(task.preprocessor.vocabulary.vocabulary)
    assert len(vocabularies[0]) == len(vocabularies[1]) and vocabularies[0] != vocabularies[1]
    assert paths[0] != paths[1] and paths[0] == paths[2]


def test_token_ids_are_cached_on_disk_and_reused(tiny, tmp_path):
    task = build_pipeline(_config(tiny)).task
    task.read()
    task.adapt()
    task.cache_dir = tmp_path / "ids"
    first = [(ids.tolist(), int(y)) for ids, y in task._unbatched("train").as_numpy_iterator()]
    path = task.ids_path("train")
    assert path.is_dir() and not list(path.parent.glob(".*.tmp-*"))
    stamp = path.stat().st_mtime_ns

    def fail():
        raise AssertionError("the cache was written again")

    again = [
        (ids.tolist(), int(y)) for ids, y in arrow_data.cached_ids(fail, path).as_numpy_iterator()
    ]
    assert path.stat().st_mtime_ns == stamp
    assert sorted(again) == sorted(first) and len(first) == task.data.counts()["train"]
    assert len(task.train_lengths()) == len(first)


def test_train_order_is_a_function_of_seed_and_epoch(tiny, tmp_path):
    task = build_pipeline(_config(tiny)).task
    task.read()
    task.adapt()
    task.cache_dir = tmp_path / "ids"
    task._unbatched("train")

    def order(epoch):
        rows = arrow_data.shuffled_ids(task.ids_path("train"), 8, 7, tf.constant(epoch, tf.int64))
        return [tuple(ids.tolist()) for ids, _ in rows.as_numpy_iterator()]

    assert order(0) == order(0)
    assert order(0) != order(1)
    assert sorted(order(0)) == sorted(order(1))


def test_a_row_without_label_names_its_file_and_line(tmp_path):
    corpus = write_tiny_tsv(tmp_path / "bad.tsv", repeats=2)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].split("\t")[0] + "\t"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"bad.tsv:4, column 'label': This row has no label"):
        arrow_data.read_dataset(_config(write_pipeline(tmp_path, corpus)))


@pytest.mark.slow
def test_a_tiny_streamed_classification_run_trains_end_to_end(tiny, tmp_path):
    run_dir = tmp_path / "run"
    result = build_pipeline(_config(tiny, "train.epochs=1", "export.verify=false")).run(
        run_dir=run_dir
    )
    assert "accuracy" in result.metrics["test"]
    assert sorted(p.name.split("-")[0] for p in (run_dir / "token_ids").iterdir()) == [
        "test",
        "train",
        "validation",
    ]
    assert result.manifest["data"]["leakage"]["sample"] > 0


def test_streaming_never_builds_or_maps_the_arrow_table(tmp_path, monkeypatch):
    corpus = write_tiny_tsv(tmp_path / "tiny.tsv", repeats=10)
    expected = data_lib.read_dataset(
        load_config(write_pipeline(tmp_path, corpus), overrides=["data.streaming=never"])
    )
    forbid_memory_maps(monkeypatch)
    for _ in range(2):  # the first read writes the Arrow files, the second reuses them
        streamed = arrow_data.read_dataset(_config(write_pipeline(tmp_path, corpus)))
        task = build_pipeline(_config(write_pipeline(tmp_path, corpus))).task
        task.data = streamed
        assert task.leakage_units()[0]["train"]
        for split, part in streamed.splits.items():
            assert [t for b in part["text"].batches(5) for t in b] == expected.splits[split]["text"]
            assert part["text"][3:0:-1] == expected.splits[split]["text"][3:0:-1]
        assert streamed.fingerprint == expected.fingerprint


class _SmallBatches:
    """An Arrow stream reader whose record batches are re-sliced into batches of 7 rows."""

    def __init__(self, reader):
        self.reader, self.schema = reader, reader.schema

    def __iter__(self):
        for batch in self.reader:
            for start in range(0, batch.num_rows, 7):
                yield batch.slice(start, 7)


def test_label_codes_and_texts_are_the_same_across_record_batches(tmp_path, monkeypatch):
    import pyarrow as pa

    corpus = write_tiny_tsv(tmp_path / "tiny.tsv", repeats=10)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    # The labels first appear in another order than sorted, and a third class comes last.
    lines[1:] = lines[:0:-1] + [f"an odd one {i}\tneutral" for i in range(20)]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = write_pipeline(tmp_path, corpus)
    in_memory = data_lib.read_dataset(load_config(path, overrides=["data.streaming=never"]))
    whole = arrow_data.read_dataset(_config(path))  # also writes the Arrow files
    real_stream = pa.ipc.open_stream
    monkeypatch.setattr(
        pa.ipc,
        "open_stream",
        lambda source, options=None: _SmallBatches(real_stream(source, options=options)),
    )
    assert (
        sum(1 for _ in arrow_data.record_batches(whole.splits["train"]["text"].files, ["label"]))
        > 10
    )
    streamed = arrow_data.read_dataset(_config(path))
    assert streamed.label_names == in_memory.label_names == ["negative", "neutral", "positive"]
    assert streamed.fingerprint == in_memory.fingerprint
    for split, part in streamed.splits.items():
        np.testing.assert_array_equal(part["label"], in_memory.splits[split]["label"])
        assert part["text"][0 : len(part["text"])] == in_memory.splits[split]["text"]


RSS_SCRIPT = r"""
import json, os, sys
from pathlib import Path
from nlp_lstm.data.streaming import columns as arrow_data
from nlp_lstm.config import load_config

def status():
    with open("/proc/self/status") as handle:
        fields = dict(line.split(":", 1) for line in handle)
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmHWM", "RssAnon", "RssFile")}

def read(path):
    data = arrow_data.read_dataset(load_config(path, overrides=["data.streaming=always"]))
    rows = sum(len(b) for part in data.splits.values() for b in part["text"].batches())
    return data, rows

read(sys.argv[1])  # the code and libraries are paged in before the measurement
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # resets VmHWM to the current RSS
before = status()
data, rows = read(sys.argv[2])
after = status()
arrow = Path(os.environ["HF_DATASETS_CACHE"]).glob("**/*.arrow")
print("RESULT " + json.dumps({"before": before, "after": after, "rows": rows,
                              "arrow_bytes": sum(f.stat().st_size for f in arrow)}))
"""


def _write_rss_corpus(path, num_lines):
    """A TSV of `num_lines` rows of 24 words from a 5,000-word vocabulary, two labels."""
    rng = np.random.default_rng(0)
    words = np.asarray([f"word{i:04d}" for i in range(5000)])
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("text\tlabel\n")
        for _ in range(num_lines // 50_000):
            picks = words[rng.integers(0, len(words), (50_000, 24))]
            labels = np.where(rng.random(50_000) < 0.5, "positive", "negative")
            handle.write(
                "".join(f"{' '.join(row)}\t{label}\n" for row, label in zip(picks, labels))
            )
    return path


@pytest.mark.slow
def test_reading_a_large_corpus_keeps_no_file_pages_resident(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    small = write_pipeline(tmp_path, write_tiny_tsv(tmp_path / "tiny.tsv", repeats=10))
    (tmp_path / "large").mkdir()
    large = write_pipeline(
        tmp_path / "large", _write_rss_corpus(tmp_path / "large" / "large.tsv", 1_500_000)
    )
    root = Path(__file__).resolve().parents[3]
    output = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(small), str(large)],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "HF_DATASETS_CACHE": str(tmp_path / "hf")},
    )
    result = json.loads(output.stdout.split("RESULT ")[-1])
    before, after, arrow_bytes = result["before"], result["after"], result["arrow_bytes"]
    assert result["rows"] == 1_500_000 and arrow_bytes > 250e6
    # A memory-mapped table keeps the pages it touched as RssFile; plain reads leave them in the
    # page cache, outside the process.
    assert after["RssFile"] - before["RssFile"] < 0.1 * arrow_bytes, result
    # The peak holds record batches and a few bytes a row, not the corpus.
    assert after["VmHWM"] - before["VmHWM"] < 0.5 * arrow_bytes, result
