"""Seed sweeps: one pipeline run per model seed on the same data, and the spread of every metric.

Only the `seed` key changes between the runs. It seeds the model's initial weights, dropout and
the shuffling of batches; the data split has its own key (`data.split_seed`) and the data
fingerprint is checked to be equal in every run. Each seed runs into PARENT/seed-<s>/, and
PARENT/seeds.json holds the per-seed metrics and, for every numeric metric, the mean, the sample
standard deviation (ddof=1), the minimum and the maximum. seeds.json is rewritten after each
seed, so an interrupted sweep shows what it finished.
"""

import dataclasses
import logging
import math
import statistics
from pathlib import Path

from nlp_lstm import artifacts
from nlp_lstm.config.schema import SEED_MAX
from nlp_lstm.errors import ConfigError, RunDirError
from nlp_lstm.runs import rundir
from nlp_lstm.runs.reproduce import flatten_metrics, is_number

logger = logging.getLogger(__name__)

MAX_SEEDS = 100


def parse_seeds(text, base_seed):
    """`--seeds` as a list of seeds: "1,2,3" is those seeds; "5" is five seeds, `base_seed` and
    the four after it (so the first run of a sweep is the pipeline's own run)."""
    text = str(text).strip()
    parts = [p.strip() for p in text.split(",")]
    try:
        numbers = [int(p) for p in parts if p]
    except ValueError:
        raise ConfigError(
            f"--seeds takes a count (5) or a comma-separated list of seeds "
            f"(1,2,3). Received: --seeds {text!r}."
        ) from None
    if not numbers:
        raise ConfigError("--seeds is empty. Give a count (5) or a list of seeds (1,2,3).")
    if "," not in text:
        count = numbers[0]
        if not 1 <= count <= MAX_SEEDS:
            raise ConfigError(
                f"--seeds {count}: the number of seeds must be in [1, {MAX_SEEDS}]. "
                f"For one given seed use --set seed=S."
            )
        numbers = [base_seed + i for i in range(count)]
    if len(set(numbers)) != len(numbers):
        raise ConfigError(f"--seeds {text!r} repeats a seed; give each seed once.")
    if len(numbers) > MAX_SEEDS:
        raise ConfigError(f"--seeds gives {len(numbers)} seeds; at most {MAX_SEEDS}.")
    bad = [s for s in numbers if not 0 <= s <= SEED_MAX]
    if bad:
        raise ConfigError(
            f"Seeds must be in [0, {SEED_MAX}]. Received: {bad[0]} in --seeds {text!r}."
        )
    return numbers


def summarize(per_seed):
    """{metric: {mean, std, min, max, n}} over {seed: metrics}, for every numeric flattened metric.

    `std` is the sample standard deviation (ddof=1); None with fewer than two values. A metric
    missing from some seeds is summarized over the seeds that have it (`n` says how many).
    """
    flat = {seed: flatten_metrics(metrics) for seed, metrics in per_seed.items()}
    keys = list(dict.fromkeys(k for values in flat.values() for k in values))
    summary = {}
    for key in keys:
        values = [v[key] for v in flat.values() if is_number(v.get(key))]
        if not values or any(math.isnan(x) for x in values):
            continue
        summary[key] = {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None,
            "min": min(values),
            "max": max(values),
            "n": len(values),
        }
    return summary


def _finished_run(run_dir, config_hash):
    """The manifest of a finished run of this exact config in `run_dir`, else None."""
    manifest = artifacts.read_json(Path(run_dir) / "manifest.json")
    if manifest is None or manifest.get("status") != "finished":
        return None
    if manifest.get("config_hash") != config_hash:
        raise RunDirError(
            f"{run_dir} holds a finished run of another config (hash "
            f"{manifest.get('config_hash')}, this one {config_hash}); --resume "
            f"keeps only runs of the same config. Use another --run-dir, or "
            f"--overwrite."
        )
    return manifest


def run_seeds(config, seeds, parent=None, overwrite=False, resume=False, runs_root="runs"):
    """Runs `config` once per seed into PARENT/seed-<s>/ and writes PARENT/seeds.json.

    `parent` defaults to a new runs/<name>-seeds-<timestamp>/. With `resume`, seeds whose run
    finished earlier (same config) are kept, interrupted ones continue and missing ones start;
    with `overwrite`, earlier runs of the seeds are replaced. Returns the seeds.json content.
    """
    from nlp_lstm.pipeline import build_pipeline  # TensorFlow: only once the arguments are checked

    parent = (
        Path(parent)
        if parent is not None
        else rundir.new_run_dir(f"{config.name}-seeds", runs_root)
    )
    parent.mkdir(parents=True, exist_ok=True)
    record = {
        "pipeline": config.name,
        "task": config.task,
        "base_config_hash": config.hash(),
        "seeds": list(seeds),
        "std": "sample standard deviation (ddof=1)",
        "status": "running",
        "start_time": rundir.now(),
        "runs": {},
        "summary": {},
    }
    fingerprints = {}
    for index, seed in enumerate(seeds):
        seeded = dataclasses.replace(config, seed=seed)
        run_dir = parent / f"seed-{seed}"
        manifest = _finished_run(run_dir, seeded.hash()) if resume else None
        if manifest is not None:
            logger.info(f"seed {seed} ({index + 1}/{len(seeds)}): finished earlier in {run_dir}")
            metrics = artifacts.read_json(run_dir / "metrics.json", {})
        else:
            logger.info(f"seed {seed} ({index + 1}/{len(seeds)}): running into {run_dir}")
            again = resume and run_dir.exists() and any(run_dir.iterdir())
            result = build_pipeline(seeded).run(run_dir=run_dir, overwrite=overwrite, resume=again)
            manifest, metrics = result.manifest, result.metrics
        fingerprints[seed] = manifest.get("data", {}).get("fingerprint")
        record["runs"][str(seed)] = {
            "run_dir": str(run_dir),
            "metrics": metrics,
            "epochs_run": manifest.get("epochs_run"),
            "timings_s": manifest.get("timings_s", {}),
        }
        record["summary"] = summarize({s: r["metrics"] for s, r in record["runs"].items()})
        record["data_fingerprint"] = fingerprints[seeds[0]]
        artifacts.atomic_write_json(parent / "seeds.json", record)
        if len(set(fingerprints.values())) > 1:
            raise RunDirError(
                f"The data fingerprint changed between seeds ({fingerprints}); the "
                f"data files changed during the sweep. Run it again on fixed data."
            )
    record.update(status="finished", end_time=rundir.now())
    artifacts.atomic_write_json(parent / "seeds.json", record)
    record["parent"] = str(parent)
    return record


def format_summary(summary, seeds):
    """An aligned table: metric, mean ± std, min, max (sample std, ddof=1), one row per metric.

    List entries (the confusion matrix) are left to seeds.json.
    """
    rows = [("metric", "mean ± std", "min", "max")]
    for key, s in summary.items():
        if any(part.isdigit() for part in key.split(".")):
            continue
        if isinstance(s["min"], int) and s["min"] == s["max"]:  # a count such as num_examples
            rows.append((key, f"{s['min']} (all seeds)", str(s["min"]), str(s["max"])))
            continue
        std = "n/a" if s["std"] is None else f"{s['std']:.4f}"
        rows.append((key, f"{s['mean']:.4f} ± {std}", f"{s['min']:.4f}", f"{s['max']:.4f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    note = (
        f"{len(seeds)} seeds ({', '.join(map(str, seeds))}); std is the sample standard "
        f"deviation (ddof=1)"
    )
    return "\n".join(lines + [note])
