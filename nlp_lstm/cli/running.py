"""`nlp-lstm run`, `train`, `tune` and `config`: pipelines from YAML to run directories."""

import dataclasses
from pathlib import Path

import click

from nlp_lstm.cli.base import (SEARCH_SPACE, _echo_metrics, _library_errors, _load,
                               _progress_off_stdout, _start_tensorflow, data_dir_option, main,
                               pipeline_argument, set_option)


def _run(pipeline, overrides, data_dir, run_dir, overwrite, resume, steps=None):
    if overwrite and resume:
        raise click.UsageError("--overwrite and --resume exclude each other: --resume continues "
                               "the run in --run-dir, --overwrite deletes it. Pass one of them.")
    config = _load(pipeline, overrides, data_dir)
    if steps is not None:
        config = dataclasses.replace(config, steps=steps)
    _start_tensorflow()
    from nlp_lstm.pipeline import build_pipeline
    with _progress_off_stdout():
        result = build_pipeline(config).run(run_dir=run_dir, overwrite=overwrite, resume=resume)
    click.echo(f"run directory: {result.run_dir}")
    _echo_metrics(result.metrics)
    if "export" in result.manifest:
        click.echo(f"export: {result.manifest['export']['path']}")
    samples = sorted((Path(result.run_dir) / "samples").glob("epoch_*.txt"))
    if samples:
        click.echo(f"samples after the last epoch ({samples[-1]}):")
        click.echo(samples[-1].read_text(encoding="utf-8"))


def _run_options(func):
    for option in reversed([
            pipeline_argument, set_option, data_dir_option,
            click.option("--run-dir", type=click.Path(file_okay=False),
                         help="Run directory (default: a new runs/<pipeline>-<timestamp>/)."),
            click.option("--overwrite", is_flag=True, help="Replace a finished run in --run-dir."),
            click.option("--resume", is_flag=True,
                         help="Continue an interrupted run in --run-dir.")]):
        func = option(func)
    return func


@main.command()
@_run_options
@_library_errors
def run(pipeline, overrides, data_dir, run_dir, overwrite, resume):
    """Run a whole pipeline: read, adapt, train, evaluate and export."""
    _run(pipeline, overrides, data_dir, run_dir, overwrite, resume)


@main.command()
@_run_options
@_library_errors
def train(pipeline, overrides, data_dir, run_dir, overwrite, resume):
    """Read, adapt and train only; evaluate and export later from the run directory."""
    _run(pipeline, overrides, data_dir, run_dir, overwrite, resume, steps=["train"])


@main.command(name="tune")
@pipeline_argument
@click.option("--search", "search_path", type=SEARCH_SPACE,
              help="Search-space YAML, or a shipped one by name such as lstm_small "
                   "(default: the pipeline's tune.search_space).")
@click.option("--algorithm", type=click.Choice(["random", "grid", "hyperband", "bayesian"]),
              help="Search algorithm (default: tune.algorithm).")
@click.option("--max-trials", type=click.IntRange(min=1), help="Trials to run (tune.max_trials).")
@set_option
@data_dir_option
@click.option("--run-dir", type=click.Path(file_okay=False),
              help="Tuning run directory (default: a new runs/<pipeline>-tune-<timestamp>/). "
                   "Running the same command on it again resumes the search.")
@click.option("--overwrite", is_flag=True, help="Discard earlier trials of this exact search.")
@click.option("--retrain-best", is_flag=True,
              help="Retrain, evaluate and export the best configuration into RUN_DIR/best/.")
@click.option("--workers", type=click.IntRange(min=0), default=0,
              help="Run a keras-tuner chief and this many worker processes on this machine.")
@click.option("--oracle-host", default="127.0.0.1", show_default=True,
              help="Address the chief (oracle) listens on, with --workers.")
@_library_errors
def tune_command(pipeline, search_path, algorithm, max_trials, overrides, data_dir, run_dir,
                 overwrite, retrain_best, workers, oracle_host):
    """Search hyperparameters with keras-tuner; writes trials.csv and best_config.yaml.

    PIPELINE and --search take a YAML file or the name of a shipped one.
    """
    overrides = list(overrides)
    if algorithm:
        overrides.append(f"tune.algorithm={algorithm}")
    if max_trials:
        overrides.append(f"tune.max_trials={max_trials}")
    config = _load(pipeline, overrides, data_dir)
    _start_tensorflow()
    from nlp_lstm import rundir, tuning
    from nlp_lstm.pipeline import build_pipeline
    space, where = (tuning.read_search_space(search_path) if search_path
                    else (config.tune.search_space, config.where("tune.search_space")))
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
        summary, ranked, params = tuning.tune(build_pipeline(config), space, where, run_dir,
                                              overwrite=overwrite)
    if summary is None:
        return  # a chief or worker process of a distributed search
    click.echo(tuning.format_ranking(ranked, params))
    click.echo(f"tuning run directory: {run_dir} ({summary['completed']} trials completed, "
               f"{summary['wall_time_s']} s, tuner files {summary['disk_bytes'] / 1e6:.1f} MB)")
    click.echo(f"best config: {run_dir / 'best_config.yaml'}")
    if retrain_best:
        _run(str(run_dir / "best_config.yaml"), (), data_dir, str(run_dir / "best"),
             overwrite=True, resume=False)


@main.group()
def config():
    """Inspect pipeline configs."""


@config.command()
@pipeline_argument
@set_option
@data_dir_option
@click.option("--origin", is_flag=True,
              help="End each line with a `# file` comment naming where the value was set.")
@_library_errors
def show(pipeline, overrides, data_dir, origin):
    """Print the resolved config of PIPELINE: the keys its task uses."""
    from nlp_lstm.config import format_config
    click.echo(format_config(_load(pipeline, overrides, data_dir), origin=origin).rstrip("\n"))


@config.command()
@pipeline_argument
@set_option
@data_dir_option
@_library_errors
def validate(pipeline, overrides, data_dir):
    """Check PIPELINE: keys, types, values, stage chain and model arguments (no data read)."""
    config = _load(pipeline, overrides, data_dir)
    _start_tensorflow()
    from nlp_lstm.pipeline import build_pipeline
    build_pipeline(config)
    click.echo(f"{pipeline}: OK ({len(config.sources)} file(s): {', '.join(config.sources)})")
