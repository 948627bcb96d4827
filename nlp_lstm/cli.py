"""The `nlp-lstm` command line: run pipelines, single steps, predictions and config inspection.

Results go to stdout, progress to stderr through the `nlp_lstm` logger (set up once by the group).
Arguments and configs are checked before TensorFlow is imported. Exit codes: 0 success, 1 a user
or data error (one line, no traceback), 2 a usage error.
"""

import contextlib
import functools
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import click

from nlp_lstm import presets
from nlp_lstm.errors import ConfigError, NlpLstmError

DATA_DIR_ENV = "NLP_LSTM_DATA_DIR"
logger = logging.getLogger(__name__)


class _EchoHandler(logging.Handler):
    """Writes log records to the stderr of the moment, through click (so CliRunner sees them)."""

    def emit(self, record):
        try:
            click.echo(self.format(record), err=True)
        except (OSError, ValueError):
            self.handleError(record)


def _configure_logging(level):
    """One plain stderr handler on the `nlp_lstm` logger; replaces the one a previous call set."""
    package_logger = logging.getLogger("nlp_lstm")
    for handler in [h for h in package_logger.handlers if isinstance(h, _EchoHandler)]:
        package_logger.removeHandler(handler)
    handler = _EchoHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    package_logger.addHandler(handler)
    package_logger.setLevel(level)


def _import_tensorflow_quietly(verbose):
    """Imports TensorFlow, TF-Text and Keras with their start-up logs hidden unless `verbose`.

    TF_CPP_MIN_LOG_LEVEL=3 filters the C++ logs once absl's logging is initialized, but what comes
    before (oneDNN and CPU-feature notices, "failed call to cuInit", "All log messages before
    absl::InitializeLog()") goes straight to fd 2. So fd 2 points at a temporary file while the
    libraries load and the GPUs are probed, and that file is replayed if the import fails.
    """
    if verbose or "tensorflow" in sys.modules:
        import tensorflow  # noqa: F401
    else:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # keras-tuner's distributed mode: gRPC
        sys.stderr.flush()
        with tempfile.TemporaryFile() as captured:
            saved_fd = os.dup(2)
            os.dup2(captured.fileno(), 2)
            imported = False
            try:
                import keras  # noqa: F401
                import tensorflow as tf
                import tensorflow_text  # noqa: F401
                # The CUDA probe (cuInit) logs when devices are first listed, not at import.
                tf.config.list_physical_devices("GPU")
                imported = True
            finally:
                os.dup2(saved_fd, 2)
                os.close(saved_fd)
                if not imported:
                    captured.seek(0)
                    sys.stderr.write(captured.read().decode("utf-8", errors="replace"))
    if not verbose:  # TensorFlow's and absl's Python loggers: errors only
        import absl.logging
        absl.logging.set_verbosity(absl.logging.ERROR)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _group_flag(name):
    return click.get_current_context().find_root().params.get(name, False)


def _start_tensorflow():
    """Imports TensorFlow for the running command, quietly unless the group was given -v."""
    _import_tensorflow_quietly(_group_flag("verbose"))


@contextlib.contextmanager
def _progress_off_stdout():
    """Keras' and keras-tuner's stdout prints (progress, trials) go to stderr; with -q nowhere."""
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        with contextlib.redirect_stdout(devnull if _group_flag("quiet") else sys.stderr):
            yield


