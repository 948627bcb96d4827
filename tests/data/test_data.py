"""Tests for nlp_lstm/data/texts.py: reading files into train/validation/test and clear input
errors."""

import json
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from nlp_lstm.config.loading import config_from_dict, load_config
from nlp_lstm.data.texts import TextDataset, read_dataset
from nlp_lstm.errors import InputDataError
from tests.testing import NEGATIVE, POSITIVE, write_pipeline, write_tiny_tsv

ROOT = Path(__file__).resolve().parents[2]
MODEL = {"type": "lstm_text_classifier"}


def make_config(**data):
    return config_from_dict({"data": data, "model": MODEL})


def rows(repeats=10):
    """(text, label) pairs: 6 * repeats per label, texts unique."""
    out = []
    for i in range(repeats):
        out += [(f"{t} {i}", "positive") for t in POSITIVE]
        out += [(f"{t} {i}", "negative") for t in NEGATIVE]
    return out


@pytest.fixture(scope="module")
def tsv_120(tmp_path_factory):
    """120 examples, 60 per label."""
    return write_tiny_tsv(tmp_path_factory.mktemp("data") / "tiny.tsv", repeats=10)


def all_texts(dataset):
    return [t for split in dataset.splits.values() for t in split["text"]]


# -- formats -------------------------------------------------------------------------------------


def test_tsv(tiny_corpus):
    dataset = read_dataset(make_config(path=str(tiny_corpus)))
    assert isinstance(dataset, TextDataset)
    assert dataset.label_names == ["negative", "positive"]
    assert sum(dataset.counts().values()) == 48
    assert dataset.files == [str(tiny_corpus)]
    assert len(dataset.fingerprint) == 64
    train = dataset.splits["train"]
    assert all(isinstance(t, str) for t in train["text"])
    assert train["label"].dtype == np.int64
    assert set(train["label"].tolist()) == {0, 1}


