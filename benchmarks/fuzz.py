"""Fuzzing the exported signatures: every signature of an export called with random, odd and
extreme inputs in a child process capped in memory, with a watchdog on each call.

    python -m benchmarks.fuzz runs/quickstart_classify runs/quickstart_translate \\
        runs/quickstart_generate --examples 10000

Each signature of an export gets `--examples` inputs of its own. Each input is drawn by
Hypothesis (odd Unicode, invalid UTF-8, huge strings, empty batches,
batches at and over the export's limits.max_batch_rows, and for each scalar input extreme ints
-2**31, -1, 0, the limit, the limit + 1, 2**31 - 1, and NaN, the infinities, negatives and values
around the ends of its range). The child process imports only tensorflow and registers the
TF-Text ops with `tf.load_op_library` (no nlp_lstm, no tensorflow_text Python package), so it
loads the export as a TensorFlow-only user would. It runs under `resource.setrlimit(RLIMIT_AS,
4 GiB)`; a call that does not answer within 10 s is a hang (the child is killed and restarted),
a child that dies is a crash. Each answer is classified: `ok` (outputs of the right shapes),
`refused` (an InvalidArgumentError carrying one of the export's limit messages) or `error`
(any other exception). The oracle `expected_refusal` says from the export's recorded limits
which inputs must be refused; a refusal of an in-limit input, or an answer to an out-of-limit
one, counts as a `mismatch`. After the fuzz, the calls at the limits themselves (the most rows,
the longest text, the largest beam, output length or new tokens) are timed in the same child
(`limit_costs`), since the fuzz keeps its in-limit calls small.

The same strategies and oracle drive the short fuzz test of the fast tier (tests/limits/).
"""

import argparse
import glob
import importlib.util
import json
import math
import os
import pickle
import re
import resource
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

MEMORY_LIMIT = 4 * 2**30
CALL_TIMEOUT_S = 10.0
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
METADATA_FILE = Path("assets.extra") / "nlp_lstm.json"
# The ranges of the scalar inputs, as `nlp_lstm.export.limits.OPTIONS` states them (kept apart so
# the child and this script need no nlp_lstm; tests/limits checks they agree).
OPTIONS = {
    "max_new_tokens": ("int", 0, "max_new_tokens"),
    "max_length": ("int", 1, "max_output_length"),
    "beam_size": ("int", 1, "max_beam_size"),
    "top_k": ("int", 0, INT32_MAX),
    "seed": ("int", INT64_MIN, INT64_MAX),
    "temperature": ("float", 0.0, 1e6),
    "top_p": ("float", 0.0, 1.0),
}
# In-range values of every scalar input, for the warm-up call of each signature (the first call
# of a loaded signature builds its function, which can take seconds: no watchdog on that).
WARM_UP = {
    "max_new_tokens": 1,
    "max_length": 1,
    "beam_size": 1,
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 1.0,
    "seed": 1,
}
# How the graph's own refusals (`nlp_lstm.export.limits`) start: "`max_length` must be ...",
# "A `text` row has ...".
LIMIT_MARK = re.compile(r"assertion failed: \[(A )?`")


# -- what an export takes ------------------------------------------------------------------------


def read_limits(export_dir):
    """(limits, metadata) recorded by the export."""
    metadata = json.loads((Path(export_dir) / METADATA_FILE).read_text(encoding="utf-8"))
    return metadata["limits"], metadata


def option_range(name, limits):
    kind, minimum, maximum = OPTIONS[name]
    return kind, minimum, limits[maximum] if isinstance(maximum, str) else maximum


def float32(value):
    """`value` as the float32 the graph compares: 1e39 is infinite, and a subnormal such as
    1e-45 is 0 (the CPU kernels flush subnormals to zero)."""
    try:
        single = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)
    return 0.0 if abs(single) < 2**-126 else single


def expected_refusal(inputs, limits):
    """Whether an export with `limits` must refuse these inputs ({name: list of str or bytes,
    or a scalar})."""
    for name, value in inputs.items():
        if isinstance(value, list):
            if len(value) > limits["max_batch_rows"]:
                return True
            if any(
                len(text) > limits["max_input_chars"] for text in value if isinstance(text, str)
            ):
                return True
        elif name in OPTIONS:
            _, minimum, maximum = option_range(name, limits)
            if isinstance(value, float):
                value = float32(value)
                if not math.isfinite(value):
                    return True
            if not minimum <= value <= maximum or (name == "top_p" and value == minimum):
                return True
    return False


