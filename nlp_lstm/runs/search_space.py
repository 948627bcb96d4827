"""Search spaces: a YAML mapping of config keys to ranges, checked against the config and turned
into keras-tuner hyperparameters.

    model.hidden_dim: {choice: [32, 64, 128]}
    train.learning_rate: {min: 1.0e-4, max: 1.0e-2, sampling: log}
"""

import dataclasses

from nlp_lstm.config.loading import get_value, read_yaml, with_values
from nlp_lstm.errors import ConfigError
from nlp_lstm.tasks import task_for

RANGE_KEYS = {"choice", "min", "max", "step", "sampling", "boolean", "when", "default"}


@dataclasses.dataclass(frozen=True)
class SearchParameter:
    """One searched config key and its range, checked at load time."""

    name: str
    spec: dict


def _fail(name, spec, message, where):
    raise ConfigError(
        f"Search space entry `{name}` ({where}): {message} Received: {name}={spec!r}."
    )


def read_search_space(path):
    """Reads a search-space YAML (`search_space:` mapping or a bare mapping of keys to ranges)."""
    raw = read_yaml(path)
    if isinstance(raw.get("tune"), dict) and "search_space" in raw["tune"]:
        return raw["tune"]["search_space"], str(path)
    return raw.get("search_space", raw), str(path)


def apply_values(config, values):
    """A new PipelineConfig with `values` (config key -> value) written in and checked."""
    try:
        return with_values(config, values)
    except ConfigError as err:
        raise ConfigError(f"The search space sets {sorted(values)}: {err}") from err


def parse_search_space(space, config, where="tune.search_space"):
    """Checks a search space against the config; returns the SearchParameters that apply."""
    if not isinstance(space, dict) or not space:
        raise ConfigError(
            f"The search space ({where}) is empty. Give at least one entry such as "
            f"`model.hidden_dim: {{choice: [32, 64]}}`."
        )
    params = []
    for name, spec in space.items():
        if not isinstance(spec, dict):
            _fail(
                name, spec, "each entry must be a mapping with choice, min/max or boolean.", where
            )
        unknown = set(spec) - RANGE_KEYS
        if unknown:
            _fail(
                name,
                spec,
                f"unknown range keys {sorted(unknown)}; use {sorted(RANGE_KEYS)}.",
                where,
            )
        if "choice" in spec:
            if not isinstance(spec["choice"], list) or not spec["choice"]:
                _fail(name, spec, "`choice` must be a non-empty list.", where)
            sample = spec["choice"][0]
        elif spec.get("boolean"):
            sample = True
        elif "min" in spec and "max" in spec:
            low, high = spec["min"], spec["max"]
            if not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)
            ):
                _fail(name, spec, "`min` and `max` must be numbers.", where)
            if not low < high:
                _fail(name, spec, "the range is empty: `min` must be < `max`.", where)
            if spec.get("sampling", "linear") not in ("linear", "log"):
                _fail(name, spec, "`sampling` must be linear or log.", where)
            if spec.get("sampling") == "log" and low <= 0:
                _fail(name, spec, "log sampling needs `min` > 0.", where)
            sample = low
        else:
            _fail(name, spec, "give `choice: [...]`, `min` and `max`, or `boolean: true`.", where)
        when = spec.get("when", {})
        if not isinstance(when, dict):
            _fail(name, spec, "`when` must map a key to a value or a list of values.", where)
        fixed = {k: v for k, v in when.items() if k not in space}
        if any(
            get_value(config, k) not in (v if isinstance(v, list) else [v])
            for k, v in fixed.items()
        ):
            continue  # the condition is on a fixed config value that does not match
        try:
            trial = apply_values(config, {name: sample})
            task_for(trial).from_config(trial)
        except ConfigError as err:
            raise ConfigError(
                f"Search space entry `{name}` ({where}) cannot be applied to the pipeline: {err}"
            ) from err
        params.append(SearchParameter(name, spec))
    if not params:
        raise ConfigError(f"No entry of the search space ({where}) applies to this pipeline.")
    return params


def define_hyperparameters(params, hp):
    """Declares each SearchParameter on a keras_tuner HyperParameters; returns the sampled
    values."""
    searched = {p.name for p in params}
    values = {}
    # Parents first: a conditional entry needs the entries it depends on to exist.
    ordered = sorted(params, key=lambda p: any(k in searched for k in p.spec.get("when", {})))
    for param in ordered:
        spec = param.spec
        conditions = [
            (k, v if isinstance(v, list) else [v])
            for k, v in spec.get("when", {}).items()
            if k in searched
        ]
        scopes = [hp.conditional_scope(k, v) for k, v in conditions]
        for scope in scopes:
            scope.__enter__()
        try:
            if "choice" in spec:
                value = hp.Choice(param.name, spec["choice"], default=spec.get("default"))
            elif spec.get("boolean"):
                value = hp.Boolean(param.name, default=spec.get("default", False))
            elif (
                all(isinstance(spec[k], int) for k in ("min", "max"))
                and isinstance(spec.get("step", 1), int)
                and spec.get("sampling") != "log"
            ):
                value = hp.Int(
                    param.name,
                    spec["min"],
                    spec["max"],
                    step=spec.get("step", 1),
                    default=spec.get("default"),
                )
            else:
                value = hp.Float(
                    param.name,
                    float(spec["min"]),
                    float(spec["max"]),
                    step=spec.get("step"),
                    sampling=spec.get("sampling", "linear"),
                    default=spec.get("default"),
                )
        finally:
            for scope in reversed(scopes):
                scope.__exit__(None, None, None)
        if all(hp.values.get(k) in v for k, v in conditions):
            values[param.name] = value
    return values
