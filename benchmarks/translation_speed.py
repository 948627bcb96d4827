"""Decoding throughput of an exported translator: sentences per second, greedy and beam 4.

    python benchmarks/translation_speed.py RUN_DIR [--split test] [--batch-size 64] [--repeats 2]

Translates the sources of one split of the run (raw strings in, strings out) through the
SavedModel's `translate_with_options` signature in batches, once greedily (beam 1) and once with
beam 4, alternating A B A B; prints the median sentences per second of each.
"""

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def rate(signature, sources, batch_size, beam_size, max_length):
    import tensorflow as tf
    start = time.perf_counter()
    for begin in range(0, len(sources), batch_size):
        out = signature(text=tf.constant(sources[begin:begin + batch_size]),
                        beam_size=tf.constant(beam_size), max_length=tf.constant(max_length))
        out["translation"].numpy()
    return len(sources) / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from nlp_lstm.export import load_export
    from nlp_lstm.pipeline import load_run
    pipeline = load_run(args.run_dir)
    sources = pipeline.data.splits[args.split]["source"]
    exported = load_export(args.run_dir)
    signature = exported.signatures["translate_with_options"]
    max_length = int(exported.default_max_length.numpy())
    rate(signature, sources[:args.batch_size], args.batch_size, 4, max_length)  # warm-up
    rates = {1: [], 4: []}
    for _ in range(args.repeats):
        for beam in (1, 4):
            rates[beam].append(rate(signature, sources, args.batch_size, beam, max_length))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{len(sources)} {args.split} sentences, batch {args.batch_size}, max_length "
          f"{max_length}, {args.repeats} repeats")
    print("| decoding | sentences per second (median) |")
    print("|---|---|")
    for beam, values in rates.items():
        name = "greedy (beam 1)" if beam == 1 else f"beam {beam}"
        print(f"| {name} | {statistics.median(values):.1f} |")


if __name__ == "__main__":
    main()
