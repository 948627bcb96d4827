"""Translation corpora larger than memory (data.streaming=always), on corpora small enough for CI:
the streamed reader's splits, checks and fingerprint inputs, the token ids cache, and a run."""

import textwrap

import numpy as np
import pytest

from nlp_lstm.config.loading import load_config
from nlp_lstm.data import pairs as parallel_data
from nlp_lstm.data.streaming import pairs as arrow_parallel
from nlp_lstm.errors import InputDataError
from nlp_lstm.pipeline import build_pipeline
from nlp_lstm.tasks.translation import streaming
from tests.testing import forbid_memory_maps

SUBJECTS = ["the cat", "the dog", "a bird", "my friend", "the child", "a man"]
VERBS = [("sees", "ve"), ("likes", "quiere"), ("finds", "encuentra")]
OBJECTS = [
    ("the house", "la casa"),
    ("a very old book", "un libro muy viejo"),
    ("the sea", "el mar"),
]
SPANISH = {
    "the cat": "el gato",
    "the dog": "el perro",
    "a bird": "un pájaro",
    "my friend": "mi amigo",
    "the child": "el niño",
    "a man": "un hombre",
}


def _pairs():
    """108 pairs: 54 distinct sources, each with two translations (a group of two)."""
    rows = []
    for subject in SUBJECTS:
        for verb, verbo in VERBS:
            for obj, objeto in OBJECTS:
                source = f"{subject} {verb} {obj} ."
                rows.append((source, f"{SPANISH[subject]} {verbo} {objeto} ."))
                rows.append((source, f"{SPANISH[subject]} {verbo} {objeto} !"))
    return rows


