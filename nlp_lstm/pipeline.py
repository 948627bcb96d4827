"""The runner every task shares: seeds, run directory, manifest, step order and resume.

seed -> read -> adapt (train split) -> build model -> train -> evaluate -> export, with the
resolved config, the manifest and the metrics written into the run directory as it goes. What each
step does is the task's business: the runner finds the task by `config.task` in the task registry
and imports no task module.
"""

import dataclasses
import logging
import shutil
import time
from pathlib import Path

import keras
import tensorflow as tf

from nlp_lstm import artifacts
from nlp_lstm.config.loading import PipelineConfig, config_from_dict, dump_config
from nlp_lstm.errors import ConfigError, RunDirError
from nlp_lstm.runs import rundir
from nlp_lstm.tasks import task_for
from nlp_lstm.training import distribution as distributed
from nlp_lstm.training.history import plot_history
from nlp_lstm.training.trainers import trainer_for

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
        task: Task. Built from the same config (`task_for(config).from_config(config)`).
    """

    def __init__(self, config, task):
        self.config = config
        self.task = task
        self.lock = None  # the run directory's RunDirLock, when `load_run` took it
        self.strategy = None  # a tf.distribute strategy (`distributed.make_strategy`), or None
        self.resume_source = None  # a non-chief worker: the chief's checkpoints/resume.npz

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
        metrics = {
            "file": str(Path(path).resolve()),
            "fingerprint": self.task.data.fingerprint,
            **self.task.evaluate(out, ["data"]),
        }
        artifacts.atomic_write_json(out / "metrics.json", metrics)
        return metrics, out

    def run(self, run_dir=None, overwrite=False, resume=False, runs_root="runs"):
        """Runs `config.steps` and returns a RunResult; artifacts go to the run directory.

        The process holds the run directory's lock (`rundir.RunDirLock`) from the start to the
        end, so a second writer fails at once. A run that fails before training starts (a data
        error, say) in a directory this call created itself, removes that directory again; in an
        explicit --run-dir it leaves the manifest with status "failed" and the error.
        """
        if keras.backend.backend() != "tensorflow":
            raise ConfigError(
                f"nlp_lstm needs the TensorFlow backend of Keras; KERAS_BACKEND is "
                f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow."
            )
        if overwrite and resume:
            raise RunDirError(
                "--overwrite and --resume exclude each other: --resume continues "
                "the run in --run-dir, --overwrite deletes it. Pass one of them."
            )
        config = self.config
        created = run_dir is None or not Path(run_dir).exists()
        if run_dir is None:
            run_dir = rundir.new_run_dir(config.name, runs_root)
        lock = rundir.RunDirLock(run_dir).acquire()
        try:
            return self._run_locked(Path(run_dir), created, overwrite, resume)
        finally:
            lock.release()

    def _run_locked(self, run_dir, created, overwrite, resume):
        config = self.config
        try:
            resuming = rundir.prepare_run_dir(run_dir, config.hash(), overwrite, resume)
        except RunDirError:
            if created:
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        rundir.clean_leftovers(run_dir)
        manifest = artifacts.read_json(run_dir / "manifest.json") if resuming else None
        manifest = manifest or {
            "pipeline": config.name,
            "task": config.task,
            "config_hash": config.hash(),
            "seed": config.seed,
            "start_time": rundir.now(),
            "steps_done": [],
            "git_commit": rundir.git_commit(Path.cwd()),
            "versions": rundir.versions(),
            "machine": rundir.describe_machine(),
        }
        manifest.update(status="running", resumed=resuming)
        manifest.pop("error", None)
        manifest.pop("end_time", None)
        artifacts.atomic_write_text(run_dir / "config.yaml", dump_config(config))
        artifacts.atomic_write_json(run_dir / "manifest.json", manifest)
        metrics = artifacts.read_json(run_dir / "metrics.json", {})
        policy = keras.mixed_precision.global_policy().name
        self._training_started = False
        try:
            self._run_steps(run_dir, manifest, metrics)
        except KeyboardInterrupt:
            manifest.update(status="interrupted", end_time=rundir.now())
            artifacts.atomic_write_json(run_dir / "manifest.json", manifest)
            raise
        except BaseException as err:
            if created and not self._training_started and not manifest["steps_done"]:
                logger.info("Removing %s: the run failed before training.", run_dir)
                shutil.rmtree(run_dir, ignore_errors=True)
                raise
            artifacts.atomic_write_json(
                run_dir / "manifest.json", rundir.record_failure(manifest, err)
            )
            raise
        finally:
            keras.mixed_precision.set_global_policy(policy)
        manifest.update(status="finished", end_time=rundir.now())
        artifacts.atomic_write_json(run_dir / "manifest.json", manifest)
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
            if self.strategy is not None:
                with self.strategy.scope():
                    task.build_model()
            else:
                task.build_model()
            manifest["cudnn"] = task.cudnn_report()
            if task.embedding_coverage:
                manifest["embeddings"] = task.embedding_coverage
            manifest["num_parameters"] = int(task.model.count_params())
            manifest["distribution"] = distributed.describe(self.strategy)
            artifacts.atomic_write_json(run_dir / "manifest.json", manifest)
        if "train" in config.steps and not trained:
            start = time.perf_counter()
            self._training_started = True
            history = trainer_for(task, self.strategy, self.resume_source).train(run_dir)
            if self.strategy is not None:
                # Evaluation, export and the saved model use a plain copy, outside the strategy.
                weights = task.model.get_weights()
                task.build_model()
                task.model.set_weights(weights)
            timings["train"] = round(time.perf_counter() - start, 2)
            # All epochs, counting those an interrupted earlier process finished.
            manifest["epochs_run"] = getattr(history, "epochs_done", len(history.epoch))
            task.save_model(run_dir)
            plot_history(run_dir / "history.csv", run_dir / "history.png", task.history_metrics)
            self._done(run_dir, manifest, "train")
        for step in ("evaluate", "export"):
            if step not in config.steps:
                continue
            start = time.perf_counter()
            if step == "evaluate":
                metrics.update(task.evaluate(run_dir))
                artifacts.atomic_write_json(run_dir / "metrics.json", metrics)
            else:
                manifest["export"] = task.export(run_dir)
            timings[step] = round(time.perf_counter() - start, 2)
            self._done(run_dir, manifest, step)

    @staticmethod
    def _done(run_dir, manifest, step):
        if step not in manifest["steps_done"]:
            manifest["steps_done"].append(step)
        artifacts.atomic_write_json(run_dir / "manifest.json", manifest)


def build_pipeline(config: PipelineConfig):
    """The runner and its task, with the stages built and the model entry checked (no data read,
    no training)."""
    return Pipeline(config, task_for(config).from_config(config))


def load_run(run_dir, with_data=True, lock=True):
    """A Pipeline restored from a run directory (config, adapted stages, trained model).

    With `lock`, the returned Pipeline holds the directory's lock (`pipeline.lock`) until it is
    released or the process ends, since `evaluate` and `export` write into the directory; a run
    directory in use by another process raises RunDirError.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise RunDirError(
            f"{run_dir} is not a run directory (no config.yaml). Pass the directory "
            f"`nlp-lstm run` printed."
        )
    held = rundir.RunDirLock(run_dir).acquire() if lock else None
    if held is not None:
        rundir.clean_leftovers(run_dir)
    import yaml

    config = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")))
    task = task_for(config)(config, None)
    task.load_state(run_dir)
    if with_data:
        task.read()
    pipeline = Pipeline(config, task)
    pipeline.lock = held
    return pipeline