def test_tsv_keeps_quotes_literal(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text('text\tlabel\n"quoted" start\tpos\nplain\tneg\n', encoding="utf-8")
    dataset = read_dataset(make_config(path=str(path), split_fractions={"train": 1.0}))
    assert sorted(dataset.splits["train"]["text"]) == ['"quoted" start', "plain"]


def test_csv_with_quoted_commas(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(
        'review,sentiment\n"good, really good",pos\nbad,neg\n"ok, fine",pos\n', encoding="utf-8"
    )
    dataset = read_dataset(
        make_config(
            path=str(path),
            text_column="review",
            label_column="sentiment",
            split_fractions={"train": 1.0},
        )
    )
    assert dataset.label_names == ["neg", "pos"]
    assert sorted(dataset.splits["train"]["text"]) == ["bad", "good, really good", "ok, fine"]
    assert list(dataset.splits) == ["train"]


def test_csv_custom_delimiter(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text;label\na b;x\nc d;y\n", encoding="utf-8")
    dataset = read_dataset(
        make_config(path=str(path), delimiter=";", split_fractions={"train": 1.0})
    )
    assert sorted(dataset.splits["train"]["text"]) == ["a b", "c d"]


def test_jsonl(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(
        "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows(2)), encoding="utf-8"
    )
    dataset = read_dataset(make_config(path=str(path)))
    assert sorted(all_texts(dataset)) == sorted(t for t, _ in rows(2))


def test_json_array(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps([{"text": t, "label": y} for t, y in rows(2)]), encoding="utf-8")
    dataset = read_dataset(make_config(path=str(path)))
    assert sorted(all_texts(dataset)) == sorted(t for t, _ in rows(2))


def test_integer_labels_become_strings(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(
        "".join(json.dumps({"text": f"t{i}", "label": i % 2}) + "\n" for i in range(20)),
        encoding="utf-8",
    )
    dataset = read_dataset(make_config(path=str(path)))
    assert dataset.label_names == ["0", "1"]


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "data.parquet"
    texts, labels = zip(*rows(2))
    pq.write_table(pa.table({"text": list(texts), "label": list(labels), "extra": [1] * 24}), path)
    dataset = read_dataset(make_config(path=str(path)))
    assert sorted(all_texts(dataset)) == sorted(texts)
    assert dataset.label_names == ["negative", "positive"]


def test_explicit_format_overrides_suffix(tmp_path):
    path = tmp_path / "data.dat"
    path.write_text("text\tlabel\na\tx\nb\ty\n", encoding="utf-8")
    dataset = read_dataset(
        make_config(path=str(path), format="tsv", split_fractions={"train": 1.0})
    )
    assert sorted(dataset.splits["train"]["text"]) == ["a", "b"]


def test_label_files(tmp_path):
    (tmp_path / "pos.txt").write_text("great film\nloved it\n\nwonderful\n", encoding="utf-8")
    (tmp_path / "neg.txt").write_text("dull film\nhated it\n", encoding="utf-8")
    config = make_config(
        source="label_files",
        label_files={"neg": str(tmp_path / "neg.txt"), "pos": str(tmp_path / "pos.txt")},
        split_fractions={"train": 1.0},
    )
    dataset = read_dataset(config)
    # Label order follows label_files; blank lines are skipped.
    assert dataset.label_names == ["neg", "pos"]
    train = dataset.splits["train"]
    pairs = sorted(zip(train["text"], train["label"].tolist()))
    assert pairs == [
        ("dull film", 0),
        ("great film", 1),
        ("hated it", 0),
        ("loved it", 1),
        ("wonderful", 1),
    ]
    assert sorted(dataset.files) == sorted([str(tmp_path / "neg.txt"), str(tmp_path / "pos.txt")])


def test_sample_source():
    dataset = read_dataset(make_config(source="sample", sample="sentiment"))
    assert dataset.label_names == ["negative", "positive"]
    assert set(dataset.splits) == {"train", "validation", "test"}
    assert dataset.counts()["train"] > 0


def test_given_split_files(tmp_path):
    data = rows(2)
    paths = {}
    for name, part in (("train", data[:16]), ("validation", data[16:20]), ("test", data[20:])):
        paths[name] = tmp_path / f"{name}.tsv"
        paths[name].write_text(
            "text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in part), encoding="utf-8"
        )
    dataset = read_dataset(make_config(**{k: str(v) for k, v in paths.items()}))
    # Given splits are kept as they are, in file order.
    assert dataset.splits["train"]["text"] == [t for t, _ in data[:16]]
    assert dataset.splits["validation"]["text"] == [t for t, _ in data[16:20]]
    assert dataset.splits["test"]["text"] == [t for t, _ in data[20:]]
    assert dataset.files == [str(paths[s]) for s in ("train", "validation", "test")]


def test_missing_split_is_cut_from_train(tmp_path):
    data = rows(5)
    train, test = tmp_path / "train.tsv", tmp_path / "test.tsv"
    train.write_text(
        "text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in data[:50]), encoding="utf-8"
    )
    test.write_text(
        "text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in data[50:]), encoding="utf-8"
    )
    dataset = read_dataset(make_config(train=str(train), test=str(test)))
    counts = dataset.counts()
    assert counts["test"] == 10
    assert counts["train"] + counts["validation"] == 50
    assert counts["validation"] > 0
    assert not set(dataset.splits["train"]["text"]) & set(dataset.splits["validation"]["text"])


def test_glob_pattern(tmp_path):
    for i, part in enumerate((rows(1), rows(1)[::-1])):
        (tmp_path / f"part{i}.tsv").write_text(
            "text\tlabel\n" + "".join(f"{t} p{i}\t{y}\n" for t, y in part), encoding="utf-8"
        )
    dataset = read_dataset(make_config(path=str(tmp_path / "part*.tsv")))
    assert sum(dataset.counts().values()) == 24
    assert len(dataset.files) == 2


def test_explicit_labels_fix_the_order(tsv_120):
    dataset = read_dataset(make_config(path=str(tsv_120), labels=["positive", "negative"]))
    assert dataset.label_names == ["positive", "negative"]
    train = dataset.splits["train"]
    for text, label in zip(train["text"], train["label"]):
        assert label == (0 if any(text.startswith(p) for p in POSITIVE) else 1)


# -- splits --------------------------------------------------------------------------------------


def test_stratified_split_fractions_and_classes(tsv_120):
    dataset = read_dataset(make_config(path=str(tsv_120)))
    assert dataset.counts() == {"train": 96, "validation": 12, "test": 12}
    for split, size in dataset.counts().items():
        assert np.bincount(dataset.splits[split]["label"]).tolist() == [size // 2, size // 2]
    # The splits are disjoint and cover every example once.
    texts = all_texts(dataset)
    assert len(texts) == 120
    assert Counter(texts) == Counter(
        tsv_120.read_text(encoding="utf-8").splitlines()[1:][i].split("\t")[0] for i in range(120)
    )


def test_stratified_split_is_proportional_with_unbalanced_classes(tmp_path):
    path = tmp_path / "unbalanced.tsv"
    lines = [f"pos {i}\tpos" for i in range(80)] + [f"neg {i}\tneg" for i in range(20)]
    path.write_text("text\tlabel\n" + "\n".join(lines) + "\n", encoding="utf-8")
    dataset = read_dataset(make_config(path=str(path)))
    counts = {s: np.bincount(v["label"], minlength=2).tolist() for s, v in dataset.splits.items()}
    assert counts == {"train": [16, 64], "validation": [2, 8], "test": [2, 8]}


def test_split_is_seeded_and_deterministic(tsv_120):
    first = read_dataset(make_config(path=str(tsv_120)))
    second = read_dataset(make_config(path=str(tsv_120)))
    for split in ("train", "validation", "test"):
        assert first.splits[split]["text"] == second.splits[split]["text"]
        assert first.splits[split]["label"].tolist() == second.splits[split]["label"].tolist()
    assert first.fingerprint == second.fingerprint
    other = read_dataset(make_config(path=str(tsv_120), split_seed=7))
    assert other.splits["test"]["text"] != first.splits["test"]["text"]
    assert other.fingerprint != first.fingerprint


def test_split_does_not_depend_on_the_training_seed(tsv_120):
    a = read_dataset(config_from_dict({"seed": 1, "data": {"path": str(tsv_120)}, "model": MODEL}))
    b = read_dataset(config_from_dict({"seed": 2, "data": {"path": str(tsv_120)}, "model": MODEL}))
    assert a.splits["test"]["text"] == b.splits["test"]["text"]


def test_zero_fraction_drops_the_split(tsv_120):
    dataset = read_dataset(
        make_config(
            path=str(tsv_120), split_fractions={"train": 0.9, "validation": 0.1, "test": 0.0}
        )
    )
    assert set(dataset.splits) == {"train", "validation"}
    assert dataset.counts() == {"train": 108, "validation": 12}


def test_max_examples(tsv_120):
    dataset = read_dataset(make_config(path=str(tsv_120), max_examples=5))
    assert dataset.counts() == {"train": 5, "validation": 5, "test": 5}
    assert all(len(v["label"]) == 5 for v in dataset.splits.values())


def test_to_tf(tiny_corpus):
    import tensorflow as tf

    dataset = read_dataset(make_config(path=str(tiny_corpus)))
    element = next(iter(dataset.to_tf("train")))
    assert element["text"].dtype == tf.string and element["label"].dtype == tf.int64
    assert element["text"].numpy().decode() == dataset.splits["train"]["text"][0]
    assert dataset.to_tf("test").cardinality().numpy() == dataset.counts()["test"]


def test_relative_path_in_yaml_is_relative_to_the_yaml(tmp_path):
    (tmp_path / "data").mkdir()
    write_tiny_tsv(tmp_path / "data" / "tiny.tsv")
    pipe = write_pipeline(tmp_path, "data/tiny.tsv")
    dataset = read_dataset(load_config(pipe))
    assert dataset.files == [str((tmp_path / "data" / "tiny.tsv").resolve())]


# -- bad input -----------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.tsv"
    with pytest.raises(
        InputDataError,
        match=rf"{re.escape(str(missing))}.*No file matches "
        rf"`data.path`",
    ) as info:
        read_dataset(make_config(path=str(missing)))
    assert info.value.path == str(missing)


def test_missing_split_file(tmp_path):
    missing = tmp_path / "dev.tsv"
    write_tiny_tsv(tmp_path / "train.tsv")
    with pytest.raises(
        InputDataError,
        match=rf"No file matches `data.validation`="
        rf"'{re.escape(str(missing))}'",
    ):
        read_dataset(make_config(train=str(tmp_path / "train.tsv"), validation=str(missing)))


@pytest.mark.parametrize(
    "content, pattern",
    [
        (b"", r"The file is empty"),
        (b"  \n\t\n", r"The file holds only whitespace"),
    ],
)
def test_empty_file(tmp_path, content, pattern):
    path = tmp_path / "empty.tsv"
    path.write_bytes(content)
    with pytest.raises(InputDataError, match=rf"{re.escape(str(path))}: {pattern}"):
        read_dataset(make_config(path=str(path)))


def test_header_only_file_raises_input_data_error(tmp_path):
    path = tmp_path / "header.tsv"
    path.write_text("text\tlabel\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=re.escape(str(path))):
        read_dataset(make_config(path=str(path)))


def test_header_only_file_says_there_are_no_examples(tmp_path):
    path = tmp_path / "header.tsv"
    path.write_text("text\tlabel\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"(?i)no (examples|rows|data rows)|is empty"):
        read_dataset(make_config(path=str(path)))


def test_wrong_column_name(tiny_corpus):
    with pytest.raises(
        InputDataError,
        match=r"column 'review': There is no column 'review' "
        r"\(data.text_column\)\. Available columns: text, "
        r"label\. Set data.text_column",
    ) as info:
        read_dataset(make_config(path=str(tiny_corpus), text_column="review"))
    assert info.value.column == "review"
    assert str(tiny_corpus) in str(info.value)


def test_wrong_label_column_name(tiny_corpus):
    with pytest.raises(InputDataError, match=r"no column 'sentiment' \(data.label_column\)"):
        read_dataset(make_config(path=str(tiny_corpus), label_column="sentiment"))


def test_non_utf8_bytes_name_file_and_line(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes(b"text\tlabel\ngood\tpos\ncaf\xe9 bad\tneg\n")
    with pytest.raises(
        InputDataError,
        match=rf"{re.escape(str(path))}:3: byte 4 of this line is "
        rf"not valid UTF-8.*iconv",
    ) as info:
        read_dataset(make_config(path=str(path)))
    assert info.value.line == 3


def test_non_utf8_label_file(tmp_path):
    (tmp_path / "pos.txt").write_bytes(b"fine\n\xff\n")
    (tmp_path / "neg.txt").write_text("bad\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"pos\.txt:2: byte 1 of this line is not valid UTF-8"):
        read_dataset(
            make_config(
                source="label_files",
                label_files={"neg": str(tmp_path / "neg.txt"), "pos": str(tmp_path / "pos.txt")},
            )
        )


def test_text_file_without_label_files(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_text("a good film\n", encoding="utf-8")
    with pytest.raises(
        InputDataError,
        match=r"reviews\.txt: Plain text files have no label "
        r"column.*data.source=label_files",
    ):
        read_dataset(make_config(path=str(path)))


def test_unknown_suffix(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(
        InputDataError,
        match=r"Cannot infer the format from the suffix '\.xlsx'\. "
        r"Set data.format",
    ):
        read_dataset(make_config(path=str(path)))


def test_unparsable_json(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(InputDataError, match=r"broken\.jsonl:2: This line is not JSON"):
        read_dataset(make_config(path=str(path)))


def test_missing_text_value(tmp_path):
    path = tmp_path / "holes.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": null, "label": "y"}\n', encoding="utf-8")
    with pytest.raises(
        InputDataError,
        match=r"holes\.jsonl:2, column 'text': The text field "
        r"'text' of this row holds null, not a string",
    ):
        read_dataset(make_config(path=str(path)))


def test_missing_label_value(tmp_path):
    path = tmp_path / "holes.csv"
    path.write_text("text,label\na,x\nb,\n", encoding="utf-8")
    with pytest.raises(
        InputDataError, match=r"holes\.csv:3, column 'label': This row has no label"
    ):
        read_dataset(make_config(path=str(path)))


def test_one_label_only(tmp_path):
    path = tmp_path / "one.tsv"
    path.write_text("text\tlabel\n" + "".join(f"t{i}\tpos\n" for i in range(10)), encoding="utf-8")
    with pytest.raises(InputDataError, match=r"needs at least 2 labels.*\['pos'\]"):
        read_dataset(make_config(path=str(path)))


def test_labels_outside_data_labels(tsv_120):
    with pytest.raises(
        InputDataError,
        match=r"labels \['positive'\] that are not among "
        r"\['negative', 'neutral'\]",
    ):
        read_dataset(make_config(path=str(tsv_120), labels=["negative", "neutral"]))


def test_unknown_sample():
    with pytest.raises(
        InputDataError,
        match=r"There is no sample set 'nope' \(data.sample\)\. "
        r"Available: .*sentiment",
    ):
        read_dataset(make_config(source="sample", sample="nope"))


def test_input_data_errors_are_value_errors(tmp_path):
    with pytest.raises(ValueError):
        read_dataset(make_config(path=str(tmp_path / "nope.tsv")))


def test_hub_source_offline_gives_input_data_error():
    code = textwrap.dedent("""\
        from nlp_lstm.config import config_from_dict
        from nlp_lstm.data.texts import read_dataset
        from nlp_lstm.errors import InputDataError
        config = config_from_dict({"data": {"source": "hub",
                                            "hub_name": "some-user/nonexistent-dataset"},
                                   "model": {"type": "lstm_text_classifier"}})
        try:
            read_dataset(config)
        except InputDataError as err:
            print("INPUT_DATA_ERROR:", err)
        """)
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "INPUT_DATA_ERROR:" in out.stdout, out.stdout + out.stderr[-2000:]
    message = out.stdout.split("INPUT_DATA_ERROR:", 1)[1]
    assert "some-user/nonexistent-dataset" in message
    assert "offline" in message.lower()
