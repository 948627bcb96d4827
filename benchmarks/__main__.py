"""The benchmark suite: nlp_lstm against the ways people do the same jobs today, in one run.

    # about 20 minutes; writes BENCHMARKS.md
    python -m benchmarks --full --data-dir ../shared/data
    # under 3 minutes, no data root; a smoke test
    python -m benchmarks --quick

Sections: classification (training speed against the Keras example and PyTorch, compute
efficiency, serving latency, peak memory), generation (the exported sampler against the naive
windowed loop), translation decoding (the exported greedy and beam search against a Python
step loop) and, where TensorFlow sees a GPU, float32 against mixed precision on the cuDNN
kernel. `--full` writes the results between the suite's markers in BENCHMARKS.md; `--quick`
prints them (pass --output to write them too). The goals are reported, never enforced: the exit
status is non-zero only when a benchmark fails to run.
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("classification", "generation", "translation", "gpu")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="tiny sizes, no data root (smoke test)")
    mode.add_argument("--full", action="store_true", help="the measured suite (needs --data-dir)")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("NLP_LSTM_DATA_DIR"),
        help="data root with mr_polarity/, tinyshakespeare/ and multi30k/ "
        "(default: $NLP_LSTM_DATA_DIR)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})",
    )
    parser.add_argument(
        "--output",
        help="Markdown file to write the results into "
        "(default: BENCHMARKS.md with --full, none with --quick)",
    )
    parser.add_argument(
        "--repeats", type=int, help="measured rounds per contender (default: 3 full, 1 quick)"
    )
    parser.add_argument("--work-dir", help="scratch folder (default: a new temporary folder)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only.split(",")) - set(SECTIONS))
    if unknown:
        parser.error(f"--only: unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    if args.full and not args.data_dir:
        parser.error("--full needs the data root: --data-dir DIR or NLP_LSTM_DATA_DIR=DIR")
    if args.data_dir and not Path(args.data_dir).is_dir():
        parser.error(f"--data-dir {args.data_dir} is not a folder")
    return args


def log_library_messages():
    """Shows the library's progress messages (the `nlp_lstm` logger, INFO and up) on stderr,
    one plain line each, beside the suite's own progress lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    package_logger = logging.getLogger("nlp_lstm")
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sys.path.insert(0, str(REPO))
    import importlib

    from benchmarks import harness

    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    log_library_messages()
    work_dir = Path(args.work_dir or tempfile.mkdtemp(prefix="nlp-lstm-benchmarks-"))
    context = harness.Context(
        quick=args.quick,
        data_dir=Path(args.data_dir) if args.data_dir and not args.quick else None,
        work_dir=work_dir,
        repeats=args.repeats or (1 if args.quick else 3),
        log=log,
    )
    started, start = harness.utc_now(), time.perf_counter()
    sections = []
    for name in args.only.split(","):
        log(f"== {name}")
        module = importlib.import_module(f"benchmarks.{name}")
        section_start = time.perf_counter()
        section = module.run(context)
        section.seconds = time.perf_counter() - section_start
        sections.append(section)
    mode = "quick" if args.quick else "full"
    command = (
        "python -m benchmarks --" + mode + (f" --data-dir {args.data_dir}" if args.full else "")
    )
    block = harness.render(sections, mode, command, started, time.perf_counter() - start)
    print(block)
    output = args.output or (REPO / "BENCHMARKS.md" if args.full else None)
    if output:
        harness.write_report(output, block, mode)
        log(f"wrote the {mode} results into {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
