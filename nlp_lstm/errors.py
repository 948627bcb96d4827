"""Error types. Each message says what is wrong, the value received, and how to fix it."""


class NlpLstmError(Exception):
    """Base class of every error nlp_lstm raises on purpose."""


class ConfigError(NlpLstmError, ValueError):
    """A pipeline config, a config fragment or a `--set` override is invalid."""


class InputDataError(NlpLstmError, ValueError):
    """Input data cannot be read or does not have the expected shape.

    Args:
        message: str. What is wrong and how to fix it.
        path: str or None. The file or folder at fault.
        line: int or None. The 1-based line (or row) at fault.
        column: str or None. The column at fault.
    """

    def __init__(self, message, path=None, line=None, column=None):
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        where = []
        if self.path is not None:
            where.append(self.path if line is None else f"{self.path}:{line}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)


class ExportError(NlpLstmError, RuntimeError):
    """A model cannot be exported or an export cannot be loaded."""


class RunDirError(NlpLstmError, RuntimeError):
    """A run directory is missing, incomplete, or would be overwritten."""


class TrainingError(NlpLstmError, RuntimeError):
    """Training cannot go on, such as a loss that became NaN or infinite."""
