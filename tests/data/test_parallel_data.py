"""Sentence pairs for translation: line-aligned files, tables, grouped splits, bad input."""

import gzip

import pytest

from nlp_lstm.config.loading import config_from_dict
from nlp_lstm.data.pairs import read_parallel
from nlp_lstm.errors import ConfigError, InputDataError
from nlp_lstm.pipeline import build_pipeline


def _config(**data):
    return config_from_dict(
        {
            "task": "translation",
            "data": data,
            "stages": [{"type": "whitespace_tokenizer"}, {"type": "vocabulary"}],
            "model": {"type": "lstm_seq2seq"},
        }
    )


def _write(path, lines, compress=False):
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if compress:
        data = gzip.compress(data)
    path.write_bytes(data)


def test_line_aligned_files_per_language(tmp_path):
    for split, n in (("train", 6), ("val", 2)):
        _write(tmp_path / f"{split}.de.gz", [f"Hallo {i}" for i in range(n)], compress=True)
        _write(tmp_path / f"{split}.en.gz", [f"Hello {i}" for i in range(n)], compress=True)
    data = read_parallel(
        _config(
            source_language="de",
            target_language="en",
            train=str(tmp_path / "train.{lang}.gz"),
            validation=str(tmp_path / "val.{lang}.gz"),
            split_fractions={"train": 1.0},
        )
    )
    assert data.counts() == {"train": 6, "validation": 2}
    assert data.splits["train"]["source"][3] == "Hallo 3"
    assert data.splits["train"]["target"][3] == "Hello 3"
    assert len(data.fingerprint) == 64


def test_mismatched_line_counts_and_empty_lines_name_the_file(tmp_path):
    _write(tmp_path / "train.de", ["a", "b", "c"])
    _write(tmp_path / "train.en", ["A", "B"])
    config = _config(
        source_language="de", target_language="en", train=str(tmp_path / "train.{lang}")
    )
    with pytest.raises(InputDataError, match=r"train.de.*3 lines here but 2"):
        read_parallel(config)
    _write(tmp_path / "train.en", ["A", "", "C"])
    with pytest.raises(InputDataError, match=r"train.en:2.*empty"):
        read_parallel(config)
    with pytest.raises(InputDataError, match=r"no \{lang\} placeholder"):
        read_parallel(
            _config(source_language="de", target_language="en", train=str(tmp_path / "train.de"))
        )


def test_headerless_table_with_grouped_split(tmp_path):
    rows = []
    for i in range(60):
        rows += [f"Go {i}.\tVe {i}.", f"Go {i}.\tVete {i}."]  # two translations per source
    (tmp_path / "spa.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = _config(
        path=str(tmp_path / "spa.txt"),
        format="tsv",
        column_names=["english", "spanish"],
        source_column="english",
        target_column="spanish",
        split_fractions={"train": 0.8, "validation": 0.1, "test": 0.1},
    )
    data = read_parallel(config)
    assert sum(data.counts().values()) == 120
    seen = {}
    for split, part in data.splits.items():
        for source in part["source"]:
            assert seen.setdefault(source, split) == split, f"{source!r} is in two splits"
    assert data.counts()["validation"] == 12
    assert read_parallel(config).splits == data.splits  # seeded


def test_table_errors_name_column_and_row(tmp_path):
    (tmp_path / "p.tsv").write_text("en\tes\nHi.\tHola.\nBye.\t \n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"no column 'source'.*en, es"):
        read_parallel(_config(path=str(tmp_path / "p.tsv")))
    with pytest.raises(InputDataError, match=r"p.tsv:3, column 'es': The field 'es' has no text"):
        read_parallel(_config(path=str(tmp_path / "p.tsv"), source_column="en", target_column="es"))


def test_sample_phrasebook_and_config_checks():
    data = read_parallel(
        _config(source="sample", sample="phrasebook", source_column="en", target_column="es")
    )
    assert sum(data.counts().values()) == 4000
    with pytest.raises(ConfigError, match="target_language"):
        _config(source_language="de", train="x.{lang}")
    with pytest.raises(ConfigError, match="`target_stages`.* is read only by task translation"):
        build_pipeline(
            config_from_dict(
                {
                    "task": "classification",
                    "data": {"path": "x.tsv"},
                    "stages": [
                        {"type": "whitespace_tokenizer"},
                        {"type": "vocabulary"},
                        {"type": "sequence_packer", "sequence_length": 8},
                    ],
                    "target_stages": [{"type": "vocabulary"}],
                    "model": {"type": "lstm_text_classifier"},
                }
            )
        )