def _library_errors(func):
    """Turns library errors into one-line ClickExceptions (exit code 1)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except NlpLstmError as err:
            raise click.ClickException(str(err)) from None
        except ImportError as err:
            if "pip install" not in str(err):
                raise
            raise click.ClickException(str(err)) from None
        except KeyboardInterrupt:
            logger.warning("\nInterrupted. Continue with --resume and the same --run-dir.")
            sys.exit(130)
    return wrapper


def _load(pipeline, overrides, data_dir):
    from nlp_lstm.config import load_config
    return load_config(pipeline, overrides, data_dir or os.environ.get(DATA_DIR_ENV))


class _PresetOrFile(click.ParamType):
    """A YAML file, or the name of one that ships in `nlp_lstm.presets` (a file wins)."""

    def __init__(self, kind, resolve):
        self.name = kind
        self._resolve = resolve

    def convert(self, value, param, ctx):
        try:
            return value if isinstance(value, Path) else self._resolve(value)
        except ConfigError as err:
            self.fail(str(err), param, ctx)


PIPELINE = _PresetOrFile("pipeline", presets.resolve_pipeline)
SEARCH_SPACE = _PresetOrFile("search space", presets.resolve_search_space)
pipeline_argument = click.argument("pipeline", type=PIPELINE)
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override a config value, e.g. --set train.epochs=3 (repeatable).")
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False),
                               help=f"Data root that replaces {{data_dir}} in paths "
                                    f"(default: ${DATA_DIR_ENV}).")
run_dir_argument = click.argument("run_dir", type=click.Path(exists=True, file_okay=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nlp_lstm")
@click.option("-q", "--quiet", is_flag=True, help="Show only warnings and errors on stderr.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show debug messages, and TensorFlow's own start-up and C++ logs.")
def main(quiet, verbose):
    """LSTM NLP pipelines from YAML: train, evaluate, export and serve.

    PIPELINE arguments take a YAML file or the name of a pipeline that ships with nlp_lstm
    (`nlp-lstm pipelines` lists them). Results go to stdout, progress to stderr.
    """
    if quiet and verbose:
        raise click.UsageError("-q/--quiet and -v/--verbose exclude each other.")
    _configure_logging(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


@main.command(name="pipelines")
def pipelines_command():
    """List the pipelines that ship with nlp_lstm (run one: nlp-lstm run NAME)."""
    names = presets.pipeline_names()
    width = max(len(name) for name in names)
    for name in names:
        click.echo(f"{name:<{width}}  {presets.describe_pipeline(presets.find_pipeline(name))}")


def _run(pipeline, overrides, data_dir, run_dir, overwrite, resume, steps=None):
    import dataclasses

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


def _echo_metrics(metrics, splits=None):
    """One line per split: its scalar metrics (key=value)."""
    for split, values in metrics.items():
        if splits is None or split in splits:
            shown = ", ".join(f"{k}={v}" for k, v in values.items()
                              if isinstance(v, (int, float)) and not isinstance(v, bool))
            click.echo(f"{split}: {shown}")


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


@main.command()
@run_dir_argument
@click.option("--split", "splits", multiple=True, type=click.Choice(["train", "validation", "test"]),
              help="Split to score (repeatable; default: the config's evaluate.splits).")
@_library_errors
def evaluate(run_dir, splits):
    """Score a trained run on its splits; updates RUN_DIR/metrics.json."""
    _start_tensorflow()
    from nlp_lstm import rundir
    from nlp_lstm.pipeline import load_run
    pipeline = load_run(run_dir)
    metrics = rundir.read_json(Path(run_dir) / "metrics.json", {})
    with _progress_off_stdout():
        scored = pipeline.evaluate(run_dir, list(splits) or None)
    metrics.update(scored)
    rundir.atomic_write_json(Path(run_dir) / "metrics.json", metrics)
    _echo_metrics(scored)


@main.command(name="export")
@run_dir_argument
@_library_errors
def export_command(run_dir):
    """Export a trained run as a SavedModel into RUN_DIR/export/."""
    _start_tensorflow()
    from nlp_lstm.pipeline import load_run
    with _progress_off_stdout():
        summary = load_run(run_dir).export(run_dir)
    click.echo(f"export: {summary['path']} (signature {summary['signature']})")


def _read_inputs(path, column):
    from nlp_lstm.errors import InputDataError
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            texts = []
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        texts.append(json.loads(line)[column])
                    except (json.JSONDecodeError, KeyError, TypeError) as err:
                        raise InputDataError(f"expected a JSON object with key {column!r} "
                                             f"({err}).", path=path, line=number) from err
            return texts
        if suffix in (".csv", ".tsv"):
            import csv
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
                if column not in (reader.fieldnames or []):
                    raise InputDataError(f"no column {column!r}; columns: {reader.fieldnames}. "
                                         f"Pass --column.", path=path)
                return [row[column] for row in reader]
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise InputDataError("the file is not UTF-8 text.", path=path) from err


@main.command()
@click.argument("target", type=click.Path(exists=True, file_okay=False))
@click.argument("texts", nargs=-1)
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False),
              help="Read texts from a .txt (one per line), .csv/.tsv or .jsonl file.")
@click.option("--column", default="text", show_default=True, help="Text column for csv/jsonl input.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--beam-size", type=click.IntRange(min=1),
              help="Translation: beam size (1 decodes greedily; default: the export's).")
@click.option("--max-length", type=click.IntRange(min=1),
              help="Translation: most output tokens (default: the export's).")
@_library_errors
def predict(target, texts, input_path, column, as_json, batch_size, beam_size, max_length):
    """Classify or translate TEXTS with a run directory or an exported SavedModel (TARGET)."""
    texts = list(texts) + (_read_inputs(input_path, column) if input_path else [])
    if not texts:
        raise click.UsageError("Give texts as arguments or --input FILE.")
    _start_tensorflow()
    from nlp_lstm.errors import ExportError
    from nlp_lstm.export import load_export
    model = load_export(target)
    translator = "translate" in model.signatures
    if not translator and "serving_default" not in model.signatures:
        raise ExportError(f"{target} is not a classifier or translator export (its signatures: "
                          f"{', '.join(model.signatures)}). Use `nlp-lstm generate` for language "
                          f"models.")
    if not translator and (beam_size or max_length):
        raise click.UsageError("--beam-size and --max-length are for translation exports.")
    rows = (_translate_rows(model, texts, batch_size, beam_size, max_length) if translator
            else _classify_rows(model.signatures["serving_default"], texts, batch_size))
    if as_json or not sys.stdout.isatty():
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
    elif translator:
        for row in rows:
            click.echo(row["translation"])
    else:
        width = min(max(len(r["text"]) for r in rows), 60)
        click.echo(f"{'text':<{width}}  {'label':<12} probability")
        for row in rows:
            text = row["text"] if len(row["text"]) <= width else row["text"][:width - 1] + "…"
            click.echo(f"{text:<{width}}  {row['label']:<12} {row['probability']:.4f}")


def _classify_rows(signature, texts, batch_size):
    """{"text", "label", "probability", "probabilities"} per text, from a classifier export."""
    import tensorflow as tf
    rows = []
    for start in range(0, len(texts), batch_size):
        batch = texts[start:start + batch_size]
        out = signature(text=tf.constant(batch))
        labels = [b.decode() for b in out["label"].numpy()]
        for text, label, probs in zip(batch, labels, out["probabilities"].numpy()):
            rows.append({"text": text, "label": label, "probability": round(float(probs.max()), 4),
                         "probabilities": [round(float(p), 4) for p in probs]})
    return rows


def _translate_rows(model, texts, batch_size, beam_size, max_length):
    """{"text", "translation", "score"} per text, from a translator export."""
    import tensorflow as tf
    rows = []
    for start in range(0, len(texts), batch_size):
        batch = tf.constant(texts[start:start + batch_size])
        if beam_size is None and max_length is None:
            out = model.signatures["translate"](text=batch)
        else:
            beam = beam_size or int(model.default_beam_size.numpy())
            length = max_length or int(model.default_max_length.numpy())
            out = model.signatures["translate_with_options"](
                text=batch, beam_size=tf.constant(beam), max_length=tf.constant(length))
        for text, translation, score in zip(texts[start:start + batch_size],
                                            out["translation"].numpy(), out["score"].numpy()):
            rows.append({"text": text, "translation": translation.decode("utf-8"),
                         "score": round(float(score), 4)})
    return rows


@main.command()
@click.argument("target", type=click.Path(exists=True, file_okay=False))
@click.option("--prompt", "prompts", multiple=True, default=[""],
              help="Text to continue (repeatable; default: an empty prompt).")
@click.option("-n", "--max-new-tokens", default=200, show_default=True,
              type=click.IntRange(min=0), help="Tokens (characters for char models) to generate.")
@click.option("--temperature", default=1.0, show_default=True, type=click.FloatRange(min=0.0),
              help="0 is greedy; higher is more random.")
@click.option("--top-k", default=0, show_default=True, type=click.IntRange(min=0),
              help="Sample among the k most likely tokens (0: all).")
@click.option("--top-p", default=1.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Sample among the most likely tokens holding this much probability.")
@click.option("--seed", default=0, show_default=True, type=int, help="The same seed gives the same text.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per prompt.")
@_library_errors
def generate(target, prompts, max_new_tokens, temperature, top_k, top_p, seed, as_json):
    """Generate text with a language-model run directory or its exported SavedModel (TARGET)."""
    _start_tensorflow()
    from nlp_lstm.errors import ExportError
    from nlp_lstm.export import load_export
    import tensorflow as tf
    model = load_export(target)
    if "generate" not in model.signatures:
        raise ExportError(f"{target} is not a language model export (it has no `generate` "
                          f"signature). Use `nlp-lstm predict` for classifiers.")
    out = model.signatures["generate"](
        prompt=tf.constant(list(prompts)), max_new_tokens=tf.constant(max_new_tokens),
        temperature=tf.constant(temperature, tf.float32), top_k=tf.constant(top_k),
        top_p=tf.constant(top_p, tf.float32), seed=tf.constant(seed, tf.int64))
    for prompt, text in zip(prompts, out["text"].numpy()):
        text = text.decode("utf-8", errors="replace")
        click.echo(json.dumps({"prompt": prompt, "text": text}, ensure_ascii=False)
                   if as_json else prompt + text)


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


if __name__ == "__main__":
    main()
