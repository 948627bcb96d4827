"""Multi-worker training on this machine: one process against `--workers 1` and `--workers 2`.

    python -m benchmarks.multi_worker [--epochs 3]

Prints, for the classification quickstart at the same global batch and seed: the train time,
real (non-padding) train tokens per second and the test accuracy; then the gradient bytes per
step (trainable variables x 4), the all-reduce time of that many bytes measured in a 2-worker
loopback cluster, and an estimate for 8 workers on a 10 Gb/s network (a ring all-reduce moves
2 (N - 1) / N x bytes per worker per step). Every figure printed is measured here except the
estimate's network, which is an assumption stated in its header.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PIPELINE = "quickstart_classify"


def _run(run_dir, epochs, workers=None, extra=()):
    command = [
        sys.executable,
        "-m",
        "nlp_lstm.cli",
        "run",
        PIPELINE,
        "--run-dir",
        str(run_dir),
        "--set",
        f"train.epochs={epochs}",
        "--set",
        "train.verbose=0",
        "--set",
        "train.early_stopping_patience=0",
        "--set",
        "steps=[train,evaluate]",
        *extra,
    ]
    if workers:
        command += ["--workers", str(workers)]
    start = time.perf_counter()
    proc = subprocess.run(
        command, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    )
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    return {
        "wall_s": wall,
        "train_s": manifest["timings_s"]["train"],
        "epochs": manifest["epochs_run"],
        "test_accuracy": metrics["test"]["accuracy"],
        "parameters": manifest["num_parameters"],
    }


def _train_tokens():
    """Real tokens of one epoch of the quickstart's train split (its adapted preprocessing)."""
    from nlp_lstm import presets
    from nlp_lstm.config.loading import load_config
    from nlp_lstm.pipeline import build_pipeline

    task = build_pipeline(load_config(presets.find_pipeline(PIPELINE))).task
    task.read()
    task.adapt()
    return int(task.train_lengths().sum())


def _allreduce_worker(index, ports, repeats):
    """One worker of the all-reduce timing: the quickstart model's gradient-sized tensors."""
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": index},
        }
    )
    import tensorflow as tf

    from nlp_lstm.training import distribution as distributed

    strategy = distributed.make_strategy("multi_worker")
    from nlp_lstm import presets
    from nlp_lstm.config.loading import load_config
    from nlp_lstm.pipeline import build_pipeline

    task = build_pipeline(load_config(presets.find_pipeline(PIPELINE))).task
    task.read()
    task.adapt()
    with strategy.scope():
        model = task.build_model()
    shapes = [v.shape for v in model.trainable_variables]
    nbytes = sum(int(tf.size(tf.zeros(s))) for s in shapes) * 4

    @tf.function
    def all_reduce():
        def replica():
            grads = [tf.ones(s) for s in shapes]
            return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, grads)

        return strategy.run(replica)

    all_reduce()  # the first call traces and opens the connections
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = all_reduce()
        float(tf.reduce_sum(strategy.experimental_local_results(result[0])[0]))
        times.append(time.perf_counter() - start)
    if index == 0:
        print(json.dumps({"gradient_bytes": nbytes, "allreduce_ms": [t * 1e3 for t in times]}))