# -- the inputs ----------------------------------------------------------------------------------


def strategies(signatures, limits):
    """A Hypothesis strategy of (signature name, inputs) for an export's signatures, given as
    {name: {input: (dtype name, rank)}}."""
    from hypothesis import strategies as st

    rows, chars = limits["max_batch_rows"], limits["max_input_chars"]
    odd = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
    texts = st.one_of(
        odd,
        st.sampled_from(
            [
                "",
                " ",
                "\u0301\u200b",
                "naïve café — 東京 🙂",
                "\x00",
                "\ufeff",
                "\U0010ffff",
                "a" * 7,
                " ".join(["word"] * 30),
            ]
        ),
        st.binary(max_size=40),  # any bytes, mostly invalid UTF-8
        st.builds(
            lambda n, c: c * n,
            st.sampled_from([chars - 1, chars, chars + 1]),
            st.sampled_from(["x", "é", "東", " ", "x "]),
        ),
    )
    small = st.lists(texts, max_size=4)
    edge = st.builds(
        lambda n, t: [t] * n,
        st.sampled_from([rows, rows + 1]),
        st.sampled_from(["", "a b", "\u00e9"]),
    )
    batches = st.one_of(small, small, small, edge, st.just([]))

    def scalar(name, dtype):
        if name in OPTIONS:
            kind, minimum, maximum = option_range(name, limits)
        else:
            kind, minimum, maximum = ("float" if dtype.startswith("float") else "int"), 0, 10
        if kind == "int":
            top = INT64_MAX if dtype == "int64" else INT32_MAX
            bottom = INT64_MIN if dtype == "int64" else INT32_MIN
            points = {bottom, -1, 0, 1, 2, 3, minimum, maximum, maximum + 1, top}
            points = sorted(p for p in points if bottom <= p <= top)
            # In-range values stay small enough to finish: the limits' cost is measured apart.
            near = st.integers(max(minimum, bottom), min(maximum, minimum + 8, top))
            return st.one_of(st.sampled_from(points), near)
        return st.one_of(
            st.sampled_from(
                [
                    math.nan,
                    math.inf,
                    -math.inf,
                    -1.0,
                    -1e-9,
                    0.0,
                    1e-45,
                    0.5,
                    1.0,
                    1.0000001,
                    2.0,
                    1e6,
                    1e7,
                    3.4e38,
                ]
            ),
            st.floats(minimum, maximum),
        )

    def one(name, spec):
        parts = {
            key: batches if rank == 1 else scalar(key, dtype) for key, (dtype, rank) in spec.items()
        }
        return st.tuples(
            st.just(name), st.fixed_dictionaries(parts).map(lambda inputs: bounded(inputs, limits))
        )

    return st.one_of(*(one(name, spec) for name, spec in sorted(signatures.items())))


def bounded(inputs, limits):
    """`inputs` with a batch cut to 2 rows when an in-range work option (max_new_tokens,
    max_length, beam_size) is over 64: the fuzz looks for crashes, hangs and wrong refusals,
    and the cost of a call at the limits themselves is measured apart (`limit_costs`)."""
    heavy = any(
        name in inputs and 64 < inputs[name] <= option_range(name, limits)[2]
        for name in ("max_new_tokens", "max_length", "beam_size")
    )
    if not heavy:
        return inputs
    return {
        key: value[:2]
        if isinstance(value, list) and len(value) <= limits["max_batch_rows"]
        else value
        for key, value in inputs.items()
    }


# -- the child: TensorFlow only ------------------------------------------------------------------


def _send(stream, payload):
    data = pickle.dumps(payload)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream):
    head = stream.read(8)
    if len(head) < 8:
        return None
    (size,) = struct.unpack("<Q", head)
    return pickle.loads(stream.read(size))


