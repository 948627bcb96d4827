"""Running text for language models: contiguous splits in order, sample texts, bad input."""

import pytest

from nlp_lstm.config import config_from_dict
from nlp_lstm.data import read_corpus
from nlp_lstm.errors import InputDataError


def _config(**data):
    return config_from_dict({"task": "generation", "data": data,
                             "stages": [{"type": "character_tokenizer"}, {"type": "vocabulary"}],
                             "model": {"type": "lstm_causal_lm"}})


def test_contiguous_split_keeps_order_and_newlines(tmp_path):
    text = "".join(f"line {i}\n" for i in range(100))
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    corpus = read_corpus(_config(path=str(tmp_path / "t.txt"),
                                 split_fractions={"train": 0.9, "validation": 0.1}))
    assert corpus.splits["train"] + corpus.splits["validation"] == text
    assert len(corpus.splits["train"]) == round(len(text) * 0.9)
    assert corpus.splits["train"].startswith("line 0\n")
    assert corpus.counts() == {"train": len(corpus.splits["train"]),
                               "validation": len(corpus.splits["validation"])}


def test_sample_play_and_max_examples():
    corpus = read_corpus(_config(source="sample", sample="play", max_examples=1000,
                                 split_fractions={"train": 0.9, "validation": 0.1}))
    assert sum(corpus.counts().values()) == 1000
    assert len(corpus.fingerprint) == 64


def test_bad_inputs(tmp_path):
    with pytest.raises(InputDataError, match="no sample text 'nope'"):
        read_corpus(_config(source="sample", sample="nope"))
    (tmp_path / "bad.txt").write_bytes(b"ok\nbad \xff\n")
    with pytest.raises(InputDataError, match=r"bad.txt:2"):
        read_corpus(_config(path=str(tmp_path / "bad.txt")))
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(InputDataError, match="empty"):
        read_corpus(_config(path=str(tmp_path / "empty.txt")))
