"""Load pipeline YAML, compose fragments (rightmost wins), apply `--set` overrides, write it out.

A pipeline file may list fragments under `compose:`; they are merged in order, then the pipeline's
own keys, then `--set key.path=value` overrides. Every leaf remembers the file that set it, so an
error names both the key and the file to edit. The keys themselves, their limits and the checks
are declared in nlp_lstm/config/schema.py; their names are re-exported here.
"""

import copy
import functools
import json
import os
from pathlib import Path

import yaml

from nlp_lstm.config.checks import build_config, check_type, config_from_dict, with_values
from nlp_lstm.config.keys import describe_origin, get_value, mark_origin, set_value
from nlp_lstm.config.schema import (
    FIELDS,
    INTERNAL_KEYS,
    DataConfig,
    EmbeddingsConfig,
    EvaluateConfig,
    ExportConfig,
    PipelineConfig,
    TrainConfig,
    TuneConfig,
    is_scoped,
    reads,
    setting,
)
from nlp_lstm.errors import ConfigError

__all__ = [
    "DATA_DIR_ENV",
    "DATA_DIR_PLACEHOLDER",
    "DataConfig",
    "EmbeddingsConfig",
    "EvaluateConfig",
    "ExportConfig",
    "PipelineConfig",
    "TrainConfig",
    "TuneConfig",
    "config_from_dict",
    "describe_origin",
    "dump_config",
    "format_config",
    "get_value",
    "load_config",
    "parse_override",
    "read_yaml",
    "set_value",
    "setting",
    "with_values",
]

DATA_DIR_ENV = "NLP_LSTM_DATA_DIR"
DATA_DIR_PLACEHOLDER = "{data_dir}"


def read_yaml(path):
    """Reads one YAML mapping; syntax errors name the file, line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"Config file not found: {path}. Check the path.") from err
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {err.start}). Save it as UTF-8."
        ) from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{where}: invalid YAML: {problem}. Fix the syntax there.") from err
    if data is not None and not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys, received a {type(data).__name__}."
        )
    return data or {}


def _merge(base, update, origin, provenance, prefix=""):
    """Deep-merges `update` into `base` in place (mappings merge, everything else is replaced)."""
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        atomic = dotted in FIELDS and FIELDS[dotted].metadata.get("atomic")
        if isinstance(value, dict) and isinstance(base.get(key), dict) and not atomic:
            provenance.setdefault(dotted, origin)
            _merge(base[key], value, origin, provenance, dotted + ".")
        else:
            base[key] = copy.deepcopy(value)
            mark_origin(provenance, dotted, value, origin)


def _load_composed(path, provenance, seen):
    path = Path(path).resolve()
    if path in seen:
        raise ConfigError(
            f"{path}: `compose` includes itself (cycle: "
            f"{' -> '.join(str(p) for p in seen)}). Remove the cycle."
        )
    raw = read_yaml(path)
    fragments = raw.pop("compose", []) or []
    if not isinstance(fragments, list) or not all(isinstance(f, str) for f in fragments):
        raise ConfigError(
            f"`compose` (set in {path}) must be a list of file paths. "
            f"Received: compose={fragments!r}."
        )
    # A saved config (a run's config.yaml) lists the files it came from: they count as sources.
    recorded = check_type(raw.pop("sources", []), list, "sources", lambda k: f"`{k}` ({path})")
    merged, files = {}, []
    for fragment in fragments:
        frag_path = path.parent / fragment
        if not frag_path.is_file():
            raise ConfigError(
                f"`compose` (set in {path}) names {fragment!r}, which does not exist "
                f"(looked for {frag_path}). Fix the path; it is relative to "
                f"{path.parent}."
            )
        sub_provenance = {}
        sub, sub_files = _load_composed(frag_path, sub_provenance, seen + [path])
        _merge(merged, sub, None, {}, "")
        provenance.update(sub_provenance)
        files += sub_files
    _resolve_paths(raw, path.parent)
    _merge(merged, raw, str(path), provenance)
    return merged, files + recorded + [str(path)]


def _resolve_paths(raw, base_dir):
    """Makes the relative paths of `path=True` keys relative to the YAML file that names them."""

    def fix(value):
        if (
            isinstance(value, str)
            and value
            and not value.startswith(DATA_DIR_PLACEHOLDER)
            and ":" not in value[:8]
            and not os.path.isabs(value)
        ):
            return str((base_dir / value).resolve())
        return value

    for key in (k for k, f in FIELDS.items() if f.metadata.get("path")):
        section, _, name = key.rpartition(".")
        node = raw.get(section)
        if isinstance(node, dict) and name in node:
            value = node[name]
            node[name] = (
                {k: fix(v) for k, v in value.items()} if isinstance(value, dict) else fix(value)
            )


def _substitute_data_dir(raw, data_dir, where):
    def walk(node, key):
        if isinstance(node, dict):
            return {k: walk(v, f"{key}.{k}" if key else k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, key) for v in node]
        if isinstance(node, str) and DATA_DIR_PLACEHOLDER in node:
            if not data_dir:
                raise ConfigError(
                    f"{where(key)} uses {DATA_DIR_PLACEHOLDER} but no data root is "
                    f"set. Pass --data-dir ROOT or set {DATA_DIR_ENV}=ROOT."
                )
            return node.replace(DATA_DIR_PLACEHOLDER, str(Path(data_dir).expanduser().resolve()))
        return node

    return walk(raw, "")


def parse_override(text):
    """Splits `a.b=c` into (["a", "b"], value) with the value parsed as YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"Override {text!r} must look like key.path=value, e.g. train.epochs=3.")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"Override {text!r}: the value is not valid YAML ({err}).") from err
    return key.strip().split("."), parsed


