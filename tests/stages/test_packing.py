"""Tests for nlp_lstm/stages/packing.py: SequencePacker truncates, adds start/end ids and pads."""

import pytest
import tensorflow as tf

from nlp_lstm.errors import ConfigError
from nlp_lstm.stages import SequencePacker
from tests.testing import run_stage_test


def pack(rows, **kwargs):
    return SequencePacker(**kwargs)(tf.ragged.constant(rows, dtype=tf.int64)).numpy().tolist()


def test_run_stage_test_truncates_tail():
    stage, rows = run_stage_test(
        SequencePacker,
        {"sequence_length": 4},
        [[5, 6, 7, 8, 9], [5, 6]],
        [[5, 6, 7, 8], [5, 6]],
    )
    # A ragged batch is padded to its longest row, capped at sequence_length.
    assert rows == [[5, 6, 7, 8], [5, 6, 0, 0]]
    assert stage.length == 4


def test_truncate_head_keeps_the_end():
    _, rows = run_stage_test(
        SequencePacker,
        {"sequence_length": 3, "truncate": "head"},
        [[5, 6, 7, 8, 9], [5]],
        [[7, 8, 9], [5]],
    )
    assert rows == [[7, 8, 9], [5, 0, 0]]


def test_start_and_end_values():
    _, rows = run_stage_test(
        SequencePacker,
        {"sequence_length": 5, "start_value": 2, "end_value": 3},
        [[5, 6, 7, 8, 9], [5, 4, 0, 0, 0], [5]],
        [[2, 5, 6, 7, 3], [2, 5, 4, 0, 3], [2, 5, 3]],
    )
    assert rows == [[2, 5, 6, 7, 3], [2, 5, 4, 0, 3], [2, 5, 3, 0, 0]]


def test_start_and_end_with_head_truncation():
    assert pack(
        [[5, 6, 7, 8, 9]], sequence_length=4, start_value=2, end_value=3, truncate="head"
    ) == [[2, 8, 9, 3]]


def test_only_start_or_only_end():
    assert pack([[5, 6, 7]], sequence_length=3, start_value=2) == [[2, 5, 6]]
    assert pack([[5, 6, 7]], sequence_length=3, end_value=3) == [[5, 6, 3]]


def test_right_padding():
    assert pack([[5, 6], [7, 8, 9], [4]], sequence_length=8) == [[5, 6, 0], [7, 8, 9], [4, 0, 0]]


def test_left_padding():
    _, rows = run_stage_test(
        SequencePacker,
        {"sequence_length": 4, "padding_side": "left"},
        [[5, 6], [7, 8, 9, 10, 11]],
        [[5, 6], [7, 8, 9, 10]],
    )
    assert rows == [[0, 0, 5, 6], [7, 8, 9, 10]]
    assert pack([[5], [7, 8, 9]], sequence_length=8, padding_side="left") == [[0, 0, 5], [7, 8, 9]]


def test_custom_pad_value():
    assert pack([[5], [7, 8]], sequence_length=4, pad_value=-1) == [[5, -1], [7, 8]]
    assert pack([[5], [7, 8]], sequence_length=4, pad_value=-1, padding_side="left") == [
        [-1, 5],
        [7, 8],
    ]


def test_batch_padded_to_longest_row_capped_at_sequence_length():
    assert pack([[1], [2, 3]], sequence_length=6) == [[1, 0], [2, 3]]
    out = pack([[1], [2] * 10, [3] * 7], sequence_length=6)
    assert [len(r) for r in out] == [6, 6, 6]
    assert out[0] == [1, 0, 0, 0, 0, 0]


def test_dense_batch_input():
    out = SequencePacker(sequence_length=2)(tf.constant([[5, 6, 7], [8, 9, 10]]))
    assert out.numpy().tolist() == [[5, 6], [8, 9]]


def test_empty_input_gives_a_row_of_length_at_least_one():
    stage = SequencePacker(sequence_length=4)
    assert stage(tf.constant([], tf.int64)).numpy().tolist() == [0]
    assert pack([[], []], sequence_length=4) == [[0], [0]]
    assert pack([[], [5, 6]], sequence_length=4) == [[0, 0], [5, 6]]
    assert pack([[], []], sequence_length=4, padding_side="left") == [[0], [0]]
    assert pack([[]], sequence_length=4, start_value=2) == [[2]]


