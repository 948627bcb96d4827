"""The `nlp-lstm` command line: run pipelines, single steps, predictions, serving, configs.

Results go to stdout, progress to stderr through the `nlp_lstm` logger (set up once by the group).
Arguments and configs are checked before TensorFlow is imported. Exit codes: 0 success, 1 a user
or data error (one line, no traceback), 2 a usage error. This package is the only part of
nlp_lstm that imports click.
"""

from nlp_lstm.cli import configs, running, using  # noqa: F401  (registers their commands)
from nlp_lstm.cli.base import main

__all__ = ["main"]
