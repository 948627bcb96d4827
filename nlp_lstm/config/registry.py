"""Name -> class registries that build objects from `{type: name, **kwargs}` config entries."""

import difflib
import inspect

from nlp_lstm.errors import ConfigError


def _suggest(name, candidates):
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


class Registry:
    """A named set of classes, each registered once under a lowercase snake_case key.

    Args:
        kind: str. What the registry holds ("stage", "model"), used in error messages.

    Example:
    >>> reg = Registry("widget")
    >>> @reg.register("round_widget")
    ... class RoundWidget:
    ...     def __init__(self, radius=1.0):
    ...         self.radius = radius
    >>> reg.build({"type": "round_widget", "radius": 2.0}).radius
    2.0
    """

    def __init__(self, kind):
        self.kind = kind
        self._classes = {}

    def register(self, name):
        def decorator(cls):
            if name in self._classes:
                raise ValueError(
                    f"{self.kind} {name!r} is registered twice: by "
                    f"{self._classes[name].__qualname__} and {cls.__qualname__}."
                )
            self._classes[name] = cls
            cls.registry_name = name
            return cls

        return decorator

    def names(self):
        return sorted(self._classes)

    def get(self, name):
        if name not in self._classes:
            raise ConfigError(
                f"Unknown {self.kind} type {name!r}.{_suggest(str(name), self._classes)} "
                f"Valid types: {', '.join(self.names())}."
            )
        return self._classes[name]

    def build(self, entry, where="", **extra):
        """Builds the object an entry `{type: name, **kwargs}` describes; `where` names it in
        errors."""
        loc = f" in {where}" if where else ""
        if not isinstance(entry, dict) or "type" not in entry:
            raise ConfigError(
                f"A {self.kind} entry must be a mapping with a `type` key{loc}. "
                f"Received: {entry!r}. Valid types: {', '.join(self.names())}."
            )
        kwargs = {k: v for k, v in entry.items() if k != "type"}
        cls = self.get(entry["type"])
        bind_kwargs(cls, {**kwargs, **extra}, f"{self.kind} {entry['type']!r}{loc}")
        try:
            return cls(**kwargs, **extra)
        except ConfigError:
            raise
        except (ValueError, TypeError) as err:
            raise ConfigError(f"Invalid {self.kind} {entry['type']!r}{loc}: {err}") from err


def bind_kwargs(cls, kwargs, what):
    """Checks `kwargs` against the constructor of `cls`; reports unknown and missing arguments
    together."""
    params = inspect.signature(cls.__init__).parameters
    accepted = [p for p in params if p not in ("self", "kwargs", "args")]
    problems = []
    for key in kwargs:
        if key not in accepted:
            problems.append(f"unknown argument {key!r}.{_suggest(key, accepted)}")
    for name, p in params.items():
        if name in ("self",) or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.default is inspect.Parameter.empty and name not in kwargs:
            problems.append(f"missing required argument {name!r}")
    if problems:
        raise ConfigError(
            f"{what}: " + "; ".join(problems) + f". Valid arguments: {', '.join(accepted)}."
        )