def test_output_keeps_integer_dtype():
    out = SequencePacker(sequence_length=4)(tf.ragged.constant([[5, 6]], dtype=tf.int64))
    assert out.dtype == tf.int64


def test_trim_keeps_rows_ragged():
    stage = SequencePacker(sequence_length=3, start_value=2)
    out = stage.trim(tf.ragged.constant([[5, 6, 7], [8]], dtype=tf.int64))
    assert isinstance(out, tf.RaggedTensor)
    assert out.to_list() == [[2, 5, 6], [2, 8]]
    assert stage.trim(tf.constant([5, 6, 7], tf.int64)).numpy().tolist() == [2, 5, 6]


def percentile_dataset():
    rows = [[1], [1, 2], [1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4, 5]]
    return tf.data.Dataset.from_tensor_slices(tf.ragged.constant(rows)).batch(2)


def test_percentile_length_via_adapt():
    stage = SequencePacker(sequence_length="p50")
    assert stage.requires_adapt and not stage.is_adapted
    stage.adapt(percentile_dataset())
    assert stage.resolved_length == 3 and stage.length == 3
    assert stage(tf.constant([1, 2, 3, 4, 5])).numpy().tolist() == [1, 2, 3]
    # The learned length is part of the config, so a rebuilt stage needs no adapt.
    config = stage.get_config()
    assert config["sequence_length"] == "p50" and config["resolved_length"] == 3
    clone = SequencePacker.from_config(config)
    assert clone.is_adapted and clone.length == 3


def test_percentile_length_counts_start_and_end():
    stage = SequencePacker(sequence_length="p100", start_value=2, end_value=3)
    stage.adapt(percentile_dataset())
    assert stage.length == 7
    assert stage(tf.constant([1, 2, 3, 4, 5, 6, 7])).numpy().tolist() == [2, 1, 2, 3, 4, 5, 3]


def test_adapt_is_a_no_op_for_int_length():
    stage = SequencePacker(sequence_length=4)
    assert not stage.requires_adapt
    stage.adapt(percentile_dataset())
    assert stage.length == 4 and stage.resolved_length is None


def test_percentile_before_adapt_raises():
    stage = SequencePacker(sequence_length="p95")
    with pytest.raises(ConfigError, match=r"SequencePacker.*adapt\(\)"):
        stage(tf.constant([1, 2]))
    with pytest.raises(ConfigError, match="adapt"):
        stage.length  # noqa: B018


def test_get_config_round_trip():
    stage = SequencePacker(
        sequence_length=6,
        truncate="head",
        padding_side="left",
        pad_value=9,
        start_value=2,
        end_value=3,
        name="packer",
    )
    config = stage.get_config()
    assert config == {
        "name": "packer",
        "sequence_length": 6,
        "truncate": "head",
        "padding_side": "left",
        "pad_value": 9,
        "start_value": 2,
        "end_value": 3,
        "resolved_length": None,
    }
    assert SequencePacker.from_config(config).get_config() == config


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"sequence_length": 0}, r"`sequence_length`.*Received: sequence_length=0"),
        (
            {"sequence_length": 2, "start_value": 2, "end_value": 3},
            r"`sequence_length` must be > number of start/end tokens \(2\).*sequence_length=2",
        ),
        ({"sequence_length": True}, r"`sequence_length`.*Received: sequence_length=True"),
        ({"sequence_length": 4.0}, r"`sequence_length`.*Received: sequence_length=4.0"),
        ({"sequence_length": "p101"}, r"`sequence_length`.*percentile.*sequence_length='p101'"),
        ({"sequence_length": "95"}, r"`sequence_length`.*sequence_length='95'"),
        ({"truncate": "middle"}, r"`truncate` must be 'head' or 'tail'.*truncate='middle'"),
        ({"padding_side": "top"}, r"`padding_side`.*padding_side='top'"),
    ],
)
def test_bad_args(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        SequencePacker(**kwargs)
