"""The serving benchmark's harness (`benchmarks.serving`): its summaries, goals and report block,
and a whole `--quick` run of it against stub servers (tests/benchmarks/stub_server.py) that
speak `nlp-lstm serve`'s HTTP with no model behind them, in runs of a few requests. The real
benchmark, with trained models, is `python -m benchmarks.serving` (see BENCHMARKS.md)."""

import re
import sys

import pytest

from benchmarks import harness, serving


def _round(latencies, seconds=2.0, errors=None, answered=None, calls=None, **extra):
    """One run's result as `Runner.run` returns it: latencies in seconds by status."""
    answered = sum(map(len, latencies.values())) if answered is None else answered
    return {
        "seconds": seconds,
        "sent": answered,
        "answered": answered,
        "latencies": latencies,
        "errors": errors or {},
        "cpu_s": 0.001 * answered,
        "alive": True,
        "server_cpu_s": 0.002 * answered,
        "calls": answered if calls is None else calls,
        **extra,
    }


def test_a_summary_pools_the_latencies_and_takes_the_median_rate_of_the_rounds():
    rounds = [
        _round({200: [0.010, 0.020, 0.030, 0.040]}, seconds=2.0, calls=2),
        _round({200: [0.050, 0.060], 503: [0.001]}, seconds=1.0, errors={"timeout": 1}, calls=1),
        _round({200: [0.070] * 6}, seconds=1.0, calls=3),
    ]
    summary = serving.summarize(rounds, model="classifier", batching="on", clients=8)
    assert (summary["model"], summary["batching"], summary["clients"]) == ("classifier", "on", 8)
    assert summary["rounds"] == 3 and summary["completed"] == 13
    assert summary["rate"] == 2.0  # the median of 4 / 2 s, 2 / 1 s and 6 / 1 s
    ok = [0.010, 0.020, 0.030, 0.040, 0.050, 0.060] + [0.070] * 6
    assert summary["p50"] == pytest.approx(harness.percentile(ok, 50) * 1000)
    assert summary["p99"] == pytest.approx(harness.percentile(ok, 99) * 1000)
    assert summary["error_count"] == 2  # the transport timeout and the 503
    assert summary["errors"] == {"timeout": 1}
    assert summary["rows_per_call"] == pytest.approx(13 / 6)
    assert summary["server_cpu_ms"] == pytest.approx(2.0)  # 2 ms of server CPU a request
    assert summary["client_cpu_us"] == pytest.approx(1000.0)
    assert summary["alive"] is True
    rounds[1]["alive"] = False
    assert serving.summarize(rounds)["alive"] is False


def test_error_text_lists_the_unexpected_statuses_and_the_errors_that_happened():
    result = _round({200: [0.1], 503: [0.1, 0.1], 500: [0.1]}, errors={"timeout": 0, "x": 3})
    assert serving.error_text(result) == "1× 500, 2× 503, 3× x"
    assert serving.error_text(result, (200, 503)) == "1× 500, 3× x"
    assert serving.error_text(_round({200: [0.1]}, errors={"timeout": 0})) == "0"


def _block(stack, rate):
    begin, end = serving.markers(stack)
    return f"{begin}\n\n### Serving with {stack[0]} and {stack[1]}\n\n| rate | {rate} |\n\n{end}\n"


def test_the_report_keeps_one_block_per_web_stack_in_one_serving_section(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nHand-written notes stay.\n", encoding="utf-8")
    h11, standard = ("h11", "asyncio"), ("httptools", "uvloop")
    serving.write_report(path, _block(h11, 100), h11)
    serving.write_report(path, _block(standard, 200), standard)
    serving.write_report(path, _block(h11, 300), h11)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\nHand-written notes stay.\n\n## Serving\n")
    assert text.count("## Serving\n") == 1
    assert "| rate | 300 |" in text and "| rate | 100 |" not in text
    # The second stack's block comes after the first one's.
    assert text.index("Serving with h11") < text.index("| rate | 200 |")
    assert text.count("serving-benchmark:h11-asyncio:begin") == 1
    assert text.count("serving-benchmark:httptools-uvloop:end") == 1


class StubServed(serving.Server):
    """`serving.Server` with the stub in place of `nlp-lstm serve`, on the same arguments."""

    def __init__(self, models, options, log_path):
        super().__init__(models, options, log_path)
        arguments = self.command[self.command.index("serve") + 1 :]
        self.command = [sys.executable, "-m", "tests.benchmarks.stub_server", *arguments]


def test_a_quick_run_against_stub_servers_writes_every_table_and_goal(tmp_path, monkeypatch):
    """`python -m benchmarks.serving --quick` end to end (its servers, load generator process,
    ceiling, batching comparison, overload, SIGTERM and report) with runs bounded to a few
    requests; the stub refuses every other request under --max-queue."""
    monkeypatch.setattr(serving, "Server", StubServed)
    monkeypatch.setattr(serving, "WARMUP_S", 0.05)
    monkeypatch.setattr(serving, "QUICK_RUN_S", 0.5)
    monkeypatch.setattr(serving, "MAX_REQUESTS", 8)
    monkeypatch.setattr(serving, "OVERLOAD_CLIENTS", 40)
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n", encoding="utf-8")
    work = tmp_path / "work"
    argv = ["--quick", "--classifier", str(tmp_path / "c"), "--translator", str(tmp_path / "t")]
    assert serving.main([*argv, "--work-dir", str(work), "--output", str(report)]) == 0
    text = report.read_text(encoding="utf-8")
    assert len(re.findall(r"^## Serving$", text, re.M)) == 1
    assert len(re.findall(r"^### Serving with ", text, re.M)) == 1
    assert "Written by `python -m benchmarks.serving --quick --classifier RUN" in text
    goals = text.split("| goal |", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    assert len(goals) == 7, goals
    for goal in goals:
        assert re.match(r"\| [^|]+ \| [\d,.]+(x| ms|) \| [≥≤] ", goal), goal
    # The stubs answer every request of the comparison: nothing failed or went missing.
    assert re.search(r"^\| errors in those runs \| 0 \|", text, re.M)
    for model, batching in [(m, b) for m in ("classifier", "translator") for b in ("on", "off")]:
        for clients in serving.CLIENTS:
            # requests, requests/s, p50 and p99 ms, then the errors
            row = rf"^\| {model} \| {batching} \| {clients} \|( [\d,.]+ \|){{4}} 0 \| "
            assert re.search(row, text, re.M), (model, batching, clients)
    phases = re.findall(
        r"^\| (before|overload|after) \| (\d+) \| [\d,]+ \| [\d,]+ \| ([\d,]+) \|", text, re.M
    )
    assert [(phase, int(clients)) for phase, clients, _ in phases] == [
        ("before", 32),
        ("overload", 40),
        ("after", 32),
    ]
    assert all(int(refused.replace(",", "")) > 0 for *_, refused in phases)  # the stub's 503s
    assert "exit statuses after SIGTERM: batching on 0, batching off 0, overload 0" in text
    for log in ("server-batching.log", "server-no-batching.log", "server-overload.log"):
        assert (work / log).is_file()
