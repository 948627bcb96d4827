"""Dotted config keys: set and get a value by its dotted path, and the provenance that names the
file (or --set) each leaf came from.
"""

import dataclasses
import difflib

from nlp_lstm.errors import ConfigError


def describe_origin(provenance, key):
    """`key` plus the file that set it, or the file that set its section when it is a default."""
    if key in provenance:
        return f"`{key}` (set in {provenance[key]})"
    probe = key.rpartition(".")[0]
    while probe:
        if probe in provenance:
            return f"`{key}` (default; section `{probe}` set in {provenance[probe]})"
        probe = probe.rpartition(".")[0]
    return f"`{key}` (default)"


def mark_origin(provenance, dotted, value, origin):
    """Records that `origin` set `dotted` and every key inside it, forgetting the old ones."""
    for stale in [k for k in provenance if k.startswith(dotted + ".")]:
        del provenance[stale]
    provenance[dotted] = origin
    for key, item in value.items() if isinstance(value, dict) else ():
        mark_origin(provenance, f"{dotted}.{key}", item, origin)


def set_value(raw, dotted_key, value, provenance=None, origin="--set"):
    """Sets a dotted key (`train.epochs`, `stages.3.sequence_length`) in a config's plain data.

    `--set` and the search space's trial values both go through here; missing mappings on the way
    are created. `raw` and `provenance` (dotted key -> origin, or None) are changed in place;
    `origin` (e.g. "--set") names what set the value, in messages.
    """
    node, parts = raw, dotted_key.split(".")
    for i, part in enumerate(parts):
        here, problem = ".".join(parts[:i]), None
        if isinstance(node, list) and not (part.isdigit() and int(part) < len(node)):
            problem = f"{here} has {len(node)} entries; {part!r} is not a valid index. " + (
                f"Use 0 to {len(node) - 1}." if node else f"Set the whole list: {here}=[...]."
            )
        elif not isinstance(node, (dict, list)):
            problem = f"{here} is not a section (it holds {node!r}). Set `{here}` or fix the key."
        if problem:
            raise ConfigError(f"Cannot set `{dotted_key}` to {value!r} ({origin}): {problem}")
        part = int(part) if isinstance(node, list) else part
        if i == len(parts) - 1:
            node[part] = value
        else:
            if isinstance(node, dict) and node.get(part) is None:
                node[part] = {}
            node = node[part]
    if provenance is not None:
        mark_origin(provenance, dotted_key, value, origin)


def get_value(source, dotted_key):
    """Reads a dotted key of a `PipelineConfig` or of plain data; a key nothing sets is None.

    A key that a config section does not have is an error (a typo), not None.
    """
    node = source
    for part in dotted_key.split("."):
        if dataclasses.is_dataclass(node):
            names = [f.name for f in dataclasses.fields(node)]
            if part not in names:
                raise ConfigError(
                    f"`{dotted_key}` is not a config key: there is no {part!r}."
                    f"{_did_you_mean(part, names)} Valid: {', '.join(names)}."
                )
            node = getattr(node, part)
        elif isinstance(node, list):
            node = node[int(part)] if part.isdigit() and int(part) < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node


def _did_you_mean(name, names):
    close = difflib.get_close_matches(str(name), names, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
