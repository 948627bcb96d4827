"""Running text larger than memory (generation, data.streaming=always), on tiny corpora: the
same splits, ids, batches and metrics as in memory, with the text left in the files and the ids
in a flat file read with plain reads."""

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest

from nlp_lstm import artifacts
from nlp_lstm.config.loading import config_from_dict, load_config
from nlp_lstm.data import inputs, running_text
from nlp_lstm.data import texts as data_lib
from nlp_lstm.pipeline import build_pipeline
from nlp_lstm.tasks.generation import streaming

PRESETS = Path(data_lib.__file__).parents[1] / "presets" / "pipelines"
# Line ends of every kind, multi-byte characters (2, 3 and 4 bytes) and a combining accent.
ALPHABET = ["a", "b", "c", " ", "  ", "\n", "\n\n", "\r\n", "\r", "é", "東", "🙂", "e\u0301"]


def _text(seed, count):
    rng = random.Random(seed)
    return "".join(rng.choice(ALPHABET) for _ in range(count))


def _write(path, text):
    Path(path).write_bytes(text.encode("utf-8"))
    return str(path)


def _config(streaming, stages=None, **data):
    return config_from_dict(
        {
            "task": "generation",
            "seed": 3,
            "data": {
                "window_length": 8,
                "split_fractions": {"train": 0.8, "validation": 0.1, "test": 0.1},
                "streaming": streaming,
                **data,
            },
            "stages": stages
            or [
                {"type": "text_normalizer", "form": "NFC", "lowercase": False},
                {"type": "character_tokenizer"},
                {"type": "vocabulary"},
            ],
            "model": {"type": "lstm_causal_lm", "embedding_dim": 8, "hidden_dim": 8},
            "train": {"batch_size": 4, "epochs": 1, "verbose": 0},
            "evaluate": {"splits": ["validation", "test"], "batch_size": 4},
        }
    )


def _tasks(make_config, run_dir=None):
    """(in-memory task, streamed task) of the same config, both read and adapted."""
    out = []
    for mode in ("never", "always"):
        task = build_pipeline(make_config(mode)).task
        task.read()
        task.adapt()
        if run_dir is not None:
            task.cache_dir = Path(run_dir) / mode
        out.append(task)
    assert not getattr(out[0].data, "streamed", False) and out[1].data.streamed
    return out


@pytest.fixture()
def small_blocks(monkeypatch):
    """Checkpoints, reads and tokenized blocks of a few bytes, so that every border is hit."""
    monkeypatch.setattr(streaming, "INDEX_BYTES", 7)
    monkeypatch.setattr(streaming, "READ_BYTES", 5)
    monkeypatch.setattr(streaming, "BLOCK_CHARS", 64)


def _split_texts(corpus):
    return {
        s: part if isinstance(part, str) else part.read(0, len(part))
        for s, part in corpus.splits.items()
    }


@pytest.mark.parametrize("layout", ["path", "given_files", "max_examples"])
def test_ranges_equal_the_in_memory_splits(tmp_path, small_blocks, layout):
    first = _write(tmp_path / "a.txt", _text(0, 900) + "\r")  # a pending "\r" at a file end
    second = _write(tmp_path / "b.txt", _text(1, 700))
    data = {"path": str(tmp_path / "*.txt")}
    if layout == "given_files":
        data = {"train": first, "validation": second}
    if layout == "max_examples":
        data["max_examples"] = 300
    in_memory = running_text.read_corpus(_config("never", **data))
    streamed = streaming.read_corpus(_config("always", **data))
    assert isinstance(streamed, streaming.StreamedCorpus)
    assert all(isinstance(p, streaming.TextRange) for p in streamed.splits.values())
    assert streamed.counts() == in_memory.counts()
    assert _split_texts(streamed) == in_memory.splits
    assert streamed.fingerprint == in_memory.fingerprint
    for split, text in in_memory.splits.items():
        part = streamed.splits[split]
        assert part.line_ends() == text.count("\n")
        assert list(part.blocks(64)) and "".join(part.blocks(64)) == text
        assert part.read(5, 50) == text[5:50]


