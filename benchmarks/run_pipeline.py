"""Runs a pipeline end to end and prints measured wall times and test metrics as a Markdown row.

    python benchmarks/run_pipeline.py pipelines/mr_bilstm.yaml --data-dir ../shared/data

The numbers come from the run itself (manifest timings and metrics.json); copy the row, the
command and the machine line into BENCHMARKS.md.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline")
    parser.add_argument("--data-dir")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--run-dir")
    args = parser.parse_args()
    command = [sys.executable, "-m", "nlp_lstm.cli", "run", args.pipeline]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    for override in args.overrides:
        command += ["--set", override]
    run_dir = args.run_dir or f"runs/bench-{Path(args.pipeline).stem}-{int(time.time())}"
    command += ["--run-dir", run_dir]
    start = time.perf_counter()
    subprocess.run(command, check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    wall = time.perf_counter() - start
    manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    timings = manifest["timings_s"]
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"{'GPU' if manifest['cudnn']['gpu_visible'] else 'no GPU'}, "
        f"TF {manifest['versions']['tensorflow']}"
    )
    print(f"\nmachine: {machine}")
    if manifest["task"] == "generation":
        v = metrics["validation"]
        print(
            "| pipeline | validation loss (nats/token) | perplexity | bits per char | "
            "unigram entropy (bits) | epochs | train time (s) | total wall time (s) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        print(
            f"| {Path(args.pipeline).name} | {v['loss']:.4f} | {v['perplexity']:.4f} | "
            f"{v['bits_per_char']:.4f} | {v['unigram_entropy_bits']:.4f} | "
            f"{manifest.get('epochs_run')} | {timings.get('train')} | {wall:.1f} |"
        )
        return
    print(
        "| pipeline | test accuracy | test macro-F1 | validation accuracy | epochs | "
        "train time (s) | total wall time (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {Path(args.pipeline).name} | {metrics['test']['accuracy']:.4f} | "
        f"{metrics['test']['macro_f1']:.4f} | {metrics['validation']['accuracy']:.4f} | "
        f"{manifest.get('epochs_run')} | {timings.get('train')} | {wall:.1f} |"
    )


if __name__ == "__main__":
    main()
