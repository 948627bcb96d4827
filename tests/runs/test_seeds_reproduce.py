"""The plain-Python parts of `--seeds` and `reproduce`: parsing, summaries, metric comparison."""

import math

import pytest

from nlp_lstm.errors import ConfigError
from nlp_lstm.runs.reproduce import (
    Reproduction,
    compare_metrics,
    flatten_metrics,
    format_differences,
)
from nlp_lstm.runs.seeds import format_summary, parse_seeds, summarize


def test_a_count_starts_at_the_config_seed_and_a_list_is_taken_as_given():
    assert parse_seeds("3", 1337) == [1337, 1338, 1339]
    assert parse_seeds("5,1,3", 1337) == [5, 1, 3]
    assert parse_seeds(" 4 , 2 ", 0) == [4, 2]


@pytest.mark.parametrize(
    "text, words",
    [
        ("0", "number of seeds"),
        ("101", "number of seeds"),
        ("1,1", "repeats"),
        ("a", "a count"),
        ("1,x", "a count"),
        (",", "empty"),
        (f"1,{2**32}", "[0, 4294967295]"),
        ("-1,2", "[0, 4294967295]"),
    ],
)
def test_bad_seeds_are_config_errors(text, words):
    with pytest.raises(ConfigError, match="seeds|Seeds") as info:
        parse_seeds(text, 1)
    assert words in str(info.value)


def test_a_count_may_not_run_past_the_largest_seed():
    with pytest.raises(ConfigError, match="4294967296"):
        parse_seeds("2", 2**32 - 1)


def test_summary_uses_the_sample_std_of_every_numeric_metric():
    runs = {
        1: {"test": {"accuracy": 0.5, "per_class": {"a": {"f1": 0.2}}, "name": "x"}},
        2: {"test": {"accuracy": 0.7, "per_class": {"a": {"f1": 0.4}}, "name": "x"}},
        3: {"test": {"accuracy": 0.9, "per_class": {"a": {"f1": 0.6}}, "name": "x"}},
    }
    summary = summarize(runs)
    assert set(summary) == {"test.accuracy", "test.per_class.a.f1"}
    accuracy = summary["test.accuracy"]
    assert accuracy["mean"] == pytest.approx(0.7) and accuracy["std"] == pytest.approx(0.2)
    assert (accuracy["min"], accuracy["max"], accuracy["n"]) == (0.5, 0.9, 3)
    assert summarize({1: {"a": 1.0}})["a"]["std"] is None
    table = format_summary(summary, [1, 2, 3])
    assert "0.7000 ± 0.2000" in table and "ddof=1" in table


def test_flatten_names_nested_and_list_entries():
    assert flatten_metrics({"v": {"acc": 1, "cm": [[1, 2], [3, 4]]}}) == {
        "v.acc": 1,
        "v.cm.0.0": 1,
        "v.cm.0.1": 2,
        "v.cm.1.0": 3,
        "v.cm.1.1": 4,
    }


def test_compare_reports_changed_and_missing_metrics_within_a_tolerance():
    before = {"v": {"acc": 0.5, "loss": 1.0, "n": 10, "nan": math.nan, "gone": 1}}
    after = {"v": {"acc": 0.5001, "loss": 1.0, "n": 10, "nan": math.nan, "new": 2}}
    differences, compared, added = compare_metrics(before, after)
    assert differences == [("v.acc", 0.5, 0.5001), ("v.gone", 1, None)]
    assert (compared, added) == (5, ["v.new"])
    assert compare_metrics(before, after, tolerance=1e-3)[0] == [("v.gone", 1, None)]
    report = Reproduction("a", "b", differences, compared, added, {}, ("f", "f"), 0.0)
    lines = format_differences(report).splitlines()
    assert lines[1].split() == ["v.acc", "0.5", "0.5001", "+0.0001"]
    assert lines[2].split() == ["v.gone", "1", "(missing)", "-"]
