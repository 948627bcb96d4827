"""Hyperparameter search with keras-tuner over any config key, from a YAML search space.

A search space maps config keys to ranges:

    model.hidden_dim: {choice: [32, 64, 128]}
    model.dropout: {min: 0.1, max: 0.5, step: 0.1}
    train.learning_rate: {min: 1.0e-4, max: 1.0e-2, sampling: log}
    model.bidirectional: {boolean: true}
    model.head_hidden_dim: {choice: [0, 64], when: {model.pooling: attention}}

`when` conditions on another searched key (a keras-tuner conditional scope) or on a fixed config
value (the entry is dropped when it does not match). Each trial trains the pipeline's model with
the sampled values; stages are adapted once per distinct stage setting. The tuner project lives
in the tuning run directory under a hash of the resolved config and the space, so a changed
pipeline or space never reuses old trials."""

import csv
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import keras_tuner
import yaml

from nlp_lstm import artifacts
from nlp_lstm.config.loading import dump_config
from nlp_lstm.errors import ConfigError
from nlp_lstm.runs import rundir
from nlp_lstm.runs.search_space import apply_values, define_hyperparameters, parse_search_space
from nlp_lstm.tasks import task_for
from nlp_lstm.training.trainers import Trainer

logger = logging.getLogger(__name__)

# Metrics where lower is better; any other objective (accuracy, F1, BLEU, ...) is maximised.
LOWER_IS_BETTER = ("loss", "mse", "mae", "perplexity", "error")


def objective_direction(tune):
    """`tune.direction`, or with "auto": "min" for a loss or an error (val_loss, val_mse,
    val_mae, val_perplexity), else "max"."""
    if tune.direction != "auto":
        return tune.direction
    name = tune.objective.lower()
    return "min" if any(word in name for word in LOWER_IS_BETTER) else "max"


