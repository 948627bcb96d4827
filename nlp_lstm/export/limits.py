"""What one call of an exported signature may ask for (`export.limits`), checked twice with the
same numbers: inside the graph, and in Python before the graph is called.

The export records its limits in its metadata (assets.extra/nlp_lstm.json, `limits`) and its
serving module holds them as constants. Every value out of range is refused, never clamped: in
the graph with an InvalidArgumentError whose first line names the input and the limit, in
Python (the predictors, the CLI, the server) with a ValueError that does the same, before any
work is done. Zero rows and, for generation, zero new tokens are in range: they give empty
results.

    >>> keys = ("max_batch_rows", "max_input_chars", "max_new_tokens")  # a language model's
    >>> limits = task_limits(DEFAULT_LIMITS, keys, {"max_input_chars": 4096})
    >>> sorted(limits)
    ['max_batch_rows', 'max_input_chars', 'max_new_tokens']
    >>> limits["max_input_chars"]  # unset: the task's default
    4096
    >>> check_texts(["a prompt"], "prompts", limits)
    >>> check_option("max_new_tokens", 2_000_000, limits)  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ValueError: `max_new_tokens` must be an int in [0, 1024] (this export's
    limits.max_new_tokens). Received: max_new_tokens=2000000.
"""

import dataclasses
import logging
import math
import re
import struct

import tensorflow as tf

from nlp_lstm.config.schema import ExportLimitsConfig

logger = logging.getLogger(__name__)

INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DEFAULT_LIMITS = dataclasses.asdict(ExportLimitsConfig())
# What a limit left unset (null) is, unless the task declares its own (`Task.limit_defaults`).
UNSET_DEFAULTS = {"max_input_chars": 100_000}
# The scalar options of the signatures: (kind, minimum, maximum or the limit that bounds it).
OPTIONS = {
    "max_new_tokens": ("int", 0, "max_new_tokens"),
    "max_length": ("int", 1, "max_output_length"),
    "beam_size": ("int", 1, "max_beam_size"),
    "top_k": ("int", 0, INT32_MAX),
    "seed": ("int", INT64_MIN, INT64_MAX),
    "temperature": ("float", 0.0, 1e6),
    "top_p": ("float", 0.0, 1.0),
}


def task_limits(limits, keys, defaults=None):
    """The limits of `limits` (a dict or an ExportLimitsConfig) named by `keys` (what one task's
    export records: `Task.limit_keys`), with `defaults` (`Task.limit_defaults`) for those unset."""
    if dataclasses.is_dataclass(limits):  # only the task's keys are read
        limits = {key: getattr(limits, key) for key in keys}
    defaults = {**UNSET_DEFAULTS, **(defaults or {})}
    return {key: int(defaults[key] if limits[key] is None else limits[key]) for key in keys}


def export_limits(metadata, keys, defaults=None):
    """The limits an export records; an export written before they existed gets the defaults
    (its graph does not enforce them, the Python checks do), and a warning says so."""
    recorded = metadata.get("limits")
    if recorded is None:
        limits = task_limits(DEFAULT_LIMITS, keys, defaults)
        logger.warning(
            "%s records no limits (exported before nlp_lstm had them); applying the "
            "defaults %s. Re-export it (`nlp-lstm export RUN_DIR`) to have them "
            "checked in the graph too.",
            metadata.get("path", "the export"),
            limits,
        )
        return limits
    return task_limits({**DEFAULT_LIMITS, **recorded}, keys, defaults)


# -- in Python, before a call -------------------------------------------------------------------


def check_rows(count, name, limits):
    """A ValueError when `count` rows are more than one call takes."""
    if count > limits["max_batch_rows"]:
        raise ValueError(
            f"`{name}` has {count} rows; one call of this export takes at most "
            f"{limits['max_batch_rows']} (its limits.max_batch_rows). Use smaller "
            f"batches."
        )


def check_text(text, where, limits):
    """A ValueError when the string `text` (at `where`) is longer than the export takes (an
    export whose task records no `max_input_chars` takes any length)."""
    if "max_input_chars" in limits and len(text) > limits["max_input_chars"]:
        raise ValueError(
            f"`{where}` has {len(text)} characters; this export takes at most "
            f"{limits['max_input_chars']} (its limits.max_input_chars). Shorten it."
        )


def check_texts(texts, name, limits):
    """A ValueError naming the first text of the list `texts` that is too long."""
    for index, text in enumerate(texts):
        check_text(text, f"{name}[{index}]", limits)


def option_range(name, limits):
    """(kind, minimum, maximum) of the scalar option `name` under `limits`."""
    kind, minimum, maximum = OPTIONS[name]
    return kind, minimum, limits[maximum] if isinstance(maximum, str) else maximum


