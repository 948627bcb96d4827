"""The pipelines and config fragments that ship with the package, found by name.

`pipelines/*.yaml` are runnable pipelines; `configs/**.yaml` are the fragments they compose
(`compose: ../configs/...`, relative to the pipeline file), including the search spaces in
`configs/search/`. The files are package data, so `nlp-lstm run quickstart_classify` works after
a plain `pip install` from any directory.

Example:

>>> from nlp_lstm import presets
>>> "quickstart_classify" in presets.pipeline_names()
True
>>> presets.find_pipeline("quickstart_classify").name
'quickstart_classify.yaml'
>>> presets.find_search_space("lstm_small").name
'lstm_small.yaml'
>>> presets.resolve_pipeline("quickstart_classify") == presets.find_pipeline("quickstart_classify")
True
"""

import difflib
import os
from pathlib import Path

from nlp_lstm.errors import ConfigError

PRESETS_DIR = Path(__file__).resolve().parent
PIPELINES_DIR = PRESETS_DIR / "pipelines"
SEARCH_SPACES_DIR = PRESETS_DIR / "configs" / "search"

__all__ = [
    "describe_pipeline",
    "find_pipeline",
    "find_search_space",
    "pipeline_names",
    "resolve_pipeline",
    "resolve_search_space",
    "search_space_names",
]


def _names(folder):
    return sorted(path.stem for path in folder.glob("*.yaml"))


def _find(folder, name, kind, listing):
    path = folder / f"{name}.yaml"
    if path.is_file():
        return path
    names = _names(folder)
    close = difflib.get_close_matches(str(name), names, n=1)
    hint = f"Did you mean '{close[0]}'? " if close else ""
    raise ConfigError(
        f"No file and no shipped {kind} is called {name!r}. Received: "
        f"{kind.replace(' ', '_')}={name!r}. {hint}Give a YAML path or one of the "
        f"shipped {kind}s: {', '.join(names)} ({listing})."
    )


def pipeline_names():
    """The names of the shipped pipelines (file stems, sorted), e.g. "quickstart_classify"."""
    return _names(PIPELINES_DIR)


def find_pipeline(name):
    """The path of the shipped pipeline `name`.

    Args:
        name: str. A name from `pipeline_names()`, without `.yaml`.

    Raises:
        ConfigError: no such pipeline ships; the message lists the shipped names.
    """
    return _find(PIPELINES_DIR, name, "pipeline", "see `nlp-lstm pipelines`")


def search_space_names():
    """The names of the shipped search spaces (`configs/search/*.yaml`), e.g. "lstm_small"."""
    return _names(SEARCH_SPACES_DIR)


def find_search_space(name):
    """The path of the shipped search space `name`.

    Args:
        name: str. A name from `search_space_names()`, without `.yaml`.

    Raises:
        ConfigError: no such search space ships; the message lists the shipped names.
    """
    return _find(SEARCH_SPACES_DIR, name, "search space", "in nlp_lstm/presets/configs/search")


def _resolve(value, kind, find, names):
    path = Path(value).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise ConfigError(
            f"{value} is not a file. Received: {kind.replace(' ', '_')}={value!r}. "
            f"Give a {kind} YAML file or the name of a shipped {kind}."
        )
    if path.suffix in (".yaml", ".yml") or "/" in str(value) or os.sep in str(value):
        raise ConfigError(
            f"File {str(value)!r} does not exist. Give a {kind} YAML file or the "
            f"name of a shipped {kind}: {', '.join(names())}."
        )
    return find(str(value))


def resolve_pipeline(name_or_path):
    """A pipeline file: `name_or_path` itself if it is a file, else the shipped pipeline by name.

    Args:
        name_or_path: str or Path. A YAML path, or a name from `pipeline_names()`.

    Raises:
        ConfigError: neither a file nor a shipped name (a path-like value is reported as a
            missing file); the message lists the shipped names.
    """
    return _resolve(name_or_path, "pipeline", find_pipeline, pipeline_names)


def resolve_search_space(name_or_path):
    """A search-space file: `name_or_path` if it is a file, else the shipped space by name.

    Args:
        name_or_path: str or Path. A YAML path, or a name from `search_space_names()`.

    Raises:
        ConfigError: neither a file nor a shipped name; the message lists the shipped names.
    """
    return _resolve(name_or_path, "search space", find_search_space, search_space_names)


def describe_pipeline(path):
    """One line about a pipeline file: its first comment line, else its `task:` value.

    Args:
        path: str or Path. A pipeline YAML.
    """
    task = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and stripped.lstrip("#").strip():
            return stripped.lstrip("#").strip()
        if line.startswith("task:"):
            task = line.split(":", 1)[1].split("#", 1)[0].strip()
    return f"task: {task}" if task else ""
