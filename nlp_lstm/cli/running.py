"""`nlp-lstm run`, `train`, `reproduce` and `tune`: pipelines from YAML to run directories."""

import dataclasses
from pathlib import Path

import click

from nlp_lstm.cli.base import (
    SEARCH_SPACE,
    _echo_metrics,
    _library_errors,
    _load,
    _progress_off_stdout,
    _start_tensorflow,
    _writable_run_dir,
    data_dir_option,
    main,
    pipeline_argument,
    run_dir_argument,
    set_option,
)


def _strategy(config):
    """The run's tf.distribute strategy (None: one device) and whether this process is the chief;
    created before any other TensorFlow op, as MultiWorkerMirroredStrategy requires."""
    from nlp_lstm.errors import ConfigError
    from nlp_lstm.training import distribution as distributed

    try:
        kind = distributed.resolve(config.train.distribution)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    strategy = distributed.make_strategy(kind)
    return strategy, distributed.is_chief(strategy)


def _run(pipeline, overrides, data_dir, run_dir, overwrite, resume, steps=None):
    if overwrite and resume:
        raise click.UsageError(
            "--overwrite and --resume exclude each other: --resume continues "
            "the run in --run-dir, --overwrite deletes it. Pass one of them."
        )
    config = _load(pipeline, overrides, data_dir)
    if steps is not None:
        config = dataclasses.replace(config, steps=steps)
    _writable_run_dir(run_dir, "--run-dir")
    _start_tensorflow()
    strategy, chief = _strategy(config)
    from nlp_lstm.pipeline import build_pipeline

    if not chief:
        _run_non_chief(config, strategy, run_dir, resume)
        return
    runner = build_pipeline(config)
    runner.strategy = strategy
    with _progress_off_stdout():
        result = runner.run(run_dir=run_dir, overwrite=overwrite, resume=resume)
    click.echo(f"run directory: {result.run_dir}")
    _echo_metrics(result.metrics)
    if "export" in result.manifest:
        click.echo(f"export: {result.manifest['export']['path']}")
    samples = sorted((Path(result.run_dir) / "samples").glob("epoch_*.txt"))
    if samples:
        click.echo(f"samples after the last epoch ({samples[-1]}):")
        click.echo(samples[-1].read_text(encoding="utf-8"))


def _one_process_only(config, what):
    """`what` trains in this one process with model.fit: a distribution it cannot honour fails."""
    if config.train.distribution in ("mirrored", "multi_worker"):
        raise click.UsageError(
            f"{what} trains with model.fit in one process and cannot honour "
            f"train.distribution={config.train.distribution}. Received: train.distribution="
            f"{config.train.distribution!r}. Set it to auto or one_device."
        )


