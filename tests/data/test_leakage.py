"""The leakage check: duplicates across train, validation and test, counted into the manifest and
warned about above data.leakage_warn_share."""

import logging
import time

import pytest

from nlp_lstm.config.loading import config_from_dict
from nlp_lstm.data.leakage import leakage_report, normalise, warnings
from nlp_lstm.pipeline import build_pipeline

STAGES = [
    {"type": "whitespace_tokenizer"},
    {"type": "vocabulary"},
    {"type": "sequence_packer", "sequence_length": 8},
]


def test_normalise_folds_case_width_punctuation_and_spaces():
    assert normalise("Hello,  World!") == normalise("hello world") == "hello world"
    assert normalise("ＨＥＬＬＯ\tworld...") == "hello world"  # NFKC: full-width letters
    assert normalise("Straße") == normalise("STRASSE")  # casefold
    assert normalise("naïve café") != normalise("naive cafe")  # accents are letters
    assert normalise("good_film") == "good film"


def test_report_counts_exact_and_normalised_duplicates_per_pair():
    report = leakage_report(
        {
            "train": ["a b", "c d", "e f"],
            "validation": ["a b", "C, d!", "new", "newer"],
            "test": ["e f", "newer", "x"],
        }
    )
    assert report["validation_in_train"] == {
        "examples": 4,
        "exact": 1,
        "normalised": 2,
        "exact_share": 0.25,
        "normalised_share": 0.5,
    }
    assert report["test_in_train"]["exact"] == 1 and report["test_in_train"]["normalised"] == 1
    assert report["test_in_validation"]["exact"] == 1
    assert set(leakage_report({"train": ["a"], "test": ["a"]})) == {"test_in_train"}
    above = warnings(report, 0.4)  # validation: 0.5; test in train and in validation: 0.33
    assert len(above) == 1 and above[0].startswith(
        "2 of the 4 validation examples (50.0%; 1 exactly) also occur in the train split"
    )
    assert len(warnings(report, 0.3)) == 3 and warnings(report, 0.5) == []


def _files(tmp_path, planted):
    """Train, validation and test files of 100 unique texts each; the first `planted` validation
    texts repeat train texts exactly, the next `planted` only up to case and punctuation."""

    def write(name, texts):
        path = tmp_path / f"{name}.tsv"
        path.write_text(
            "text\tlabel\n" + "".join(f"{t}\t{'ab'[i % 2]}\n" for i, t in enumerate(texts)),
            encoding="utf-8",
        )
        return str(path)

    train = [f"train text number {i}" for i in range(100)]
    validation = [f"validation text number {i}" for i in range(100)]
    validation[:planted] = train[:planted]
    validation[planted : 2 * planted] = [t.upper() + "!" for t in train[50 : 50 + planted]]
    return {
        "train": write("train", train),
        "validation": write("validation", validation),
        "test": write("test", [f"test text number {i}" for i in range(100)]),
    }


def _task(files, **data):
    config = config_from_dict(
        {
            "task": "classification",
            "data": {**files, **data},
            "stages": STAGES,
            "model": {"type": "lstm_text_classifier"},
        }
    )
    task = build_pipeline(config).task
    task.read()
    return task


def test_planted_duplicates_reach_the_manifest_and_warn(tmp_path, caplog):
    task = _task(_files(tmp_path, planted=3))
    with caplog.at_level(logging.WARNING, logger="nlp_lstm"):
        manifest = task.data_manifest()
    leakage = manifest["leakage"]
    assert leakage["unit"] == "examples" and leakage["warn_share"] == 0.01
    assert leakage["validation_in_train"] == {
        "examples": 100,
        "exact": 3,
        "normalised": 6,
        "exact_share": 0.03,
        "normalised_share": 0.06,
    }
    assert leakage["test_in_train"]["normalised"] == 0
    assert leakage["test_in_validation"]["normalised"] == 0
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 1
    assert (
        "6 of the 100 validation examples (6.0%; 3 exactly) also occur in the train split"
        in messages[0]
        and "data.leakage_warn_share (0.01)" in messages[0]
    )


def test_the_threshold_is_honoured(tmp_path, caplog):
    task = _task(_files(tmp_path, planted=3), leakage_warn_share=0.1)
    with caplog.at_level(logging.WARNING, logger="nlp_lstm"):
        manifest = task.data_manifest()
    assert manifest["leakage"]["validation_in_train"]["normalised"] == 6
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    # A threshold is no property of the data: the data fingerprint stays the same.
    assert manifest["fingerprint"] == _task(_files(tmp_path, planted=3)).data.fingerprint


def test_translation_compares_sources_and_generation_long_lines(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("source\ttarget\nHi there.\tHola.\nBye.\tAdios.\n", encoding="utf-8")
    test = tmp_path / "test.tsv"
    test.write_text("source\ttarget\nhi there\tBuenas.\n", encoding="utf-8")
    config = config_from_dict(
        {
            "task": "translation",
            "model": {"type": "lstm_seq2seq"},
            "stages": [{"type": "whitespace_tokenizer"}, {"type": "vocabulary"}],
            "data": {"train": str(pairs), "test": str(test), "split_fractions": {"train": 1.0}},
        }
    )
    task = build_pipeline(config).task
    task.read()
    leakage = task.data_manifest()["leakage"]
    assert leakage["unit"] == "source texts"
    assert leakage["test_in_train"] == {
        "examples": 1,
        "exact": 0,
        "normalised": 1,
        "exact_share": 0.0,
        "normalised_share": 1.0,
    }
    long_line = "This line is long enough to count as leakage when repeated."
    (tmp_path / "train.txt").write_text(f"ROMEO:\n{long_line}\nother words\n" * 5, encoding="utf-8")
    (tmp_path / "valid.txt").write_text(
        f"ROMEO:\n{long_line}\nsomething else entirely, and long enough as well\n", encoding="utf-8"
    )
    config = config_from_dict(
        {
            "task": "generation",
            "model": {"type": "lstm_causal_lm"},
            "stages": [{"type": "character_tokenizer"}, {"type": "vocabulary"}],
            "data": {
                "train": str(tmp_path / "train.txt"),
                "validation": str(tmp_path / "valid.txt"),
                "split_fractions": {"train": 1.0},
            },
        }
    )
    task = build_pipeline(config).task
    task.read()
    leakage = task.data_manifest()["leakage"]
    assert leakage["unit"] == "lines of 40+ characters"  # "ROMEO:" is not compared
    assert leakage["validation_in_train"]["examples"] == 2
    assert leakage["validation_in_train"]["exact"] == 1


def test_100k_examples_take_well_under_a_second():
    units = {
        "train": [f"Example number {i}, with some words." for i in range(100_000)],
        "validation": [f"example NUMBER {i} with some words" for i in range(0, 20_000, 2)],
        "test": [f"unseen {i}" for i in range(10_000)],
    }
    start = time.process_time()  # CPU time: other processes share this machine's cores
    report = leakage_report(units)
    elapsed = time.process_time() - start
    assert report["validation_in_train"]["normalised"] == 10_000
    assert report["validation_in_train"]["exact"] == 0
    assert elapsed < 5.0, elapsed  # measured 0.35 s (wall) on this 2-core machine


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_the_threshold_is_a_share(share):
    from nlp_lstm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"`data.leakage_warn_share`.*It must be in \[0, 1\]"):
        config_from_dict(
            {
                "data": {"path": "x.tsv", "leakage_warn_share": share},
                "model": {"type": "lstm_text_classifier"},
            }
        )