def child(export_dir):
    """Loads the export with TensorFlow alone and answers calls on stdin/stdout until EOF."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # TensorFlow's prints must not corrupt the frames
    import tensorflow as tf

    ops = importlib.util.find_spec("tensorflow_text").submodule_search_locations[0]
    for library in sorted(glob.glob(os.path.join(ops, "python", "ops", "*.so"))):
        tf.load_op_library(library)
    loaded = tf.saved_model.load(export_dir)
    specs = {
        name: dict(function.structured_input_signature[1])
        for name, function in loaded.signatures.items()
    }
    for name, inputs in specs.items():
        loaded.signatures[name](
            **{
                key: tf.constant(["a"] if spec.shape.rank else WARM_UP[key], spec.dtype)
                for key, spec in inputs.items()
            }
        )
    _send(
        out,
        {
            "signatures": {
                name: {key: (spec.dtype.name, spec.shape.rank) for key, spec in inputs.items()}
                for name, inputs in specs.items()
            }
        },
    )
    while (request := _receive(sys.stdin.buffer)) is not None:
        name, inputs = request
        start = time.perf_counter()
        try:
            feeds = {
                key: tf.constant(value, specs[name][key].dtype) for key, value in inputs.items()
            }
            outputs = loaded.signatures[name](**feeds)
            answer = {
                "status": "ok",
                "shapes": {key: tuple(value.shape) for key, value in outputs.items()},
            }
        except tf.errors.InvalidArgumentError as err:
            answer = {
                "status": "refused" if LIMIT_MARK.search(err.message) else "error",
                "kind": "InvalidArgumentError",
                "message": err.message[-600:],
            }
        except Exception as err:  # noqa: BLE001  (recorded: any other exception is a finding)
            answer = {"status": "error", "kind": type(err).__name__, "message": str(err)[-600:]}
        answer["seconds"] = time.perf_counter() - start
        answer["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        _send(out, answer)


class Child:
    """The child process of one export, restarted after a crash or a hang."""

    def __init__(self, export_dir):
        self.export_dir = str(export_dir)
        self.process, self.signatures, self.starts = None, None, 0

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.fuzz", "--child", self.export_dir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parents[1],
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        )
        self.starts += 1
        hello = self._answer(300)
        if hello is None:
            raise RuntimeError(f"the fuzz child for {self.export_dir} did not start")
        self.signatures = hello["signatures"]

    def _answer(self, timeout):
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return None
        return _receive(self.process.stdout)

    def call(self, name, inputs, timeout=CALL_TIMEOUT_S):
        """The child's answer, or {"status": "hang"} / {"status": "crash"} (then restarted)."""
        if self.process is None or self.process.poll() is not None:
            self.start()
        try:
            _send(self.process.stdin, (name, inputs))
        except BrokenPipeError:
            answer = None
        else:
            answer = self._answer(timeout)
        if answer is not None:
            return answer
        status = "crash" if self.process.poll() is not None else "hang"
        code = self.process.poll()
        self.stop()
        return {"status": status, "returncode": code}

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait()
        self.process = None