def _write_pipeline(directory, data, extra=""):
    path = directory / "mt.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        name: tiny_mt
        task: translation
        seed: 3
        data: {data}
        stages:
          - {{type: whitespace_tokenizer}}
          - {{type: vocabulary, max_size: 100}}
        model: {{type: lstm_seq2seq, embedding_dim: 8, hidden_dim: 8, encoder_layers: 1,
                decoder_layers: 1, dropout: 0.0}}
        train: {{batch_size: 16, epochs: 1, learning_rate: 0.01, verbose: 0, num_buckets: 2}}
        evaluate: {{splits: [validation], beam_size: 1, batch_size: 32}}
        export: {{verify: false}}
        """)
        + textwrap.dedent(extra),
        encoding="utf-8",
    )
    return path


@pytest.fixture()
def table(tmp_path):
    corpus = tmp_path / "pairs.tsv"
    corpus.write_text("en\tes\n" + "".join(f"{s}\t{t}\n" for s, t in _pairs()), encoding="utf-8")
    return _write_pipeline(
        tmp_path, f"{{source: files, path: {corpus}, source_column: en, target_column: es}}"
    )


@pytest.fixture()
def line_files(tmp_path):
    pairs = _pairs()
    for split, rows in (("train", pairs[:90]), ("valid", pairs[90:])):
        (tmp_path / f"{split}.en").write_text("".join(f"{s}\n" for s, _ in rows), "utf-8")
        (tmp_path / f"{split}.es").write_text("".join(f"{t}\n" for _, t in rows), "utf-8")
    return _write_pipeline(
        tmp_path,
        f"{{source: files, source_language: en, "
        f"target_language: es, train: '{tmp_path}/train.{{lang}}',"
        f" validation: '{tmp_path}/valid.{{lang}}', "
        f"split_fractions: {{train: 0.9, test: 0.1}}}}",
    )


def _config(path, *overrides):
    return load_config(path, overrides=["data.streaming=always", *overrides])


def _texts(part):
    return arrow_parallel.split_texts(part)


def test_given_split_files_read_the_same_streamed_and_in_memory(line_files):
    in_memory = parallel_data.read_parallel(load_config(line_files))
    streamed = arrow_parallel.read_parallel(_config(line_files))
    assert streamed.streamed and not getattr(in_memory, "streamed", False)
    assert isinstance(streamed.splits["train"]["source"], arrow_parallel.arrow_data.ArrowColumn)
    assert streamed.counts() == in_memory.counts() == {"train": 80, "validation": 18, "test": 10}
    # The validation split is a file: both readers give its pairs in file order.
    assert _texts(streamed.splits["validation"]) == in_memory.splits["validation"]
    assert streamed.files == in_memory.files
    assert sum(streamed.counts().values()) == sum(in_memory.counts().values()) == 108


def test_split_files_only_give_the_in_memory_fingerprint(tmp_path):
    pairs = _pairs()
    for split, rows in (("train", pairs[:80]), ("valid", pairs[80:96]), ("test", pairs[96:])):
        (tmp_path / f"{split}.tsv").write_text(
            "en\tes\n" + "".join(f"{s}\t{t}\n" for s, t in rows), encoding="utf-8"
        )
    path = _write_pipeline(
        tmp_path,
        f"{{source: files, train: {tmp_path}/train.tsv, "
        f"validation: {tmp_path}/valid.tsv, test: "
        f"{tmp_path}/test.tsv, source_column: en, "
        f"target_column: es}}",
    )
    in_memory = parallel_data.read_parallel(load_config(path))
    streamed = arrow_parallel.read_parallel(_config(path))
    assert streamed.counts() == in_memory.counts() == {"train": 80, "validation": 16, "test": 12}
    assert streamed.fingerprint == in_memory.fingerprint
    for split, part in streamed.splits.items():
        assert _texts(part) == in_memory.splits[split]
    capped = arrow_parallel.read_parallel(_config(path, "data.max_examples=10"))
    expected = parallel_data.read_parallel(load_config(path, overrides=["data.max_examples=10"]))
    assert _texts(capped.splits["train"]) == expected.splits["train"]
    assert capped.fingerprint == expected.fingerprint


def test_auto_streams_above_the_byte_threshold(table):
    assert not getattr(arrow_parallel.read_parallel(load_config(table)), "streamed", False)
    assert arrow_parallel.read_parallel(
        load_config(table, overrides=["data.streaming_threshold_bytes=100"])
    ).streamed


def _split_of_each_source(data):
    seen = {}
    for split, part in data.splits.items():
        for source in _texts(part)["source"]:
            assert seen.setdefault(source, split) == split, f"{source!r} is in two splits"
    return seen


def test_hashed_group_split_keeps_groups_together_and_is_seeded(table):
    streamed = arrow_parallel.read_parallel(_config(table))
    in_memory = parallel_data.read_parallel(load_config(table))
    assert sum(streamed.counts().values()) == 108
    # 54 groups of two: 80/10/10 of the groups, as the in-memory split cuts them.
    assert streamed.counts() == in_memory.counts() == {"train": 86, "validation": 10, "test": 12}
    first = _split_of_each_source(streamed)
    assert _split_of_each_source(arrow_parallel.read_parallel(_config(table))) == first
    other = _split_of_each_source(arrow_parallel.read_parallel(_config(table, "data.split_seed=5")))
    assert other != first
    # The fingerprint tells the hashed cut from the in-memory one.
    assert streamed.fingerprint != in_memory.fingerprint


def test_hashed_group_split_cuts_groups_by_fraction():
    hashes = np.repeat(np.arange(1000, dtype=np.uint64) * 7919, 3)
    cut = arrow_parallel.hashed_group_split(
        hashes, {"train": 0.8, "test": 0.2}, 1, ["train", "test"]
    )
    assert [len(cut[s]) for s in ("train", "test")] == [2400, 600]
    assert not set(hashes[cut["train"]]) & set(hashes[cut["test"]])
    assert np.all(np.diff(cut["train"]) > 0)


@pytest.mark.parametrize("chunk", [7, 2**22])
def test_hashed_group_split_is_the_unique_inverse_cut_in_chunks(chunk):
    """The chunked cut gives the splits of the direct formulation (np.unique's inverse), which
    holds several arrays of 8 bytes a row at once."""
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, 300, dtype=np.uint64)[rng.integers(0, 300, 5000)]
    fractions, names = (
        {"train": 0.7, "validation": 0.2, "test": 0.1},
        ["train", "validation", "test"],
    )
    distinct, inverse = np.unique(hashes, return_inverse=True)
    which = parallel_data.group_assignment(len(distinct), fractions, 4, names)[inverse]
    cut = arrow_parallel.hashed_group_split(hashes, fractions, 4, names, chunk=chunk)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(cut[name], np.flatnonzero(which == i))
    assert sum(len(v) for v in cut.values()) == 5000


@pytest.mark.parametrize("corpus", ["table", "line_files"])
def test_the_two_sides_of_a_split_share_one_index_array(corpus, request):
    pipeline = request.getfixturevalue(corpus)
    for overrides in ((), ("data.max_examples=20",)):
        data = arrow_parallel.read_parallel(_config(pipeline, *overrides))
        assert len(data.splits) == 3 and len(data.splits["train"]["source"]) >= 20
        for part in data.splits.values():
            assert part["source"].indices is part["target"].indices
    assert data.counts()["train"] == 20


def test_source_hashes_are_the_same_across_batches(table):
    column = arrow_parallel.read_parallel(_config(table)).splits["train"]["source"]
    whole = arrow_parallel.source_hashes(column)
    texts = _texts({"source": column, "target": column})["source"]
    assert len(set(whole)) == len(set(texts))
    assert (whole[0] == whole[1]) == (texts[0] == texts[1])


def test_bad_tables_are_reported_as_in_memory(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("en\tes\nHi.\tHola.\nBye.\t \n", encoding="utf-8")
    pipeline = _write_pipeline(tmp_path, f"{{source: files, path: {path}}}")
    with pytest.raises(InputDataError, match=r"no column 'source'.*en, es"):
        arrow_parallel.read_parallel(_config(pipeline))
    with pytest.raises(
        InputDataError, match=r"p.tsv:3, column 'es': The field 'es' has no text \(' '\)"
    ):
        arrow_parallel.read_parallel(
            _config(pipeline, "data.source_column=en", "data.target_column=es")
        )
    json_path = tmp_path / "p.jsonl"
    json_path.write_text(
        '{"en": "Hi.", "es": "Hola."}\n{"en": null, "es": "Adiós."}\n', encoding="utf-8"
    )
    pipeline = _write_pipeline(
        tmp_path, f"{{source: files, path: {json_path}, source_column: en, target_column: es}}"
    )
    with pytest.raises(InputDataError, match=r"p.jsonl:2, column 'en': The field 'en' has no"):
        arrow_parallel.read_parallel(_config(pipeline))


def test_bad_line_files_are_reported_as_in_memory(tmp_path):
    (tmp_path / "train.de").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "train.en").write_text("A\nB\n", encoding="utf-8")
    pipeline = _write_pipeline(
        tmp_path,
        f"{{source: files, source_language: de, "
        f"target_language: en, "
        f"train: '{tmp_path}/train.{{lang}}'}}",
    )
    with pytest.raises(InputDataError, match=r"train.de.*3 lines here but 2"):
        arrow_parallel.read_parallel(_config(pipeline))
    (tmp_path / "train.en").write_text("A\n\nC\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"train.en:2.*empty"):
        arrow_parallel.read_parallel(_config(pipeline))


@pytest.mark.parametrize("corpus", ["table", "line_files"])
def test_streaming_never_builds_or_maps_the_arrow_table(corpus, request, monkeypatch):
    path = request.getfixturevalue(corpus)
    expected = arrow_parallel.read_parallel(_config(path))  # writes the Arrow files
    expected = {s: _texts(p) for s, p in expected.splits.items()}
    forbid_memory_maps(monkeypatch)
    for _ in range(2):
        task = build_pipeline(_config(path)).task
        task.read()
        assert task.leakage_units()[0]["train"]
        assert {s: _texts(p) for s, p in task.data.splits.items()} == expected
        task.adapt()
        assert task.preprocessor.vocabulary.vocabulary_size > 10


def test_vocabulary_learns_from_a_seeded_bounded_sample(table):
    vocabularies = []
    for _ in range(2):
        task = build_pipeline(_config(table, "data.vocabulary_sample=5")).task
        task.read()
        sources, targets = task.adapt_pairs()
        assert sum(len(b) for b in sources) == sum(len(b) for b in targets) == 5
        task.adapt()
        vocabularies.append(task.preprocessor.vocabulary.vocabulary)
    assert vocabularies[0] == vocabularies[1]
    # In memory, a train split under the sample size adapts on all its pairs, in order.
    in_memory = build_pipeline(load_config(table)).task
    in_memory.read()
    sources, targets = in_memory.adapt_pairs()
    assert [t.decode() for b in sources.as_numpy_iterator() for t in b] == in_memory.data.splits[
        "train"
    ]["source"]
    assert [t.decode() for b in targets.as_numpy_iterator() for t in b] == in_memory.data.splits[
        "train"
    ]["target"]


LIMITS = ("data.max_source_tokens=7", "data.max_target_tokens=7")


def test_length_limits_drop_and_truncate_as_in_memory(table, tmp_path):
    task = build_pipeline(_config(table, *LIMITS)).task
    task.read()
    task.adapt()
    task.cache_dir = tmp_path / "ids"
    # The same pairs and stages in memory.
    in_memory = build_pipeline(load_config(table, overrides=list(LIMITS))).task
    in_memory.data = parallel_data.ParallelDataset(
        splits={s: _texts(p) for s, p in task.data.splits.items()}, fingerprint="", files=[]
    )
    in_memory.preprocessor = task.preprocessor
    in_memory.target_preprocessor = task.target_preprocessor
    lengths = task.train_lengths()
    # Sentences with "a very old book" have 8 tokens a side: a third of the pairs.
    assert 0 < task.length_report["train_pairs_dropped"] < task.data.counts()["train"]
    np.testing.assert_array_equal(np.sort(lengths), np.sort(in_memory.train_lengths()))
    assert (
        task.length_report["train_pairs_dropped"] == in_memory.length_report["train_pairs_dropped"]
    )
    kept = [
        (s.tolist(), t.tolist())
        for s, t in streaming.streamed_pairs(task, "train", True).as_numpy_iterator()
    ]
    assert sorted(kept) == sorted(
        (s.tolist(), t.tolist()) for s, t in zip(*in_memory.pairs("train", True))
    )
    rows = [
        (s.tolist(), t.tolist())
        for s, t in streaming.streamed_pairs(task, "validation", False).as_numpy_iterator()
    ]
    assert sorted(rows) == sorted(
        (s.tolist(), t.tolist()) for s, t in zip(*in_memory.pairs("validation"))
    )
    for side in ("sources", "targets"):
        key = f"validation_{side}_truncated"
        assert task.length_report[key] == in_memory.length_report[key] > 0


def test_token_ids_are_cached_once_and_reused(table, tmp_path):
    task = build_pipeline(_config(table, *LIMITS)).task
    task.read()
    task.adapt()
    task.cache_dir = tmp_path / "ids"
    lengths = task.train_lengths()
    path = task.ids_path("train")
    assert path.is_dir() and not list(path.parent.glob(".*.tmp-*"))
    stamp = path.stat().st_mtime_ns

    def fail():
        raise AssertionError("the cache was written again")

    again = arrow_parallel.arrow_data.cached_lengths(fail, path)
    np.testing.assert_array_equal(again, lengths)
    assert path.stat().st_mtime_ns == stamp


def test_token_ids_equal_the_in_memory_ones(table, tmp_path):
    task = build_pipeline(_config(table)).task
    task.read()
    task.adapt()
    task.cache_dir = tmp_path / "ids"
    streamed = sorted(
        (s.tolist(), t.tolist())
        for s, t in streaming.streamed_pairs(task, "test", False).as_numpy_iterator()
    )
    texts = _texts(task.data.splits["test"])
    expected = sorted(
        (s.tolist(), t.tolist())
        for s, t in zip(
            task._encode(texts["source"], task.preprocessor),
            task._encode(texts["target"], task.target_preprocessor),
        )
    )
    assert streamed == expected


@pytest.mark.slow
def test_a_tiny_streamed_translation_run_trains_end_to_end(line_files, tmp_path, monkeypatch):
    import tensorflow as tf

    from nlp_lstm.pipeline import load_run

    run_dir = tmp_path / "run"
    result = build_pipeline(_config(line_files, "export.verify=true")).run(run_dir=run_dir)
    metrics = result.metrics["validation"]
    assert metrics["num_pairs"] == 18 and 0.0 <= metrics["bleu"] <= 100.0
    assert np.isfinite(metrics["perplexity"]) and metrics["num_target_tokens"] > 18
    assert sorted(p.name.split("-")[0] for p in (run_dir / "token_ids").iterdir()) == [
        "train",
        "validation",
    ]
    assert result.manifest["data"]["leakage"]["sample"] > 0
    assert result.metrics["length_limits"]["train_pairs_dropped"] == 0
    assert result.manifest["export"]["verified_inputs"] > 0  # probes read from the Arrow files
    rows = (run_dir / "translations_validation.tsv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 19
    # A second read of the run (`nlp-lstm evaluate`) reuses the cached ids.
    monkeypatch.setattr(tf.data.Dataset, "save", lambda *a, **k: pytest.fail("ids re-written"))
    again = load_run(run_dir)
    try:
        assert again.evaluate(run_dir, ["validation"])["validation"]["loss"] == metrics["loss"]
    finally:
        again.lock.release()