def test_auto_streams_above_the_byte_threshold_and_keeps_the_file_checks(tmp_path):
    path = _write(tmp_path / "t.txt", _text(0, 400))
    assert streaming.read_corpus(_config("auto", path=path, streaming_threshold_bytes=100)).streamed
    small = streaming.read_corpus(_config("auto", path=path, streaming_threshold_bytes=10**9))
    assert not getattr(small, "streamed", False)
    (tmp_path / "bad.txt").write_bytes(b"ok\nbad \xff\n")
    with pytest.raises(data_lib.InputDataError, match=r"bad.txt:2"):
        streaming.read_corpus(_config("always", path=str(tmp_path / "bad.txt")))
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(data_lib.InputDataError, match=r"empty.txt.*empty"):
        streaming.read_corpus(_config("always", path=str(tmp_path / "empty.txt")))
    (tmp_path / "t.txt.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(data_lib.InputDataError, match=r"gzip.*data.streaming: never"):
        streaming.read_corpus(_config("always", path=str(tmp_path / "t.txt.gz")))


# Stage chains that replace the preset's: whitespace runs kept as tokens (never cut), WordPiece
# learned from the blocks.
CHAINS = {
    "unicode_words": [
        {"type": "text_normalizer", "form": "NFKC", "lowercase": True},
        {"type": "unicode_script_tokenizer", "keep_whitespace": True},
        {"type": "vocabulary", "max_size": 5000, "min_frequency": 2},
    ],
    "wordpiece": [
        {"type": "text_normalizer", "form": "NFKC", "lowercase": True},
        {"type": "wordpiece_tokenizer", "vocabulary_size": 400},
        {"type": "vocabulary", "max_size": 1000},
    ],
}


@pytest.mark.parametrize(
    "preset", ["quickstart_generate", "play_words", "unicode_words", "wordpiece"]
)
def test_streamed_ids_equal_the_in_memory_ids_of_the_sample_play(tmp_path, monkeypatch, preset):
    monkeypatch.setattr(streaming, "BLOCK_CHARS", 20_000)  # the play is cut into ~9 blocks
    path = PRESETS / f"{'play_words' if preset in CHAINS else preset}.yaml"

    def make_config(streaming):
        config = load_config(path, overrides=[f"data.streaming={streaming}"])
        return dataclasses.replace(config, stages=CHAINS[preset]) if preset in CHAINS else config

    in_memory, streamed = _tasks(make_config, tmp_path)
    assert len(list(streamed.data.splits["train"].blocks())) > 6
    assert (
        streamed.preprocessor.vocabulary.vocabulary == in_memory.preprocessor.vocabulary.vocabulary
    )
    for split in ("train", "validation"):
        ids = streamed.token_ids(split)
        assert isinstance(ids, streaming.TokenIds)
        np.testing.assert_array_equal(ids[0 : len(ids)], in_memory.token_ids(split))


def _batches(dataset, epoch):
    inputs.training_epoch().assign(epoch)
    return [(x.tolist(), y.tolist()) for x, y in dataset.as_numpy_iterator()]


@pytest.mark.parametrize("layout", ["shuffled", "offsets", "stateful"])
def test_streamed_batches_equal_the_in_memory_batches(tmp_path, layout):
    path = _write(tmp_path / "t.txt", _text(2, 1500))
    options = {
        "random_window_offsets": layout != "shuffled",
        "stateful_batches": layout == "stateful",
    }
    in_memory, streamed = _tasks(lambda s: _config(s, path=path, **options), tmp_path)
    for epoch in (0, 1):
        expected = _batches(in_memory.datasets("train", training=True), epoch)
        got = _batches(streamed.datasets("train", training=True), epoch)
        assert got == expected and len(got) > 3
    inputs.training_epoch().assign(0)
    assert streamed.steps_per_epoch() == in_memory.steps_per_epoch()
    assert (
        streamed.datasets("train", True).cardinality()
        == in_memory.datasets("train", True).cardinality()
    )
    for split in ("train", "validation"):
        assert _batches(streamed.datasets(split), 0) == _batches(in_memory.datasets(split), 0)


@pytest.mark.parametrize("random_offsets", [False, True])
def test_above_the_exact_shuffle_limit_the_order_is_a_seeded_permutation(
    tmp_path, monkeypatch, random_offsets
):
    monkeypatch.setattr(streaming, "EXACT_SHUFFLE_WINDOWS", 10)
    path = _write(tmp_path / "t.txt", _text(2, 1500))
    in_memory, streamed = _tasks(
        lambda s: _config(s, path=path, random_window_offsets=random_offsets), tmp_path
    )

    def windows(task, epoch):
        return [
            row
            for x, y in _batches(task.datasets("train", training=True), epoch)
            for row in zip(x, y)
        ]

    first, expected = windows(streamed, 0), windows(in_memory, 0)
    assert first == windows(streamed, 0) and first != windows(streamed, 1)
    assert len(first) == len(expected) and first != expected
    assert all(x[1:] == y[:-1] for x, y in first)
    if not random_offsets:  # the same slots, in another order
        assert sorted(first) == sorted(expected)


def test_id_file_is_written_atomically_and_reused(tmp_path):
    path = _write(tmp_path / "t.txt", _text(3, 600))
    _, task = _tasks(lambda s: _config(s, path=path))
    run_dir = tmp_path / "run"
    task.use_run_dir(run_dir)
    target = task.ids_path("train")
    assert target.parent == run_dir / "token_ids"

    def failing():
        yield "abc\n"
        raise KeyboardInterrupt  # a process killed while writing

    with pytest.raises(KeyboardInterrupt):
        streaming.write_ids(target, failing(), task.preprocessor)
    [tmp] = target.parent.iterdir()
    assert not target.exists() and tmp.name.startswith(f".{target.name}.tmp-")
    artifacts.remove_stale_temporaries(target.parent)
    assert tmp.exists()  # this process is running: it might be another worker still writing
    dead = tmp.with_name(tmp.name.rsplit("-", 1)[0] + "-999999999")
    tmp.rename(dead)
    artifacts.remove_stale_temporaries(target.parent)
    assert not dead.exists()
    ids = task.token_ids("train")
    assert [p.name for p in target.parent.iterdir()] == [target.name]
    assert target.stat().st_size == 4 * len(ids)

    def forbidden():
        raise AssertionError("the id file must be reused, not written again")
        yield

    again = streaming.write_ids(target, forbidden(), task.preprocessor)
    np.testing.assert_array_equal(again[0 : len(again)], ids[0 : len(ids)])
    written = target.stat().st_mtime_ns
    _, resumed = _tasks(lambda s: _config(s, path=path))  # a resumed run in a new process
    resumed.use_run_dir(run_dir)
    assert resumed.ids_path("train") == target
    assert len(resumed.token_ids("train")) == len(ids) and target.stat().st_mtime_ns == written


def test_evaluation_metrics_equal_the_in_memory_ones(tmp_path):
    path = _write(tmp_path / "t.txt", _text(4, 2000))
    in_memory, streamed = _tasks(lambda s: _config(s, path=path), tmp_path)
    model = in_memory.build_model()
    streamed.model = model
    expected = in_memory.evaluate(tmp_path / "a")
    got = streamed.evaluate(tmp_path / "b")
    assert got == expected
    assert got["validation"]["unigram_entropy_bits"] > 0
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "b" / "token_ids").iterdir()) == [
        "test",
        "train",
        "validation",
    ]


