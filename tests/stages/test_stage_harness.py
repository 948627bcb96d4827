"""Every registered stage through `run_stage_test`: one case per STAGES entry, and a test that a
stage without a case fails.

The cases mix example lengths (and include an empty example) so that the batched checks see
ragged batches and a packer's padding; the stage files (test_tokenizers.py, test_packing.py, ...)
hold each stage's other behaviour.
"""

import pytest

from nlp_lstm.stages import STAGES
from tests.testing import run_stage_test


def utf8(*texts):
    return [text.encode("utf-8") for text in texts]


# 2016-07-01 00:00 (a Friday), 2017-12-31 23:00 (a Sunday), 1970-01-01 00:00 (a Thursday) and
# 1969-12-31 00:00 (a Wednesday: negative seconds floor to the day before).
TIMESTAMPS = [1467331200, 1514761200, 0, -86400]
CALENDAR = [
    [-0.5, 4 / 6 - 0.5, 6 / 11 - 0.5],
    [0.5, 0.5, 0.5],
    [-0.5, 3 / 6 - 0.5, -0.5],
    [-0.5, 2 / 6 - 0.5, 0.5],
]


def series(offset):
    """A 7-row, 1-column series offset, offset + 1, ..."""
    return [[float(offset + row)] for row in range(7)]


def windows(offset):
    """Windower(input_length=3, horizon=2, stride=2) of `series(offset)`: targets at rows 3, 5."""
    return (
        [[[offset + r] for r in range(start - 3, start)] for start in (3, 5)],
        [[[offset + r] for r in range(start, start + 2)] for start in (3, 5)],
    )


# registry name -> run_stage_test arguments after the class.
STAGE_CASES = {
    "calendar_features": dict(init_kwargs={}, input_data=TIMESTAMPS, expected_output=CALENDAR),
    "character_tokenizer": dict(
        init_kwargs={},
        input_data=["né", "a b", "🙂", ""],
        expected_output=[utf8("n", "é"), [b"a", b" ", b"b"], utf8("🙂"), []],
    ),
    "sequence_packer": dict(
        init_kwargs={"sequence_length": 4, "start_value": 2, "end_value": 3},
        input_data=[[5, 6, 7, 8, 9], [5], []],
        expected_output=[[2, 5, 6, 3], [2, 5, 3], [2, 3]],
    ),
    "text_normalizer": dict(
        init_kwargs={},
        input_data=["Ｃafé  GREAT", "ﬁne Film", ""],
        expected_output=utf8("café  great", "fine film", ""),
    ),
    "unicode_script_tokenizer": dict(
        init_kwargs={},
        input_data=["witty, fun!", "東京abc 12", ""],
        expected_output=[[b"witty", b",", b"fun", b"!"], utf8("東京", "abc", "12"), []],
    ),
    "vocabulary": dict(
        init_kwargs={},
        # "a" x3, "b" x2, "c" x1 after the four special tokens.
        adapt_data=[["a", "b"], ["a", "b"], ["a", "c"]],
        input_data=[["a", "c", "b"], ["zzz"], []],
        expected_output=[[4, 6, 5], [1], []],
    ),
    "whitespace_tokenizer": dict(
        init_kwargs={},
        input_data=["a witty  film", " tabs\tand\nnewlines ", ""],
        expected_output=[[b"a", b"witty", b"film"], [b"tabs", b"and", b"newlines"], []],
    ),
    # Its example is a whole series, and a batch of series is not windowed per series (see
    # test_windower_batch_of_series).
    "windower": dict(
        init_kwargs={"input_length": 3, "horizon": 2, "stride": 2},
        input_data=[series(0), series(10)],
        expected_output=[windows(0), windows(10)],
        batched=False,
    ),
    "wordpiece_tokenizer": dict(
        init_kwargs={"vocabulary": ["[UNK]", "film", "##s", "a", "the"]},
        input_data=["a films", "the film zzz", ""],
        expected_output=[[b"a", b"film", b"##s"], [b"the", b"film", b"[UNK]"], []],
    ),
    "zscore_scaler": dict(
        init_kwargs={},
        # mean [2, 10]; std [1, 0] -> [1, 1] (a constant column is divided by 1).
        adapt_data=[[1.0, 10.0], [3.0, 10.0]],
        input_data=[[3.0, 12.0], [2.0, 10.0], [0.0, 9.0]],
        expected_output=[[1.0, 2.0], [0.0, 0.0], [-2.0, -1.0]],
    ),
}


def test_every_registered_stage_has_a_case():
    assert set(STAGE_CASES) == set(STAGES.names())


@pytest.mark.parametrize("name", sorted(STAGE_CASES))
def test_run_stage_test(name):
    cls = STAGES.get(name)
    stage, _ = run_stage_test(cls, **STAGE_CASES[name])
    # The config entry `{type: name, **kwargs}` builds the same stage.
    built = STAGES.build({"type": name, **STAGE_CASES[name]["init_kwargs"]})
    assert type(built) is cls


def test_windower_batch_of_series():
    run_stage_test(STAGES.get("windower"), **{**STAGE_CASES["windower"], "batched": True})