def project_key(config, params):
    blob = json.dumps(
        [config.hash(), [dataclasses.asdict(p) for p in params], dataclasses.asdict(config.tune)],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class PipelineHyperModel(keras_tuner.HyperModel):
    """Builds and trains the task's model for each trial's values, through the same
    `Task.train` (and so the same callbacks) as a run.

    Stages are adapted once per distinct stage configuration and reused across trials.

    Args:
        task: Task. The pipeline's task, with its data read.
        params: list of SearchParameter.
    """

    def __init__(self, task, params):
        super().__init__(name="nlp_lstm_pipeline")
        self.task = task
        self.params = params
        self.trial_dir = None  # set by the tuner before each trial
        self._stage_cache = {}
        self._trial_task = None

    def _task_for(self, values):
        config = apply_values(self.task.config, values)
        trial = task_for(config).from_config(config)
        # Trials whose stage chains (source and, for translation, target) and data are equal
        # share what the stages learned.
        key = json.dumps(
            [[p.get_config() for p in trial.preprocessors()], dataclasses.asdict(config.data)],
            sort_keys=True,
            default=str,
        )
        trial.data = self.task.data
        trial.label_names = getattr(self.task, "label_names", None)
        if key not in self._stage_cache:
            trial.adapt()
            self._stage_cache[key] = trial.state()
        trial.restore(self._stage_cache[key])
        return trial

    def build(self, hp):
        values = define_hyperparameters(self.params, hp)
        self._trial_task = self._task_for(values)
        keras.utils.set_random_seed(self.task.config.seed)
        return self._trial_task.build_model()

    def fit(self, hp, model, *args, callbacks=None, epochs=None, **kwargs):
        trial = self._trial_task
        trial.model = model
        return Trainer(trial).train(
            self.trial_dir,
            extra_callbacks=list(callbacks or []),
            epochs=epochs or trial.config.train.epochs,
            initial_epoch=kwargs.get("initial_epoch", 0),
            verbose=0,
        )

    def declare_hyperparameters(self, hp):
        define_hyperparameters(self.params, hp)


def prune_checkpoints(tuner, keep):
    """Deletes the weight checkpoints of every completed trial outside the best `keep`."""
    if not hasattr(tuner.oracle, "trials"):
        return 0  # a distributed worker: the chief's process prunes at the end
    best = {t.trial_id for t in tuner.oracle.get_best_trials(num_trials=keep)} if keep else set()
    freed = 0
    for trial in tuner.oracle.trials.values():
        if trial.status != "COMPLETED" or trial.trial_id in best:
            continue
        path = Path(tuner._get_checkpoint_fname(trial.trial_id))
        if path.is_file():
            freed += path.stat().st_size
            path.unlink()
    return freed


class _TrialReporting:
    """Tells the hypermodel where each trial writes, logs one line per finished trial with its
    values and score, and prunes the checkpoints outside the best `keep_best_checkpoints`."""

    def __init__(self, hypermodel, *args, keep_best_checkpoints=3, **kwargs):
        super().__init__(hypermodel, *args, **kwargs)
        self.keep_best_checkpoints = keep_best_checkpoints

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self.hypermodel.trial_dir = self.get_trial_dir(trial.trial_id)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        score = trial.score if trial.score is not None else float("nan")
        shown = ", ".join(
            f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in trial.hyperparameters.values.items()
            if not k.startswith("tuner/")
        )
        logger.info("trial %s: %s score=%.4f | %s", trial.trial_id, trial.status, score, shown)
        prune_checkpoints(self, self.keep_best_checkpoints)


class RandomSearchTuner(_TrialReporting, keras_tuner.RandomSearch):
    """keras-tuner's random search over a pipeline."""


class GridSearchTuner(_TrialReporting, keras_tuner.GridSearch):
    """keras-tuner's grid search over a pipeline."""


class HyperbandTuner(_TrialReporting, keras_tuner.Hyperband):
    """keras-tuner's Hyperband over a pipeline."""


class BayesianTuner(_TrialReporting, keras_tuner.BayesianOptimization):
    """keras-tuner's Bayesian optimisation (Gaussian process) over a pipeline."""


TUNERS = {
    "random": RandomSearchTuner,
    "grid": GridSearchTuner,
    "hyperband": HyperbandTuner,
    "bayesian": BayesianTuner,
}


def make_tuner(task, params, project_dir, overwrite=False):
    """A keras-tuner tuner for `task` (its data read) over `params`, stored in `project_dir`."""
    tune = task.config.tune
    objective = keras_tuner.Objective(tune.objective, direction=objective_direction(tune))
    hypermodel = PipelineHyperModel(task, params)
    common = dict(
        objective=objective,
        seed=task.config.seed,
        overwrite=overwrite,
        directory=str(project_dir.parent),
        project_name=project_dir.name,
        executions_per_trial=tune.executions_per_trial,
        keep_best_checkpoints=tune.keep_best_checkpoints,
        max_consecutive_failed_trials=3,
    )
    cls = TUNERS[tune.algorithm]
    if tune.algorithm == "hyperband":
        return cls(
            hypermodel, max_epochs=task.config.train.epochs, factor=tune.hyperband_factor, **common
        )
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    return cls(hypermodel, max_trials=tune.max_trials, hyperparameters=hp, **common)


def _trial_rows(tuner, params):
    rows = []
    for trial in tuner.oracle.trials.values():
        row = {
            "trial_id": trial.trial_id,
            "status": trial.status,
            "score": "" if trial.score is None else round(float(trial.score), 6),
        }
        for param in params:
            value = trial.hyperparameters.values.get(param.name, "")
            # Stepped float ranges accumulate binary round-off (0.30000000000000004).
            row[param.name] = float(f"{value:.10g}") if isinstance(value, float) else value
        rows.append(row)
    return rows


def write_trials(rows, params, path):
    columns = ["trial_id", "status", "score"] + [p.name for p in params]
    tmp = Path(path).with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def plot_trials(rows, params, objective, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [r for r in rows if r["score"] != ""]
    fig, axes = plt.subplots(1, len(params), figsize=(4 * len(params), 3.5), squeeze=False)
    for ax, param in zip(axes[0], params):
        xs = [
            str(r[param.name])
            if "choice" in param.spec or param.spec.get("boolean")
            else r[param.name]
            for r in scored
            if r[param.name] != ""
        ]
        ys = [r["score"] for r in scored if r[param.name] != ""]
        ax.scatter(xs, ys)
        ax.set_xlabel(param.name)
        ax.set_ylabel(objective)
        if param.spec.get("sampling") == "log":
            ax.set_xscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def tune(pipeline, space, where, run_dir, overwrite=False):
    """Runs the search; writes trials.csv, best_config.yaml and tuning.png; returns a summary.

    The process holds the tuning directory's lock (`rundir.RunDirLock`) throughout; the chief and
    workers of a distributed search share it with the parent that started them.
    """
    run_dir = Path(run_dir)
    lock = None if is_distributed_child() else rundir.RunDirLock(run_dir).acquire()
    try:
        return _tune_locked(pipeline, space, where, run_dir, overwrite)
    finally:
        if lock is not None:
            lock.release()


def _tune_locked(pipeline, space, where, run_dir, overwrite):
    config, task = pipeline.config, pipeline.task
    params = parse_search_space(space, config, where)
    run_dir.mkdir(parents=True, exist_ok=True)
    project_dir = run_dir / "tuner" / f"project-{project_key(config, params)}"
    if overwrite and project_dir.exists():
        shutil.rmtree(project_dir)
    resumed = project_dir.exists()
    keras.utils.set_random_seed(config.seed)
    task.read()
    tuner = make_tuner(task, params, project_dir, overwrite=False)
    logger.info(
        "search: %s, up to %d trials, objective %s (%s), project %s%s",
        config.tune.algorithm,
        config.tune.max_trials,
        config.tune.objective,
        objective_direction(config.tune),
        project_dir,
        " (resuming)" if resumed else "",
    )
    start = time.perf_counter()
    tuner.search(verbose=0)
    wall = time.perf_counter() - start
    if is_distributed_child():
        return None, [], params
    prune_checkpoints(tuner, config.tune.keep_best_checkpoints)
    rows = _trial_rows(tuner, params)
    reverse = objective_direction(config.tune) == "max"
    ranked = sorted(
        [r for r in rows if r["score"] != ""], key=lambda r: r["score"], reverse=reverse
    )
    if not ranked:
        raise ConfigError(
            f"No trial finished with a score for {config.tune.objective!r}. Check "
            f"that training logs that metric (validation metrics need a validation "
            f"split)."
        )
    write_trials(rows, params, run_dir / "trials.csv")
    plot_trials(rows, params, config.tune.objective, run_dir / "tuning.png")
    best_values = {p.name: ranked[0][p.name] for p in params if ranked[0][p.name] != ""}
    best = apply_values(config, best_values)
    text = dump_config(best)
    parsed = yaml.safe_load(text)
    parsed.pop("sources", None)
    artifacts.atomic_write_text(
        run_dir / "best_config.yaml",
        f"# Best trial {ranked[0]['trial_id']} of {run_dir}: "
        f"{config.tune.objective}={ranked[0]['score']}\n"
        + yaml.safe_dump(parsed, sort_keys=False, allow_unicode=True),
    )
    disk = sum(f.stat().st_size for f in project_dir.rglob("*") if f.is_file())
    summary = {
        "algorithm": config.tune.algorithm,
        "trials": len(rows),
        "completed": sum(r["status"] == "COMPLETED" for r in rows),
        "best_trial": ranked[0]["trial_id"],
        "best_score": ranked[0]["score"],
        "best_values": best_values,
        "objective": config.tune.objective,
        "wall_time_s": round(wall, 1),
        "resumed": resumed,
        "disk_bytes": disk,
        "project_dir": str(project_dir),
    }
    artifacts.atomic_write_json(run_dir / "tuning.json", summary)
    return summary, ranked, params


def is_distributed_child():
    """True inside a chief or worker process started by `run_distributed`."""
    return "KERASTUNER_TUNER_ID" in os.environ


def free_port(host):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def run_distributed(child_args, workers, host="127.0.0.1", port=None, chief_grace_s=60):
    """Runs a keras-tuner chief (oracle) and `workers` worker processes of `nlp-lstm tune`.

    Every process stops by itself when the oracle has no trials left. If workers die, the chief is
    stopped after `chief_grace_s`; the caller then reloads the project and finishes what is left.
    Returns the workers' exit codes.
    """
    port = port or free_port(host)
    command = [sys.executable, "-m", "nlp_lstm.cli", "tune", *child_args]
    base = dict(os.environ, KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=str(port))
    logger.info("distributed search: chief on %s:%s, %d worker(s)", host, port, workers)
    chief = subprocess.Popen(command, env={**base, "KERASTUNER_TUNER_ID": "chief"})
    procs = [
        subprocess.Popen(command, env={**base, "KERASTUNER_TUNER_ID": f"tuner{i}"})
        for i in range(workers)
    ]
    codes = [proc.wait() for proc in procs]
    try:
        chief.wait(timeout=chief_grace_s)
    except subprocess.TimeoutExpired:
        logger.warning("the chief still waits for trials of workers that stopped; stopping it")
        chief.terminate()
        chief.wait(timeout=30)
    logger.info("workers exited with codes %s; chief with %s", codes, chief.returncode)
    return codes


def format_ranking(ranked, params, limit=10):
    """The ranked trials as a fixed-width text table."""
    names = [p.name for p in params]
    header = ["rank", "trial", "score"] + names
    lines = [header] + [
        [str(i + 1), r["trial_id"], f"{r['score']:.4f}"] + [str(r[n]) for n in names]
        for i, r in enumerate(ranked[:limit])
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) for line in lines)
