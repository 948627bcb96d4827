"""The `nlp-lstm` group and what its commands share: logging, quiet TensorFlow, errors, options.

Results go to stdout, progress to stderr through the `nlp_lstm` logger (set up once by the group).
Arguments and configs are checked before TensorFlow is imported. Exit codes: 0 success, 1 a user
or data error (one line, no traceback), 2 a usage error.
"""

import contextlib
import errno
import functools
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
    # absl's logging calls logging.basicConfig() when the root logger has no handler (TensorFlow
    # logs through absl mid-run), after which every record would also print as "INFO:nlp_lstm...".
    package_logger.propagate = False
    context = click.get_current_context(silent=True)
    if context is not None:  # in-process callers (CliRunner, tests) get propagation back
        context.call_on_close(lambda: setattr(package_logger, "propagate", True))


def _import_tensorflow_quietly(verbose, before_devices=None):
    """Imports TensorFlow, TF-Text and Keras with their start-up logs hidden unless `verbose`.

    TF_CPP_MIN_LOG_LEVEL=3 filters the C++ logs once absl's logging is initialized, but what comes
    before (oneDNN and CPU-feature notices, "failed call to cuInit", "All log messages before
    absl::InitializeLog()") goes straight to fd 2. So fd 2 points at a temporary file while the
    libraries load and the GPUs are probed, and that file is replayed if the import fails.
    """
    if verbose or "tensorflow" in sys.modules:
        import tensorflow  # noqa: F401

        if before_devices is not None:
            before_devices()
    else:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # keras-tuner's distributed mode: gRPC
        sys.stderr.flush()
        with tempfile.TemporaryFile() as captured:
            saved_fd = os.dup(2)
            os.dup2(captured.fileno(), 2)
            imported, failure = False, None
            try:
                import keras  # noqa: F401
                import tensorflow as tf
                import tensorflow_text  # noqa: F401

                try:
                    if before_devices is not None:
                        before_devices()
                except NlpLstmError as err:  # reported after fd 2 is back, without the logs
                    failure = err
                # The CUDA probe (cuInit) logs when devices are first listed, not at import.
                tf.config.list_physical_devices("GPU")
                imported = True
            finally:
                os.dup2(saved_fd, 2)
                os.close(saved_fd)
                if not imported:
                    captured.seek(0)
                    sys.stderr.write(captured.read().decode("utf-8", errors="replace"))
            if failure is not None:
                raise failure
    if not verbose:  # TensorFlow's and absl's Python loggers: errors only
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _group_flag(name):
    return click.get_current_context().find_root().params.get(name, False)


def _start_tensorflow(before_devices=None):
    """Imports TensorFlow for the running command, quietly unless the group was given -v;
    `before_devices()` runs once TensorFlow is imported, before it opens the devices."""
    verbose = _group_flag("verbose")
    if not verbose:
        # `datasets` draws a progress bar per file it reads; the run's own log says what it read.
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    _import_tensorflow_quietly(verbose, before_devices)


@contextlib.contextmanager
def _progress_off_stdout():
    """Keras' and keras-tuner's stdout prints (progress, trials) go to stderr; with -q nowhere."""
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        with contextlib.redirect_stdout(devnull if _group_flag("quiet") else sys.stderr):
            yield


_PATH_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENAMETOOLONG,
}


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
        except OSError as err:
            # A run directory (or a file in it) that cannot be written, found only mid-run; the
            # commands check their run directory up front (rundir.check_writable) where they can.
            if err.errno not in _PATH_ERRNOS or err.filename is None:
                raise
            raise click.ClickException(
                f"{err.strerror}: {err.filename}. Check that path and its "
                f"permissions; a run directory must be writable."
            ) from None
        except KeyboardInterrupt:
            logger.warning("\nInterrupted. Continue with --resume and the same --run-dir.")
            sys.exit(130)

    return wrapper


def _writable_run_dir(run_dir, option=None):
    """A one-line error, before TensorFlow loads, when files cannot be written in `run_dir`."""
    from nlp_lstm.runs import rundir

    if option is None:  # an existing RUN_DIR argument (evaluate, export)
        rundir.check_writable(
            run_dir,
            "Run directory",
            f"Make it writable (chmod -R u+w {run_dir}) or work on a copy of it.",
        )
    elif run_dir is None:  # the default runs/<name>-<timestamp>/ under the working directory
        rundir.check_writable(
            "runs", "The default run folder", f"Run from a writable folder or pass {option}."
        )
    else:
        rundir.check_writable(run_dir, option, f"Choose another {option}.")


def _load(pipeline, overrides, data_dir):
    from nlp_lstm.config.loading import load_config

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


class _Utf8Text(click.ParamType):
    """A string argument that must be valid UTF-8.

    Python decodes argv with surrogateescape, so bytes that are not UTF-8 arrive as lone
    surrogates (U+DC80..U+DCFF) that TensorFlow, YAML and JSON cannot encode later.
    """

    name = "text"

    def convert(self, value, param, ctx):
        bad = next((i for i, char in enumerate(value) if "\udc80" <= char <= "\udcff"), None)
        if bad is not None:
            raw = os.fsencode(value)
            self.fail(
                f"{raw!r} is not valid UTF-8 (byte 0x{ord(value[bad]) - 0xDC00:02x} at "
                f"character {bad}). Pass it as UTF-8 (check the encoding of the terminal or "
                f"script that gave it).",
                param,
                ctx,
            )
        return value


TEXT = _Utf8Text()
PIPELINE = _PresetOrFile("pipeline", presets.resolve_pipeline)
SEARCH_SPACE = _PresetOrFile("search space", presets.resolve_search_space)
pipeline_argument = click.argument("pipeline", type=PIPELINE)
set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    type=TEXT,
    help="Override a config value, e.g. --set train.epochs=3 (repeatable).",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help=f"Data root that replaces {{data_dir}} in paths (default: ${DATA_DIR_ENV}).",
)
run_dir_argument = click.argument("run_dir", type=click.Path(exists=True, file_okay=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nlp_lstm")
@click.option("-q", "--quiet", is_flag=True, help="Show only warnings and errors on stderr.")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show debug messages, and TensorFlow's own start-up and C++ logs.",
)
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


def _echo_metrics(metrics, splits=None):
    """One line per split: its scalar metrics (key=value)."""
    for split, values in metrics.items():
        if splits is None or split in splits:
            shown = ", ".join(
                f"{k}={v}"
                for k, v in values.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            )
            click.echo(f"{split}: {shown}")