def check_option(name, value, limits):
    """`value` of the scalar option `name` in its range, or a ValueError naming the option and
    the limit; ints are returned as int, numbers as float."""
    kind, minimum, maximum = option_range(name, limits)
    source = OPTIONS[name][2]
    hint = f" (this export's limits.{source})" if isinstance(source, str) else ""
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise ValueError(
                f"`{name}` must be an int in [{minimum}, {maximum}]{hint}. "
                f"Received: {name}={value!r}."
            )
        return value
    low = "(" if name == "top_p" else "["
    single = _float32(value) if isinstance(value, (int, float)) else value
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(single)
        or not minimum <= single <= maximum
        or (low == "(" and single == minimum)
    ):
        raise ValueError(
            f"`{name}` must be a number in {low}{minimum}, {maximum}]. Received: {name}={value!r}."
        )
    return float(value)


def _float32(value):
    """`value` as the float32 the graph compares: 1e39 is infinite, and a subnormal such as
    1e-45 is 0 (the CPU kernels flush subnormals to zero)."""
    try:
        single = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)
    return 0.0 if abs(single) < 2**-126 else single


# -- in the graph --------------------------------------------------------------------------------


def _after(checks, value):
    """`value`, computed only once every check in `checks` has passed (so a refused call does
    no work: the checks come before the preprocessing)."""
    with tf.control_dependencies(checks):
        return tf.identity(value)


def _assert_rows(count, name, limits):
    """The assertion that the input `name` has at most max_batch_rows rows (`count`)."""
    rows = limits["max_batch_rows"]
    return tf.debugging.assert_less_equal(
        count,
        rows,
        message=f"`{name}` has more than {rows} rows (limits.max_batch_rows of "
        f"this export); use smaller batches",
    )


def checked_texts(text, name, limits):
    """The string vector `text`, refused unless it has at most max_batch_rows rows of at most
    max_input_chars characters each."""
    most = limits["max_input_chars"]
    longest = tf.reduce_max(tf.concat([tf.strings.length(text, unit="UTF8_CHAR"), [0]], 0))
    return _after(
        [
            _assert_rows(tf.size(text), name, limits),
            tf.debugging.assert_less_equal(
                longest,
                most,
                message=f"A `{name}` row has more than {most} characters (limits."
                f"max_input_chars of this export); shorten it",
            ),
        ],
        text,
    )


def checked_windows(history, name, limits):
    """The float tensor `history` [rows, L, columns], refused unless it has at most
    max_batch_rows rows and only finite values."""
    return _after(
        [
            _assert_rows(tf.shape(history)[0], name, limits),
            tf.debugging.assert_equal(
                tf.reduce_all(tf.math.is_finite(history)),
                True,
                message=f"`{name}` holds a NaN or infinite value; fill it first",
            ),
        ],
        history,
    )


def checked_option(value, name, limits):
    """The scalar option `value`, refused (InvalidArgumentError naming it) outside its range
    (NaN and the infinities fail the comparisons, so a float must also be finite)."""
    _, minimum, maximum = option_range(name, limits)
    low = "(" if name == "top_p" else "["
    message = f"`{name}` must be in {low}{minimum}, {maximum}]" + (
        f" (limits.{OPTIONS[name][2]} of this export)" if isinstance(OPTIONS[name][2], str) else ""
    )
    checks = [tf.debugging.assert_less_equal(value, tf.cast(maximum, value.dtype), message=message)]
    if low == "(":
        checks.append(
            tf.debugging.assert_greater(value, tf.cast(minimum, value.dtype), message=message)
        )
    else:
        checks.append(
            tf.debugging.assert_greater_equal(value, tf.cast(minimum, value.dtype), message=message)
        )
    return _after(checks, value)


_ASSERTION = re.compile(
    r"assertion failed: \[(?P<message>.*?)\] \[Condition.*?"
    r"\[x \([^)]*\) = \] \[(?P<received>[^\]]*)\]",
    re.S,
)


def error_line(err):
    """One line for an InvalidArgumentError of a signature call: a limit's own message with the
    value received, or else the first line that says something."""
    match = _ASSERTION.search(err.message)
    if match:
        received = match["received"]
        return match["message"] + (f". Received: {received}." if received else ".")
    lines = [line.strip() for line in err.message.splitlines()]
    useful = [
        line
        for line in lines
        if line
        and not line.startswith(
            ("Graph execution error", "Detected at node", "<stack traces", "[[")
        )
    ]
    return (useful or lines or [type(err).__name__])[0]