def load_config(path, overrides=(), data_dir=None):
    """Loads a pipeline file with its fragments and overrides into a checked `PipelineConfig`.

    Args:
        path: str or Path. The pipeline YAML, or a run's saved config.yaml.
        overrides: list of str. `key.path=value` overrides, applied last.
        data_dir: str or None. Data root that replaces `{data_dir}` in paths.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"Pipeline file not found: {path}. Pass a YAML file such as "
            f"pipelines/quickstart_classify.yaml."
        )
    provenance = {}
    raw, sources = _load_composed(path, provenance, [])
    for text in overrides:
        parts, value = parse_override(text)
        set_value(raw, ".".join(parts), value, provenance)
    raw.setdefault("name", path.stem)
    where = functools.partial(describe_origin, provenance)
    raw = _substitute_data_dir(raw, data_dir, where)
    return build_config(raw, where, sources=sources, provenance=provenance)


# -- writing configs out -----------------------------------------------------------------------


def _flow(value):
    """One value as YAML flow text on one line, quoted where needed."""
    if isinstance(value, str) and "\n" in value:
        return json.dumps(value, ensure_ascii=False)  # YAML reads JSON strings
    return yaml.safe_dump(
        [value], default_flow_style=True, width=1 << 30, allow_unicode=True
    ).strip()[1:-1]


def _yaml_lines(node, key, task_keys, provenance, inherited=None):
    """Block YAML of mapping `node` at dotted `key`, without the scoped keys that are not in
    `task_keys` (the task's `config_keys`); with `provenance`, each value's line ends in
    `# <its origin>`."""

    def leaf(text, dotted):
        origin = provenance.get(dotted) or inherited or "default" if provenance is not None else ""
        return f"{text}  # {origin}" if origin else text

    lines = []
    for name, value in node.items():
        dotted = f"{key}.{name}" if key else str(name)
        if dotted in FIELDS and is_scoped(dotted) and not reads(task_keys, dotted):
            continue
        if dotted in INTERNAL_KEYS:  # filled by the loader: no origin of its own
            lines += [f"{name}:"] + [f"- {_flow(v)}" for v in value] if value else [f"{name}: []"]
        elif isinstance(value, dict) and value:
            lines += [f"{_flow(name)}:"] + [
                f"  {line}" for line in _yaml_lines(value, dotted, task_keys, provenance, inherited)
            ]
        elif isinstance(value, list) and any(isinstance(v, dict) and v for v in value):
            lines.append(f"{_flow(name)}:")
            # List entries have no provenance of their own: the file that set the list set them.
            below = (provenance or {}).get(dotted) or inherited
            for i, item in enumerate(value):
                sub = (
                    _yaml_lines(item, f"{dotted}.{i}", task_keys, provenance, below)
                    if isinstance(item, dict) and item
                    else [leaf(_flow(item), f"{dotted}.{i}")]
                )
                lines += [f"- {sub[0]}"] + [f"  {line}" for line in sub[1:]]
        else:
            lines.append(leaf(f"{_flow(name)}: {_flow(value)}", dotted))
    return lines


def format_config(config, task_keys, origin=False):
    """The YAML that `nlp-lstm config show` prints: only the keys the config's task reads.

    Args:
        config: PipelineConfig.
        task_keys: tuple of str. The scoped keys the task reads (its `Task.config_keys`).
        origin: bool. End each value's line with `# <file that set it>` or `# default`.
    """
    provenance = config.provenance if origin else None
    return "\n".join(_yaml_lines(config.to_dict(), "", task_keys, provenance)) + "\n"


def dump_config(config):
    """The whole config as YAML (what runs save); load_config and config_from_dict read it."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)