def test_vocabulary_learns_from_a_seeded_sample_of_whole_lines(tmp_path):
    rng = random.Random(5)
    lines = [
        " ".join(rng.choice(["alpha", "beta", "gamma", f"rare{i}"]) for _ in range(6))
        for i in range(5000)
    ]
    path = _write(tmp_path / "t.txt", "\n".join(lines) + "\n")
    stages = [{"type": "whitespace_tokenizer"}, {"type": "vocabulary", "max_size": 10000}]
    whole, _ = _tasks(lambda s: _config(s, stages=stages, path=path))
    in_memory, streamed = _tasks(
        lambda s: _config(s, stages=stages, path=path, vocabulary_sample=1500)
    )
    vocabulary = streamed.preprocessor.vocabulary.vocabulary
    assert vocabulary == in_memory.preprocessor.vocabulary.vocabulary
    assert 1000 < len(vocabulary) - 4 < len(whole.preprocessor.vocabulary.vocabulary) - 4
    texts = list(streaming.sample_texts(streamed.data.splits["train"], 1500, 1337)())
    assert all(t.endswith("\n") and t.split("\n")[0] in lines for t in texts)
    assert 1200 <= sum(t.count("\n") for t in texts) <= 2000


def test_a_tiny_streamed_language_model_trains_end_to_end(tmp_path):
    path = _write(
        tmp_path / "t.txt", ("ROSA:\nWhere is the silver key, the one of the north wall?\n\n" * 40)
    )
    config = dataclasses.replace(_config("always", path=path), steps=["train", "evaluate"])
    result = build_pipeline(config).run(run_dir=tmp_path / "run")
    metrics = result.metrics["validation"]
    assert np.isfinite(metrics["loss"]) and metrics["num_tokens"] > 0
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "run" / "token_ids").iterdir()) == [
        "test",
        "train",
        "validation",
    ]
    leakage = result.manifest["data"]["leakage"]
    assert leakage["sample"] > 0 and leakage["unit"].startswith("lines")


