"""What every benchmark shares: A B A B alternation, medians, machine facts, goals and the report.

A benchmark module exposes `run(context) -> Section`. The section holds Markdown tables built
from measured values only, and the goals it checked (each a measured ratio or value against a
target). `python -m benchmarks` collects the sections and writes them into BENCHMARKS.md between
the two marker lines, so nothing in the report is typed by hand.
"""

import dataclasses
import datetime
import os
import platform
import re
import resource
import statistics
import time
from pathlib import Path

MARKER = (
    "<!-- benchmark-suite:{mode}:{edge} "
    "(written by `python -m benchmarks`; do not edit by hand) -->"
)


def markers(mode):
    return MARKER.format(mode=mode, edge="begin"), MARKER.format(mode=mode, edge="end")


@dataclasses.dataclass
class Context:
    """What a benchmark needs to know about this invocation.

    Args:
        quick: bool. Tiny sizes: a smoke test of every code path, no data root needed.
        data_dir: Path or None. The data root with mr_polarity/, tinyshakespeare/, multi30k/.
        work_dir: Path. Scratch space for corpora, runs and exports.
        repeats: int. Measured rounds per contender (after one warm-up round).
        log: callable. Progress lines (stderr).
    """

    quick: bool
    data_dir: Path = None
    work_dir: Path = None
    repeats: int = 3
    log: callable = print

    def data_path(self, *parts):
        """A path under the data root, or None when the root or the file is absent."""
        if self.data_dir is None:
            return None
        path = Path(self.data_dir).joinpath(*parts)
        return path if path.exists() else None


@dataclasses.dataclass
class Goal:
    """One goal of the suite: `value` (measured) against `target`, higher or lower is better."""

    name: str
    value: float
    target: float
    unit: str = "x"
    higher_is_better: bool = True
    note: str = ""

    @property
    def met(self):
        if self.target is None:  # reported, not a goal with a threshold
            return True
        if self.value is None:
            return False
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def shortfall(self):
        """How far the value is from the target, as a phrase ('' when met)."""
        if self.met or self.value is None or self.target is None:
            return ""
        if self.higher_is_better:
            return (
                f"short by {self.target - self.value:.3g}{self.unit} "
                f"({self.value / self.target:.0%} of the target)"
            )
        return f"over by {self.value - self.target:.3g}{self.unit}"


@dataclasses.dataclass
class Section:
    title: str
    body: list = dataclasses.field(default_factory=list)  # Markdown lines
    goals: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def text(self, *lines):
        self.body.extend(lines)

    def table(self, header, rows):
        self.body.append("| " + " | ".join(header) + " |")
        self.body.append("|" + "---|" * len(header))
        for row in rows:
            self.body.append("| " + " | ".join(fmt(v) for v in row) + " |")
        self.body.append("")


def describe_model(entry):
    """A config's model entry in words: `type` (key value, ...)."""
    return (
        f"`{entry['type']}` ("
        + ", ".join(f"{key} {value}" for key, value in entry.items() if key != "type")
        + ")"
    )


def fmt(value):
    """Numbers with sensible precision for a table; everything else as str."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:.1f}"
        if magnitude >= 1:
            return f"{value:.2f}"
        return f"{value:.4f}"
    return str(value)


def alternate(contenders, repeats, warmup=1):
    """Calls each contender in turn, A B A B ..., `warmup` unrecorded rounds first.

    `contenders` maps a name to a callable taking the round index and returning one measured
    value. Returns {name: [values of the recorded rounds]}.
    """
    values = {name: [] for name in contenders}
    for index in range(warmup + repeats):
        for name, measure in contenders.items():
            value = measure(index)
            if index >= warmup:
                values[name].append(value)
    return values


def median(values):
    return statistics.median(values) if values else None


def percentile(values, q):
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def best_ms(function, repeats=10, rounds=3):
    """Milliseconds per call of `function()`: the best of `rounds` means over `repeats` calls,
    after one unrecorded call."""
    function()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            function()
        best = min(best, (time.perf_counter() - start) / repeats * 1000)
    return best


class Stopwatch:
    """`with Stopwatch() as watch: ...; watch.seconds`."""

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def memory_gib():
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return pages / 2**30
    except (ValueError, OSError):
        return None


def peak_rss_mib(children=False):
    """Peak resident set size of this process (or of its finished children), in MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def machine_lines():
    import keras
    import tensorflow as tf

    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    bf16 = "avx512_bf16" in cpu_flags() or "amx_bf16" in cpu_flags()
    return [
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores; bfloat16 instructions: "
        f"{'yes' if bf16 else 'no'}; memory {memory_gib():.0f} GiB; GPU: "
        f"{'yes' if tf.config.list_physical_devices('GPU') else 'none'}",
        f"- Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras "
        f"{keras.__version__}, PyTorch {torch_version}",
    ]


def render(sections, mode, command, started, seconds):
    begin, end = markers(mode)
    lines = [
        begin,
        "",
        f"## Benchmark suite ({mode})",
        "",
        f"Written by `{command}` on {started:%Y-%m-%d %H:%M} UTC in {seconds / 60:.1f} min.",
        "Every figure below is a measurement of that run; ratios compare medians of "
        "alternating rounds (A B A B) in the same process tree.",
        "",
    ]
    lines += machine_lines() + [""]
    goals = [goal for section in sections for goal in section.goals]
    if goals:
        lines += [
            "### Goals",
            "",
            "| goal | measured | target | met | note |",
            "|---|---|---|---|---|",
        ]
        for goal in goals:
            sign = "≥" if goal.higher_is_better else "≤"
            measured = "not measured" if goal.value is None else f"{fmt(goal.value)}{goal.unit}"
            note = "; ".join(part for part in (goal.shortfall(), goal.note) if part)
            target = "reported" if goal.target is None else f"{sign} {fmt(goal.target)}{goal.unit}"
            met = "—" if goal.target is None else ("yes" if goal.met else "**no**")
            lines.append(f"| {goal.name} | {measured} | {target} | {met} | {note} |")
        lines.append("")
    for section in sections:
        lines += (
            [f"### {section.title}", "", f"({section.seconds:.0f} s)", ""] + section.body + [""]
        )
    lines.append(end)
    return "\n".join(lines) + "\n"


def write_report(path, block, mode):
    """Replaces the suite's `mode` block in `path` (or appends it), atomically."""
    path = Path(path)
    begin, end = markers(mode)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end) + "\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)