def fuzz_export(export_dir, examples, seed=0, max_seconds=None, progress=None):
    """Fuzzes every signature of one export with `examples` inputs each; returns the counts
    and figures as a dict.

    `max_seconds`: per signature, stop calling after this long (the inputs Hypothesis still
    draws are counted as `not_run`); `progress`: a path rewritten with the figures so far every
    200 calls."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed

    limits, metadata = read_limits(export_dir)
    runner = Child(export_dir)
    runner.start()
    counts, kinds, mismatches, slowest, peak = {}, {}, [], 0.0, 0.0
    per_signature, not_run = {}, {}
    start = time.perf_counter()
    signature_start = start

    def run(call):
        nonlocal slowest, peak
        name, inputs = call
        if max_seconds is not None and time.perf_counter() - signature_start > max_seconds:
            counts["not_run"] = counts.get("not_run", 0) + 1
            not_run[name] = not_run.get(name, 0) + 1
            return
        answer = runner.call(name, inputs)
        status = answer["status"]
        counts[status] = counts.get(status, 0) + 1
        per_signature[name] = per_signature.get(name, 0) + 1
        if "kind" in answer:
            kinds[answer["kind"]] = kinds.get(answer["kind"], 0) + 1
        slowest = max(slowest, answer.get("seconds", 0.0))
        peak = max(peak, answer.get("max_rss_mb", 0.0))
        if status in ("ok", "refused") and (status == "refused") != expected_refusal(
            inputs, limits
        ):
            mismatches.append((name, _describe(inputs), status))
        if status in ("error", "crash", "hang") and len(mismatches) < 50:
            mismatches.append((name, _describe(inputs), status, answer.get("message", "")[-300:]))
        if progress and sum(per_signature.values()) % 200 == 0:
            Path(progress).write_text(
                json.dumps(
                    {
                        "calls": sum(per_signature.values()),
                        "per_signature": per_signature,
                        "counts": counts,
                        "error_kinds": kinds,
                        "slowest_call_s": round(slowest, 2),
                        "peak_rss_mb": round(peak),
                        "child_starts": runner.starts,
                        "seconds": round(time.perf_counter() - start, 1),
                    },
                    default=str,
                )
            )

    try:
        for name in sorted(runner.signatures):
            signature_start = time.perf_counter()
            # A new test function per signature (Hypothesis decorates a function once).
            given(strategies({name: runner.signatures[name]}, limits))(
                settings(
                    max_examples=examples,
                    deadline=None,
                    database=None,
                    derandomize=False,
                    suppress_health_check=list(HealthCheck),
                    phases=["generate"],
                )(hypothesis_seed(seed)(lambda call: run(call)))
            )()
        costs = limit_costs(runner, limits)
    finally:
        runner.stop()
    return {
        "export": str(export_dir),
        "task": metadata["task"],
        "limits": limits,
        "calls": sum(per_signature.values()),
        "per_signature": per_signature,
        "not_run_per_signature": not_run,
        "counts": counts,
        "error_kinds": kinds,
        "mismatches": mismatches,
        "slowest_call_s": round(slowest, 2),
        "peak_rss_mb": round(peak),
        "child_starts": runner.starts,
        "limit_costs": costs,
        "seconds": round(time.perf_counter() - start, 1),
    }


def limit_calls(signatures, limits):
    """(label, signature, inputs) of calls at the limits themselves: the most rows, the longest
    texts, and one row at the largest work options."""
    rows, chars = limits["max_batch_rows"], limits["max_input_chars"]
    scalars = {
        "max_new_tokens": 16,
        "max_length": 16,
        "beam_size": 2,
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "seed": 1,
    }
    calls = []
    for name, spec in sorted(signatures.items()):
        text = next(key for key, (_, rank) in spec.items() if rank == 1)
        options = {key: scalars[key] for key in spec if key != text}
        calls.append((f"{rows} rows of 3 words", name, {text: ["a b c"] * rows, **options}))
        calls.append(
            (f"1 row of {chars} characters", name, {text: ["word " * (chars // 5)], **options})
        )
        at_limit = {
            key: option_range(key, limits)[2]
            for key in options
            if key in ("max_new_tokens", "max_length", "beam_size")
        }
        if at_limit:
            label = ", ".join(f"{key}={value}" for key, value in at_limit.items())
            calls.append((f"1 row, {label}", name, {text: ["a b c"], **options, **at_limit}))
    return calls


def limit_costs(runner, limits, timeout=60):
    """Seconds and peak RSS of each call of `limit_calls` (in the fuzz child, after the fuzz)."""
    out = []
    for label, name, inputs in limit_calls(runner.signatures, limits):
        answer = runner.call(name, inputs, timeout)
        out.append(
            {
                "signature": name,
                "call": label,
                "status": answer["status"],
                "seconds": round(answer.get("seconds", float("nan")), 2),
                "max_rss_mb": round(answer.get("max_rss_mb", 0.0)),
            }
        )
    return out


def _describe(inputs):
    out = {}
    for key, value in inputs.items():
        if isinstance(value, list):
            out[key] = f"{len(value)} rows, longest {max(map(len, value), default=0)}"
        else:
            out[key] = value
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fuzz", description=__doc__.splitlines()[0]
    )
    parser.add_argument("exports", nargs="*", help="run directories or export directories")
    parser.add_argument(
        "--examples", type=int, default=10_000, help="inputs per signature of each export"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-seconds",
        type=float,
        help="per export: stop calling after this long (the rest is not_run)",
    )
    parser.add_argument("--progress", help="a file rewritten with the figures every 200 calls")
    parser.add_argument("--output", help="a JSON-lines file each export's result is added to")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)
    results = []
    for path in args.exports:
        export_dir = Path(path) / "export" if (Path(path) / "export").is_dir() else Path(path)
        result = fuzz_export(export_dir, args.examples, args.seed, args.max_seconds, args.progress)
        print(json.dumps(result, default=str), flush=True)
        if args.output:
            with open(args.output, "a", encoding="utf-8") as out:
                out.write(json.dumps(result, default=str) + "\n")
        results.append(result)
    bad = sum(r["counts"].get(k, 0) for r in results for k in ("crash", "hang", "error"))
    return 1 if bad or any(r["mismatches"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
