"""The runner every task shares: seeds, run directory, manifest, step order and resume.

seed -> read -> adapt (train split) -> build model -> train -> evaluate -> export, with the
resolved config, the manifest and the metrics written into the run directory as it goes. What each
step does is the task's business: the runner finds the task by `config.task` in the task registry
and imports no task module.
"""

import dataclasses
import logging
import time
from pathlib import Path

import keras
import tensorflow as tf

from nlp_lstm import plots, rundir
from nlp_lstm.config import PipelineConfig, config_from_dict, dump_config
from nlp_lstm.errors import ConfigError, RunDirError
from nlp_lstm.tasks import TASKS

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    metrics: dict
    manifest: dict


class Pipeline:
    """Runs the steps of one config's task in order, keeping the run directory up to date.

    Args:
        config: PipelineConfig. The resolved, checked config.
        task: Task. Built from the same config (`TASKS.get(config.task).from_config(config)`).
    """

    def __init__(self, config, task):
        self.config = config
        self.task = task

    def evaluate(self, run_dir, splits=None):
        """Metrics per split of a trained task (see `Task.evaluate`); a split asked for by name
        that the data does not have is an error."""
        self.task.check_splits(splits, run_dir)
        return self.task.evaluate(run_dir, splits)

    def export(self, run_dir):
        """Writes RUN_DIR/export (see `Task.export`); returns the export summary."""
        return self.task.export(run_dir)

    def evaluate_file(self, run_dir, path, columns=None):
        """Scores a new file with the task's metrics (a trained run, loaded with `load_run`).

        `columns` overrides data keys such as text_column or label_column for this file. The
        metrics and plots go to RUN_DIR/evaluations/<file>-<time>/, never to the run's own
        metrics.json. Returns (metrics, that directory).
        """
        config = self.task.config
        if columns:
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, **columns))
        self.task.config = config
        self.task.read_file(path)
        out = rundir.new_run_dir(Path(path).stem, Path(run_dir) / "evaluations")
        metrics = {"file": str(Path(path).resolve()), "fingerprint": self.task.data.fingerprint,
                   **self.task.evaluate(out, ["data"])}
        rundir.atomic_write_json(out / "metrics.json", metrics)
        return metrics, out

    def run(self, run_dir=None, overwrite=False, resume=False, runs_root="runs"):
        """Runs `config.steps` and returns a RunResult; artifacts go to the run directory."""
        if keras.backend.backend() != "tensorflow":
            raise ConfigError(f"nlp_lstm needs the TensorFlow backend of Keras; KERAS_BACKEND is "
                              f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow.")
        config = self.config
        if run_dir is None:
            run_dir, resuming = rundir.new_run_dir(config.name, runs_root), False
        else:
            resuming = rundir.prepare_run_dir(run_dir, config.hash(), overwrite, resume)
        run_dir = Path(run_dir)
        manifest = rundir.read_json(run_dir / "manifest.json") if resuming else None
        manifest = manifest or {"pipeline": config.name, "task": config.task,
                                "config_hash": config.hash(), "seed": config.seed,
                                "start_time": rundir.now(), "steps_done": [],
                                "git_commit": rundir.git_commit(Path.cwd()),
                                "versions": rundir.versions(),
                                "machine": rundir.describe_machine()}
        manifest.update(status="running", resumed=resuming)
        rundir.atomic_write_text(run_dir / "config.yaml", dump_config(config))
        rundir.atomic_write_json(run_dir / "manifest.json", manifest)
        metrics = rundir.read_json(run_dir / "metrics.json", {})
        policy = keras.mixed_precision.global_policy().name
        try:
            self._run_steps(run_dir, manifest, metrics)
        except KeyboardInterrupt:
            manifest.update(status="interrupted", end_time=rundir.now())
            rundir.atomic_write_json(run_dir / "manifest.json", manifest)
            raise
        except BaseException as err:
            manifest.update(status="failed", error=f"{type(err).__name__}: {err}"[:2000],
                            end_time=rundir.now())
            rundir.atomic_write_json(run_dir / "manifest.json", manifest)
            raise
        finally:
            keras.mixed_precision.set_global_policy(policy)
        manifest.update(status="finished", end_time=rundir.now())
        rundir.atomic_write_json(run_dir / "manifest.json", manifest)
        return RunResult(run_dir, metrics, manifest)

    def _run_steps(self, run_dir, manifest, metrics):
        config, task, timings = self.config, self.task, manifest.setdefault("timings_s", {})
        keras.utils.set_random_seed(config.seed)
        if config.train.deterministic:
            tf.config.experimental.enable_op_determinism()
        keras.mixed_precision.set_global_policy(config.train.precision)
        start = time.perf_counter()
        task.read()
        manifest["data"] = task.data_manifest()
        logger.info(task.describe_data())
        trained = "train" in manifest["steps_done"]
        if task.has_state(run_dir):
            task.load_state(run_dir, with_model=trained)
        else:
            task.adapt()
            task.save_state(run_dir)
        timings["read_and_adapt"] = round(time.perf_counter() - start, 2)
        logger.info(task.describe_stages())
        if not trained:
            task.build_model()
            manifest["cudnn"] = task.cudnn_report()
            if task.embedding_coverage:
                manifest["embeddings"] = task.embedding_coverage
            manifest["num_parameters"] = int(task.model.count_params())
            rundir.atomic_write_json(run_dir / "manifest.json", manifest)
        if "train" in config.steps and not trained:
            start = time.perf_counter()
            history = task.train(run_dir)
            timings["train"] = round(time.perf_counter() - start, 2)
            manifest["epochs_run"] = len(history.epoch)
            task.save_model(run_dir)
            plots.plot_history(run_dir / "history.csv", run_dir / "history.png",
                               task.history_metrics)
            self._done(run_dir, manifest, "train")
        for step in ("evaluate", "export"):
            if step not in config.steps:
                continue
            start = time.perf_counter()
            if step == "evaluate":
                metrics.update(task.evaluate(run_dir))
                rundir.atomic_write_json(run_dir / "metrics.json", metrics)
            else:
                manifest["export"] = task.export(run_dir)
            timings[step] = round(time.perf_counter() - start, 2)
            self._done(run_dir, manifest, step)

    @staticmethod
    def _done(run_dir, manifest, step):
        if step not in manifest["steps_done"]:
            manifest["steps_done"].append(step)
        rundir.atomic_write_json(run_dir / "manifest.json", manifest)


def build_pipeline(config: PipelineConfig):
    """The runner and its task, with the stages built and the model entry checked (no data read,
    no training)."""
    return Pipeline(config, TASKS.get(config.task).from_config(config))


def load_run(run_dir, with_data=True):
    """A Pipeline restored from a run directory (config, adapted stages, trained model)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise RunDirError(f"{run_dir} is not a run directory (no config.yaml). Pass the directory "
                          f"`nlp-lstm run` printed.")
    import yaml
    config = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")))
    task = TASKS.get(config.task)(config, None)
    task.load_state(run_dir)
    if with_data:
        task.read()
    return Pipeline(config, task)