def _allreduce(repeats=30):
    from nlp_lstm.runs.workers import free_ports

    ports = free_ports(2)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.multi_worker",
                "--allreduce-worker",
                str(i),
                "--ports",
                ",".join(map(str, ports)),
                "--repeats",
                str(repeats),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        )
        for i in range(2)
    ]
    outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    return json.loads(outputs[0].strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--allreduce-worker", type=int)
    parser.add_argument("--ports")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--estimate",
        nargs=3,
        type=float,
        metavar=("GRADIENT_BYTES", "STEP_MS", "PARAMETERS"),
        help="Print only the 8-worker estimate from figures measured earlier.",
    )
    args = parser.parse_args()
    if args.estimate:
        print_estimate(int(args.estimate[0]), args.estimate[1], int(args.estimate[2]))
        return
    if args.allreduce_worker is not None:
        _allreduce_worker(
            args.allreduce_worker, [int(p) for p in args.ports.split(",")], args.repeats
        )
        return
    print(
        f"machine: {os.cpu_count()} CPU cores (shared); "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    tokens = _train_tokens()
    print(
        f"{PIPELINE}: {tokens} real train tokens per epoch, train.batch_size 32 (global), "
        f"{args.epochs} epochs, early stopping off"
    )
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, workers, extra in [
            ("1 process (model.fit)", None, ()),
            ("--workers 1 (custom loop)", 1, ("--set", "train.distribution=multi_worker")),
            ("--workers 2 (custom loop)", 2, ()),
        ]:
            result = _run(
                Path(scratch) / name.split()[0].strip("-") / str(workers),
                args.epochs,
                workers,
                extra,
            )
            result["tokens_per_s"] = tokens * result["epochs"] / result["train_s"]
            rows.append((name, result))
            print(
                f"  {name:28s} train {result['train_s']:7.1f} s  wall {result['wall_s']:7.1f} s"
                f"  {result['tokens_per_s']:8.0f} tokens/s  test accuracy "
                f"{result['test_accuracy']:.4f}",
                flush=True,
            )
    measured = _allreduce()
    nbytes = measured["gradient_bytes"]
    median = statistics.median(measured["allreduce_ms"])
    print(
        f"gradient per step: {nbytes} bytes ({nbytes / 4:.0f} trainable values x 4); "
        f"all-reduce on loopback, 2 workers: median {median:.2f} ms, min "
        f"{min(measured['allreduce_ms']):.2f} ms, max {max(measured['allreduce_ms']):.2f} ms "
        f"over {len(measured['allreduce_ms'])} calls"
    )
    one = rows[0][1]
    step_s = one["train_s"] / (one["epochs"] * _steps_per_epoch())
    print(f"one-process step (train time / steps, includes validation): {step_s * 1e3:.1f} ms")
    print_estimate(nbytes, step_s * 1e3, one["parameters"])


def print_estimate(gradient_bytes, step_ms, parameters, workers=8, gbit_s=10.0):
    """Ring all-reduce time on an assumed network against a measured step time.

    A dense model's step compute and its gradient bytes both grow with the parameters (at a fixed
    batch), so their ratio does not depend on the model's size; what decides is how fast a worker
    computes. The table scales the worker's speed (1x: this shared 2-core CPU) at this model's
    size, and the model's size at this CPU's speed.
    """
    bandwidth = gbit_s * 1e9 / 8
    ring = 2 * (workers - 1) / workers * gradient_bytes
    comm_ms = ring / bandwidth * 1e3
    print(
        f"estimate: {workers} workers on {gbit_s:g} Gb/s (assumed, {bandwidth / 1e9:.2f} GB/s "
        f"per link, no latency term); ring all-reduce moves 2({workers}-1)/{workers} x "
        f"{gradient_bytes} = {ring:.0f} bytes per worker per step = {comm_ms:.3f} ms"
    )
    print(
        f"  measured step here: {step_ms:.1f} ms -> communication is {comm_ms / step_ms:.2%} "
        f"of it; the network takes over when a worker is {step_ms / comm_ms:.0f}x faster"
    )
    print(f"  {'worker speed':>12s} {'step ms':>9s} {'comm ms':>9s}  bound")
    for speed in (1, 10, 100, 1000):
        compute = step_ms / speed
        print(
            f"  {speed:>11d}x {compute:9.2f} {comm_ms:9.3f}  "
            f"{'compute' if comm_ms < compute else 'network'}"
        )
    print(
        f"  at this CPU's speed, a model of P parameters sends "
        f"{2 * (workers - 1) / workers * 4:.2f}"
        f" P bytes per step; its step stays compute-bound while that takes less than its compute"
        f" ({parameters} parameters here; an embedding table adds bytes, not compute)"
    )


def _steps_per_epoch():
    from nlp_lstm import presets
    from nlp_lstm.config.loading import load_config
    from nlp_lstm.pipeline import build_pipeline

    task = build_pipeline(load_config(presets.find_pipeline(PIPELINE))).task
    task.read()
    task.adapt()
    return task.steps_per_epoch()


if __name__ == "__main__":
    main()
