"""The benchmark harness: alternation, statistics, goals and the report block."""

import pytest

from benchmarks import harness


def test_alternate_interleaves_the_contenders_and_drops_the_warmup():
    calls = []

    def contender(name):
        def measure(index):
            calls.append((name, index))
            return 10 * index + (1 if name == "a" else 2)

        return measure

    values = harness.alternate({"a": contender("a"), "b": contender("b")}, repeats=2, warmup=1)
    assert calls == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert values == {"a": [11, 21], "b": [12, 22]}


def test_percentiles_interpolate():
    values = list(range(1, 101))
    assert harness.percentile(values, 50) == pytest.approx(50.5)
    assert harness.percentile(values, 99) == pytest.approx(99.01)
    assert harness.percentile([], 50) is None
    assert harness.median([3, 1, 2]) == 2


@pytest.mark.parametrize(
    "goal, met, shortfall",
    [
        (harness.Goal("speed", 3.2, 3.0), True, ""),
        (harness.Goal("speed", 1.2, 1.5), False, "short by 0.3x (80% of the target)"),
        (harness.Goal("latency", 4.0, 5.0, unit=" ms", higher_is_better=False), True, ""),
        (
            harness.Goal("latency", 6.5, 5.0, unit=" ms", higher_is_better=False),
            False,
            "over by 1.5 ms",
        ),
        (harness.Goal("not run", None, 1.5), False, ""),
        (harness.Goal("reported", 2048.0, None, unit=" MiB"), True, ""),
    ],
)
def test_goals(goal, met, shortfall):
    assert goal.met is met
    assert goal.shortfall() == shortfall


def _block(mode, value):
    section = harness.Section("Speed")
    section.table(["system", "tokens/s"], [["ours", value]])
    section.goals = [harness.Goal("ours / peer", value / 1000, 3.0)]
    return harness.render(
        [section], mode, f"python -m benchmarks --{mode}", harness.utc_now(), 12.0
    )


def test_the_report_replaces_only_its_own_block(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nHand-written notes stay.\n", encoding="utf-8")
    harness.write_report(path, _block("full", 2500.0), "full")
    harness.write_report(path, _block("quick", 1200.0), "quick")
    harness.write_report(path, _block("full", 3500.0), "full")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\nHand-written notes stay.\n")
    assert text.count("benchmark-suite:full:begin") == 1
    assert text.count("benchmark-suite:quick:begin") == 1
    assert "| ours | 3,500 |" in text and "| ours | 2,500 |" not in text
    assert "| ours | 1,200 |" in text
    assert "| ours / peer | 3.50x | ≥ 3.00x | yes |" in text
    assert "| ours / peer | 1.20x | ≥ 3.00x | **no** | short by 1.8x (40% of the target) |" in text


def test_numbers_are_formatted_by_magnitude():
    assert [harness.fmt(v) for v in (12345.6, 123.45, 1.2345, 0.012345, 7, None, "x")] == [
        "12,346",
        "123.5",
        "1.23",
        "0.0123",
        "7",
        "—",
        "x",
    ]