RSS_SCRIPT = r"""
import json, sys
from nlp_lstm.data import inputs
from nlp_lstm.config import load_config
from nlp_lstm.pipeline import build_pipeline
from nlp_lstm.tasks.generation.metrics import unigram_entropy_bits

def status():
    with open("/proc/self/status") as handle:
        fields = dict(line.split(":", 1) for line in handle)
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmHWM", "RssAnon", "RssFile")}

def run(path, run_dir):
    task = build_pipeline(load_config(path, overrides=["data.streaming=always"])).task
    task.read()
    task.adapt()
    task.use_run_dir(run_dir)
    tokens = len(task.token_ids("train")) + len(task.token_ids("validation"))
    inputs.training_epoch().assign(0)
    batches = 0
    for batches, _ in enumerate(task.datasets("train", training=True).take(200), 1):
        pass
    for _ in task.datasets("validation"):
        pass
    return tokens, batches, unigram_entropy_bits(task.token_ids("train"))

run(sys.argv[1], sys.argv[3])  # the code and libraries are paged in before the measurement
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # resets VmHWM to the current RSS
before = status()
tokens, batches, entropy = run(sys.argv[2], sys.argv[4])
after = status()
print("RESULT " + json.dumps({"before": before, "after": after, "tokens": tokens,
                              "batches": batches, "entropy": entropy}))
"""


def _lm_yaml(path, text_path):
    path.write_text(
        f"""\
task: generation
seed: 1
data: {{source: files, path: {text_path}, window_length: 64,
       split_fractions: {{train: 0.9, validation: 0.1}}}}
stages:
  - {{type: text_normalizer, form: NFC, lowercase: false}}
  - {{type: character_tokenizer}}
  - {{type: vocabulary, max_size: 200}}
model: {{type: lstm_causal_lm, embedding_dim: 8, hidden_dim: 8}}
train: {{batch_size: 32}}
evaluate: {{batch_size: 256}}
""",
        encoding="utf-8",
    )
    return path


def _write_words(path, chunks):
    """Lines of 12 words from a 5,000-word vocabulary, 10,000 lines (about 1.1 MB) a chunk."""
    rng = np.random.default_rng(chunks)
    words = np.asarray([f"word{i:04d}" for i in range(5000)])
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(chunks):
            picks = words[rng.integers(0, len(words), (10_000, 12))]
            handle.write("".join(" ".join(row) + "\n" for row in picks))
    return path


@pytest.mark.slow
def test_streaming_a_large_corpus_keeps_anonymous_memory_bounded(tmp_path):
    import json
    import os
    import subprocess
    import sys

    # The warm-up corpus spans several blocks, so that the buffers of a block are allocated
    # (and kept by the allocators) before the measurement.
    small = _lm_yaml(tmp_path / "small.yaml", _write_words(tmp_path / "small.txt", 3))
    large_text = _write_words(tmp_path / "large.txt", 45)
    large = _lm_yaml(tmp_path / "large.yaml", large_text)
    size = large_text.stat().st_size
    root = Path(__file__).resolve().parents[3]
    output = subprocess.run(
        [
            sys.executable,
            "-c",
            RSS_SCRIPT,
            str(small),
            str(large),
            str(tmp_path / "r1"),
            str(tmp_path / "r2"),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    result = json.loads(output.stdout.split("RESULT ")[-1])
    before, after = result["before"], result["after"]
    assert size > 45e6 and result["tokens"] > 0.99 * size and result["batches"] == 200
    # In memory the text alone (1 byte a character) and its int64 ids (8 bytes a token) would
    # be 9 times the corpus, and its tokens as tf.string 24 bytes a character more; streamed,
    # what stays is a block's buffers and the window order (8 bytes a window of 64 tokens).
    assert after["RssAnon"] - before["RssAnon"] < 0.5 * size, result
    # The peak adds the 16 MiB blocks of the file check (bytes, their copy and their text).
    assert after["VmHWM"] - before["VmHWM"] < 2 * size, result
