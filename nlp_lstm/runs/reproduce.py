"""Re-running a finished run from its saved config and checking that it gives the same results.

`reproduce(run_dir)` reads RUN_DIR/config.yaml, manifest.json and metrics.json, checks that the
data still has the fingerprint the manifest recorded (before any training), runs the same config
into a new directory and compares every metric (nested keys flattened to dotted names). Package
versions that differ from the manifest are reported, not failed on: they are the usual reason
for a difference.
"""

import dataclasses
import logging
import math
from pathlib import Path

import yaml

from nlp_lstm import artifacts
from nlp_lstm.config.loading import config_from_dict
from nlp_lstm.errors import InputDataError, RunDirError
from nlp_lstm.runs import rundir

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Reproduction:
    """What `reproduce` found.

    Args:
        original: Path. The run that was re-run.
        run_dir: Path. The new run.
        differences: list of (key, original value, new value). Metrics outside the tolerance,
            and metrics only the original has (new value None).
        compared: int. Metrics compared.
        added: list of str. Metrics only the new run has (reported, not a difference).
        version_differences: dict. package -> (version in the manifest, version now).
        fingerprint: (str, str). The data fingerprint in the manifest and now.
        tolerance: float. Largest absolute difference counted as equal.
    """

    original: Path
    run_dir: Path
    differences: list
    compared: int
    added: list
    version_differences: dict
    fingerprint: tuple
    tolerance: float

    @property
    def passed(self):
        return not self.differences

    def to_dict(self):
        return {
            "original": str(self.original),
            "run_dir": str(self.run_dir),
            "passed": self.passed,
            "compared": self.compared,
            "tolerance": self.tolerance,
            "differences": [
                {"metric": k, "original": a, "reproduced": b} for k, a, b in self.differences
            ],
            "added": self.added,
            "version_differences": {
                k: {"manifest": a, "now": b} for k, (a, b) in self.version_differences.items()
            },
            "data_fingerprint": {"manifest": self.fingerprint[0], "now": self.fingerprint[1]},
        }


def flatten_metrics(metrics, prefix=""):
    """Nested metrics as {dotted key: value}; list items get their index (confusion_matrix.0.1)."""
    items = metrics.items() if isinstance(metrics, dict) else enumerate(metrics)
    out = {}
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, (dict, list)):
            out.update(flatten_metrics(value, name + "."))
        else:
            out[name] = value
    return out


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compare_metrics(original, reproduced, tolerance=0.0):
    """(differences, compared, added) between two metrics dicts; see `Reproduction`."""
    before, after = flatten_metrics(original), flatten_metrics(reproduced)
    differences = []
    for key, value in before.items():
        new = after.get(key)
        if is_number(value) and is_number(new):
            same = (math.isnan(value) and math.isnan(new)) or abs(value - new) <= tolerance
        else:
            same = key in after and value == new
        if not same:
            differences.append((key, value, new))
    return differences, len(before), sorted(set(after) - set(before))


def read_finished_run(run_dir):
    """(config, manifest, metrics) of a finished run, or a RunDirError saying what is missing."""
    run_dir = Path(run_dir)
    manifest = artifacts.read_json(run_dir / "manifest.json")
    if manifest is None or not (run_dir / "config.yaml").is_file():
        raise RunDirError(
            f"{run_dir} is not a run directory (config.yaml or manifest.json is "
            f"missing). Pass the directory `nlp-lstm run` printed."
        )
    if manifest.get("status") != "finished":
        raise RunDirError(
            f"{run_dir} holds no finished run (status {manifest.get('status')!r}); "
            f"only a finished run can be reproduced. Finish it with `nlp-lstm run "
            f"... --resume --run-dir {run_dir}` first."
        )
    config = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")))
    if config.hash() != manifest.get("config_hash"):
        raise RunDirError(
            f"{run_dir}/config.yaml was changed after the run: its hash is "
            f"{config.hash()}, the manifest recorded {manifest.get('config_hash')}. "
            f"Restore it, or run the changed config with `nlp-lstm run`."
        )
    return config, manifest, artifacts.read_json(run_dir / "metrics.json", {})


def version_differences(recorded):
    """package -> (recorded version, installed version), for the packages that differ."""
    now = rundir.versions()
    return {
        name: (recorded.get(name), now.get(name))
        for name in sorted(set(recorded) | set(now))
        if recorded.get(name) != now.get(name)
    }


def reproduce(run_dir, new_run_dir=None, tolerance=0.0, allow_data_change=False, runs_root=None):
    """Re-runs the finished run in `run_dir` into `new_run_dir` and compares; a Reproduction.

    `new_run_dir` defaults to a new RUN_DIR-reproduce-<timestamp> beside RUN_DIR (under
    `runs_root` if given). A changed data fingerprint raises InputDataError before training
    unless `allow_data_change`. The comparison is also written to NEW_RUN_DIR/reproduce.json.
    """
    from nlp_lstm.pipeline import build_pipeline  # TensorFlow: only once the run dir is checked

    run_dir = Path(run_dir)
    config, manifest, metrics = read_finished_run(run_dir)
    if metrics and "evaluate" not in config.steps:  # trained by `train`, scored by `evaluate`
        config = dataclasses.replace(config, steps=[*config.steps, "evaluate"])
    versions = version_differences(manifest.get("versions", {}))
    for name, (then, now) in versions.items():
        logger.warning(f"{name} is {now} here; the run used {then}.")
    pipeline = build_pipeline(config)
    pipeline.task.read()
    recorded = manifest.get("data", {}).get("fingerprint")
    fingerprint = (recorded, pipeline.task.data.fingerprint)
    if recorded != fingerprint[1]:
        files = ", ".join(manifest.get("data", {}).get("files", [])) or "its data"
        message = (
            f"The data of {run_dir} changed since the run: fingerprint {recorded}, now "
            f"{fingerprint[1]} (files: {files})."
        )
        if not allow_data_change:
            raise InputDataError(
                f"{message} Restore the data, or pass --allow-data-change to "
                f"re-run on the new data anyway."
            )
        logger.warning(message)
    if new_run_dir is None:
        root = Path(runs_root) if runs_root is not None else run_dir.parent
        new_run_dir = rundir.new_run_dir(f"{run_dir.name}-reproduce", root)
    logger.info(f"Reproducing {run_dir} in {new_run_dir}")
    result = pipeline.run(run_dir=new_run_dir)
    differences, compared, added = compare_metrics(metrics, result.metrics, tolerance)
    report = Reproduction(
        run_dir,
        Path(result.run_dir),
        differences,
        compared,
        added,
        versions,
        fingerprint,
        tolerance,
    )
    artifacts.atomic_write_json(Path(result.run_dir) / "reproduce.json", report.to_dict())
    return report


def format_differences(report):
    """The differences as an aligned text table: metric, original, reproduced, difference."""
    rows = [("metric", "original", "reproduced", "difference")]
    for key, before, after in report.differences:
        diff = f"{after - before:+.6g}" if is_number(before) and is_number(after) else "-"
        rows.append((key, _show(before), "(missing)" if after is None else _show(after), diff))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows
    )


def _show(value):
    return f"{value:.6g}" if isinstance(value, float) else str(value)