def _run_non_chief(config, strategy, run_dir, resume):
    """A worker other than the chief: trains its shard in a temporary run directory (removed at
    the end); with --resume it reads the chief's resume state from --run-dir."""
    import shutil
    import tempfile

    from nlp_lstm.pipeline import build_pipeline

    runner = build_pipeline(dataclasses.replace(config, steps=["train"]))
    runner.strategy = strategy
    if resume and run_dir:
        runner.resume_source = str(Path(run_dir) / "checkpoints" / "resume.npz")
    scratch = tempfile.mkdtemp(prefix="nlp-lstm-worker-")
    try:
        with _progress_off_stdout():
            runner.run(run_dir=str(Path(scratch) / "run"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_workers(pipeline, overrides, data_dir, run_dir, overwrite, resume, workers):
    """`run --workers N`: N processes of the same run on a loopback cluster (see
    `nlp_lstm.runs.workers.run_workers`)."""
    from nlp_lstm.errors import TrainingError
    from nlp_lstm.runs import rundir
    from nlp_lstm.runs import workers as launcher

    if overwrite and resume:
        raise click.UsageError(
            "--overwrite and --resume exclude each other: --resume continues "
            "the run in --run-dir, --overwrite deletes it. Pass one of them."
        )
    config = _load(pipeline, overrides, data_dir)
    if config.train.distribution in ("one_device", "mirrored"):
        raise click.UsageError(
            f"--workers {workers} starts a multi-worker cluster, but train.distribution is "
            f"{config.train.distribution}. Received: train.distribution="
            f"{config.train.distribution!r}. Set it to auto or multi_worker, or drop --workers."
        )
    _writable_run_dir(run_dir, "--run-dir")
    if run_dir is None:
        run_dir = str(rundir.new_run_dir(config.name))
    args = [str(pipeline), "--run-dir", str(run_dir)]
    for override in overrides:
        args += ["--set", override]
    if data_dir:
        args += ["--data-dir", str(data_dir)]
    args += ["--overwrite"] * bool(overwrite) + ["--resume"] * bool(resume)
    try:
        launcher.run_workers(args, workers, log_dir=run_dir)
    except TrainingError as err:
        # A stopped chief could not write its status; the manifest must not say "running".
        rundir.mark_failed(run_dir, err)
        raise


def _join_cluster(cluster, port, seeds, workers):
    """`run --cluster slurm`: sets TF_CONFIG from the Slurm job step's variables."""
    import os

    from nlp_lstm.runs import workers as launcher

    for flag, value in (("--workers", workers), ("--seeds", seeds)):
        if value is not None:
            raise click.UsageError(
                f"--cluster and {flag} exclude each other: --cluster joins the "
                f"cluster the job scheduler started."
            )
    if os.environ.get("TF_CONFIG"):
        raise click.UsageError(
            "--cluster slurm builds TF_CONFIG, but TF_CONFIG is already set. "
            "Unset TF_CONFIG or drop --cluster."
        )
    # Before TensorFlow opens the GPUs: the resolver may set CUDA_VISIBLE_DEVICES.
    _start_tensorflow(
        before_devices=lambda: os.environ.__setitem__("TF_CONFIG", launcher.slurm_tf_config(port))
    )


def _run_options(func):
    for option in reversed(
        [
            pipeline_argument,
            set_option,
            data_dir_option,
            click.option(
                "--run-dir",
                type=click.Path(file_okay=False),
                help="Run directory (default: a new runs/<pipeline>-<timestamp>/).",
            ),
            click.option("--overwrite", is_flag=True, help="Replace a finished run in --run-dir."),
            click.option(
                "--resume", is_flag=True, help="Continue an interrupted run in --run-dir."
            ),
        ]
    ):
        func = option(func)
    return func


@main.command()
@_run_options
@click.option(
    "--seeds",
    metavar="N|S1,S2,...",
    help="Run once per model seed on the same data split, into RUN_DIR/seed-<s>/, and "
    "report mean ± std (ddof=1), min and max of every metric in RUN_DIR/seeds.json."
    " N: the config's seed and the N-1 after it; a list: those seeds.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Train data-parallel in N processes on this machine (a loopback "
    "MultiWorkerMirroredStrategy cluster); worker 0 writes the run directory. "
    "train.batch_size stays the global batch.",
)
@click.option(
    "--cluster",
    type=click.Choice(["slurm"]),
    help="Build TF_CONFIG for this task of a Slurm job step (SlurmClusterResolver: one "
    "worker per task, task index = SLURM_PROCID) and train multi-worker. Start "
    "the same command on every task with srun.",
)
@click.option(
    "--cluster-port",
    type=click.IntRange(1, 65535),
    default=12345,
    show_default=True,
    help="With --cluster: the first port of each node; a node's k-th task listens on it plus k.",
)
@_library_errors
def run(
    pipeline, overrides, data_dir, run_dir, overwrite, resume, seeds, workers, cluster, cluster_port
):
    """Run a whole pipeline: read, adapt, train, evaluate and export."""
    if cluster is not None:
        _join_cluster(cluster, cluster_port, seeds, workers)
    if workers is not None:
        if seeds is not None:
            raise click.UsageError(
                "--workers and --seeds exclude each other: run the seeds one "
                "by one with --set seed=S --workers N."
            )
        _run_workers(pipeline, overrides, data_dir, run_dir, overwrite, resume, workers)
        return
    if seeds is None:
        _run(pipeline, overrides, data_dir, run_dir, overwrite, resume)
        return
    from nlp_lstm.runs.seeds import format_summary, parse_seeds, run_seeds

    config = _load(pipeline, overrides, data_dir)
    _one_process_only(config, "--seeds")
    seed_list = parse_seeds(seeds, config.seed)
    _writable_run_dir(run_dir, "--run-dir")
    _start_tensorflow()
    with _progress_off_stdout():
        record = run_seeds(config, seed_list, run_dir, overwrite=overwrite, resume=resume)
    click.echo(f"run directories: {record['parent']}/seed-<s> ({len(seed_list)} seeds)")
    click.echo(format_summary(record["summary"], seed_list))
    click.echo(f"seeds: {record['parent']}/seeds.json")


@main.command()
@_run_options
@_library_errors
def train(pipeline, overrides, data_dir, run_dir, overwrite, resume):
    """Read, adapt and train only; evaluate and export later from the run directory."""
    _run(pipeline, overrides, data_dir, run_dir, overwrite, resume, steps=["train"])


@main.command()
@run_dir_argument
@click.option(
    "--run-dir",
    "new_run_dir",
    type=click.Path(file_okay=False),
    help="Where the re-run goes (default: a new RUN_DIR-reproduce-<timestamp>/ beside RUN_DIR).",
)
@click.option(
    "--tolerance",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="Largest absolute difference of a metric that counts as equal.",
)
@click.option(
    "--allow-data-change",
    is_flag=True,
    help="Re-run even if the data fingerprint differs from the manifest's.",
)
@_library_errors
def reproduce(run_dir, new_run_dir, tolerance, allow_data_change):
    """Re-run the finished run in RUN_DIR from its config.yaml and compare every metric.

    Exits 1 with a table of the metrics that differ (or when the data changed); package
    versions that differ from the manifest are reported as warnings.
    """
    _writable_run_dir(new_run_dir or str(Path(run_dir).parent), "--run-dir")
    _start_tensorflow()
    from nlp_lstm.runs.reproduce import format_differences
    from nlp_lstm.runs.reproduce import reproduce as reproduce_run

    with _progress_off_stdout():
        report = reproduce_run(run_dir, new_run_dir, tolerance, allow_data_change)
    for name, (then, now) in report.version_differences.items():
        click.echo(f"version differs: {name} {then} in the manifest, {now} here")
    click.echo(f"run directory: {report.run_dir}")
    if report.added:
        click.echo(f"new metrics, not in {run_dir}: {', '.join(report.added)}")
    if not report.passed:
        click.echo(format_differences(report))
        raise click.ClickException(
            f"{len(report.differences)} of {report.compared} metrics differ "
            f"from {run_dir} (tolerance {tolerance:g}); see the table on "
            f"stdout and {report.run_dir}/reproduce.json."
        )
    data = "unchanged" if report.fingerprint[0] == report.fingerprint[1] else "CHANGED"
    click.echo(
        f"reproduced: all {report.compared} metrics of {run_dir} match (tolerance "
        f"{tolerance:g}); data fingerprint {data}"
    )


@main.command(name="tune")
@pipeline_argument
@click.option(
    "--search",
    "search_path",
    type=SEARCH_SPACE,
    help="Search-space YAML, or a shipped one by name such as lstm_small "
    "(default: the pipeline's tune.search_space).",
)
@click.option(
    "--algorithm",
    type=click.Choice(["random", "grid", "hyperband", "bayesian"]),
    help="Search algorithm (default: tune.algorithm).",
)
@click.option("--max-trials", type=click.IntRange(min=1), help="Trials to run (tune.max_trials).")
@set_option
@data_dir_option
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False),
    help="Tuning run directory (default: a new runs/<pipeline>-tune-<timestamp>/). "
    "Running the same command on it again resumes the search.",
)
@click.option("--overwrite", is_flag=True, help="Discard earlier trials of this exact search.")
@click.option(
    "--retrain-best",
    is_flag=True,
    help="Retrain, evaluate and export the best configuration into RUN_DIR/best/.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    help="Run a keras-tuner chief and this many worker processes on this machine.",
)
@click.option(
    "--oracle-host",
    default="127.0.0.1",
    show_default=True,
    help="Address the chief (oracle) listens on, with --workers.",
)
@_library_errors
def tune_command(
    pipeline,
    search_path,
    algorithm,
    max_trials,
    overrides,
    data_dir,
    run_dir,
    overwrite,
    retrain_best,
    workers,
    oracle_host,
):
    """Search hyperparameters with keras-tuner; writes trials.csv and best_config.yaml.

    PIPELINE and --search take a YAML file or the name of a shipped one.
    """
    overrides = list(overrides)
    if algorithm:
        overrides.append(f"tune.algorithm={algorithm}")
    if max_trials:
        overrides.append(f"tune.max_trials={max_trials}")
    config = _load(pipeline, overrides, data_dir)
    _one_process_only(config, "tune")
    _writable_run_dir(run_dir, "--run-dir")
    _start_tensorflow()
    from nlp_lstm.pipeline import build_pipeline
    from nlp_lstm.runs import rundir, search_space, tuning

    space, where = (
        search_space.read_search_space(search_path)
        if search_path
        else (config.tune.search_space, config.where("tune.search_space"))
    )
    run_dir = Path(run_dir) if run_dir else rundir.new_run_dir(f"{config.name}-tune")
    # One writer per tuning directory; a distributed search's chief and workers run under the
    # lock of the parent that started them.
    if not tuning.is_distributed_child():
        click.get_current_context().call_on_close(rundir.RunDirLock(run_dir).acquire().release)
    if workers:
        child = [str(pipeline), "--run-dir", str(run_dir)] + [f"--set={o}" for o in overrides]
        child += ["--search", str(search_path)] if search_path else []
        child += ["--data-dir", data_dir] if data_dir else []
        child += ["--overwrite"] if overwrite else []
        tuning.run_distributed(child, workers, host=oracle_host)
        overwrite = False  # the parent reloads the project the chief wrote, and finishes it
    with _progress_off_stdout():
        summary, ranked, params = tuning.tune(
            build_pipeline(config), space, where, run_dir, overwrite=overwrite
        )
    if summary is None:
        return  # a chief or worker process of a distributed search
    click.echo(tuning.format_ranking(ranked, params))
    click.echo(
        f"tuning run directory: {run_dir} ({summary['completed']} trials completed, "
        f"{summary['wall_time_s']} s, tuner files {summary['disk_bytes'] / 1e6:.1f} MB)"
    )
    click.echo(f"best config: {run_dir / 'best_config.yaml'}")
    if retrain_best:
        _run(
            str(run_dir / "best_config.yaml"),
            (),
            data_dir,
            str(run_dir / "best"),
            overwrite=True,
            resume=False,
        )
