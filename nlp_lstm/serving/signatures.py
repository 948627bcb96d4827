"""One exported signature as the HTTP server sees it: its inputs and outputs in TF Serving's JSON,
the checks of a request's rows and options, and the outputs back into JSON.

No web framework here (only `nlp_lstm.serving.server` imports one): plain Python over TensorFlow.
`nlp_lstm.serving.served_model.ServedModel` holds the signatures of one export.
"""

import dataclasses
import math

import tensorflow as tf

from nlp_lstm.export.limits import OPTIONS, check_option, check_text

JSON_TYPES = {
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}

REQUEST_KEYS = ("signature_name", "instances", "inputs")


class RequestError(Exception):
    """A request the server refuses: `status` is the HTTP status, the message says why."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def json_type(value):
    return JSON_TYPES.get(type(value), type(value).__name__)


@dataclasses.dataclass
class Call:
    """One parsed request: `batched` {input: list of rows}, `scalars` {input: value}, `rows`."""

    signature: "Signature"
    batched: dict
    scalars: dict
    rows: int
    columnar: bool


class Signature:
    """One served signature: its specs, the checks of its inputs, and the call of the function.

    The inputs are checked against the export's limits (`nlp_lstm.export.limits`) as the predictors
    check them, so a request the graph would refuse gets a 400 naming its field first.

    Args:
        name: str. The signature's name in the SavedModel.
        function: the concrete signature function (`loaded.signatures[name]`).
        mergeable: bool. Whether concurrent requests may share one call.
        limits: dict. The export's limits (`Predictor.limits`).
    """

    def __init__(self, name, function, mergeable, limits):
        self.name, self.function, self.mergeable = name, function, mergeable
        self.limits = limits
        self.inputs = dict(function.structured_input_signature[1])
        self.outputs = dict(function.structured_outputs)
        self.batched = [key for key, spec in self.inputs.items() if spec.shape.rank >= 1]
        self.scalars = [key for key, spec in self.inputs.items() if spec.shape.rank == 0]

    @classmethod
    def servable(cls, function):
        """Whether the server can feed `function`: vectors [None] (at least one) and scalars,
        or float or integer arrays [None, d1, ...] of fixed row shape (a forecaster's history
        and the int64 timestamps of its rows)."""
        inputs = function.structured_input_signature[1].values()
        return any(spec.shape.rank >= 1 for spec in inputs) and all(
            spec.shape.rank == 0 or spec.shape.as_list() == [None] or _fixed_rows(spec)
            for spec in inputs
        )

    def check_array(self, key, value, where):
        """One row of a float or integer input of fixed shape (e.g. [L, C]): nested arrays of
        exactly that shape, of finite numbers (integers in the dtype's range) only; a
        RequestError names the first element that is not."""
        shape = self.inputs[key].shape.as_list()[1:]
        stack = [(value, where, 0)]
        while stack:
            item, at, depth = stack.pop()
            if depth == len(shape):
                self.check_value(key, item, at, scalar=True)
            elif not isinstance(item, list) or len(item) != shape[depth]:
                got = f"{len(item)} elements" if isinstance(item, list) else json_type(item)
                raise RequestError(
                    400,
                    f"`{at}` must be an array of {shape[depth]} elements "
                    f"(input `{key}` of signature `{self.name}` takes rows "
                    f"of shape {shape}). Received: {got}.",
                )
            else:
                stack.extend(
                    (child, f"{at}[{index}]", depth + 1)
                    for index, child in reversed(list(enumerate(item)))
                )
        return value

    # -- requests --------------------------------------------------------------------------------
    def check_value(self, key, value, where, scalar=False):
        """`value` of input `key` (one row of a vector, or a scalar) checked against its dtype
        and the export's limits (text length, a known option's range); a row of an array input
        by `check_array`."""
        if not scalar and self.inputs[key].shape.rank > 1:
            return self.check_array(key, value, where)
        dtype = self.inputs[key].dtype
        if dtype == tf.string:
            ok = isinstance(value, str)
            if ok:
                try:
                    check_text(value, where, self.limits)
                except ValueError as err:
                    raise RequestError(400, str(err)) from err
            if ok and not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as err:  # a lone surrogate ("\ud800") in the JSON
                    raise RequestError(400, f"`{where}` is not valid Unicode text: {err}.") from err
        elif dtype == tf.bool:
            ok = isinstance(value, bool)
        elif dtype.is_integer:
            ok = isinstance(value, int) and not isinstance(value, bool)
            if ok and not dtype.min <= value <= dtype.max:
                raise RequestError(
                    400,
                    f"`{where}` is out of the range of {dtype.name} "
                    f"[{dtype.min}, {dtype.max}]. Received: {value}.",
                )
        else:
            ok = (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
            )
        if not ok:
            raise RequestError(
                400,
                f"`{where}` must be {dtype_word(dtype)} (input `{key}` of "
                f"signature `{self.name}` is {dtype.name}). Received: "
                f"{json_type(value)} {value!r:.60}.",
            )
        if key in OPTIONS and key in self.scalars:
            try:
                check_option(key, value, self.limits)
            except ValueError as err:
                raise RequestError(400, str(err)) from err
        return value

    def check_keys(self, given, where):
        missing = [key for key in self.inputs if key not in given]
        unknown = [key for key in given if key not in self.inputs]
        if missing or unknown:
            parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + (
                [f"unknown {', '.join(map(repr, unknown))}"] if unknown else []
            )
            raise RequestError(
                400,
                f"`{where}` has {' and '.join(parts)}; signature "
                f"`{self.name}` takes {', '.join(map(repr, self.inputs))}.",
            )

    def parse_instances(self, instances):
        """TF Serving's row format: one object (or, for one input, one value) per row; a scalar
        input appears in every row with the same value."""
        if not isinstance(instances, list) or not instances:
            raise RequestError(
                400,
                f"`instances` must be a non-empty array. Received: "
                f"{json_type(instances)} {instances!r:.60}.",
            )
        only = next(iter(self.inputs)) if len(self.inputs) == 1 else None
        batched, scalars = {key: [] for key in self.batched}, {}
        for index, instance in enumerate(instances):
            if only is not None and not isinstance(instance, dict):
                instance = {only: instance}
            if not isinstance(instance, dict):
                raise RequestError(
                    400,
                    f"`instances[{index}]` must be an object with the inputs "
                    f"{', '.join(map(repr, self.inputs))}. Received: "
                    f"{json_type(instance)}.",
                )
            self.check_keys(instance, f"instances[{index}]")
            for key in self.batched:
                batched[key].append(
                    self.check_value(key, instance[key], f"instances[{index}].{key}")
                )
            for key in self.scalars:
                value = self.check_value(key, instance[key], f"instances[{index}].{key}")
                if index and value != scalars[key]:
                    raise RequestError(
                        400,
                        f"`{key}` must be the same in every instance (one "
                        f"value per call). Received: {scalars[key]!r} in "
                        f"instances[0] and {value!r} in instances[{index}].",
                    )
                scalars[key] = value
        return batched, scalars, len(instances)

    def parse_inputs(self, inputs):
        """TF Serving's columnar format: {input: list of rows or scalar}, or for one input the
        list itself."""
        if len(self.inputs) == 1 and not isinstance(inputs, dict):
            inputs = {next(iter(self.inputs)): inputs}
        if not isinstance(inputs, dict):
            raise RequestError(
                400,
                f"`inputs` must be an object with the inputs "
                f"{', '.join(map(repr, self.inputs))}. Received: "
                f"{json_type(inputs)}.",
            )
        self.check_keys(inputs, "inputs")
        batched, sizes = {}, set()
        for key in self.batched:
            column = inputs[key]
            if not isinstance(column, list) or not column:
                raise RequestError(
                    400,
                    f"`inputs.{key}` must be a non-empty array (one row per "
                    f"element). Received: {json_type(column)} {column!r:.60}.",
                )
            batched[key] = [
                self.check_value(key, value, f"inputs.{key}[{index}]")
                for index, value in enumerate(column)
            ]
            sizes.add(len(column))
        if len(sizes) > 1:
            raise RequestError(
                400,
                f"The vector inputs of signature `{self.name}` must have the "
                f"same number of rows. Received: "
                f"{ {key: len(rows) for key, rows in batched.items()} }.",
            )
        scalars = {key: self.check_value(key, inputs[key], f"inputs.{key}") for key in self.scalars}
        return batched, scalars, sizes.pop()

    # -- the call --------------------------------------------------------------------------------
    def call(self, batched, scalars):
        """Runs the signature (in a worker thread) and returns its outputs as numpy arrays."""
        feeds = {key: tf.constant(rows, self.inputs[key].dtype) for key, rows in batched.items()}
        feeds.update(
            {key: tf.constant(value, self.inputs[key].dtype) for key, value in scalars.items()}
        )
        return {key: value.numpy() for key, value in self.function(**feeds).items()}

    def split(self, outputs, sizes):
        """The outputs of one call, cut into the parts of the requests it merged (`sizes` rows
        each). A mergeable signature's ragged id outputs lose their trailing all-padding columns,
        so that a request's answer does not depend on what it was merged with."""
        total, parts, start = sum(sizes), [], 0
        for size in sizes:
            part = {}
            for key, value in outputs.items():
                if value.ndim and value.shape[0] == total:
                    value = value[start : start + size]
                    if self.mergeable and self.ragged(key):
                        value = strip_padding(value)
                part[key] = value
            parts.append(part)
            start += size
        return parts

    def ragged(self, key):
        spec = self.outputs[key]
        return spec.shape.rank == 2 and spec.shape[1] is None and spec.dtype.is_integer

    def answer(self, outputs, columnar):
        """TF Serving's response: {"outputs": ...} for columnar requests, else
        {"predictions": [...]}; one output is given bare, several as an object."""
        lists = {key: to_json(value) for key, value in outputs.items()}
        if len(lists) == 1:
            (only,) = lists.values()
            return {"outputs": only} if columnar else {"predictions": only}
        if columnar:
            return {"outputs": lists}
        rows = len(next(iter(lists.values())))
        return {
            "predictions": [
                {key: values[index] for key, values in lists.items()} for index in range(rows)
            ]
        }


def _fixed_rows(spec):
    """Whether `spec` is a float or integer array [None, d1, ...] with every other size
    known."""
    shape = spec.shape.as_list()
    return (
        (spec.dtype.is_floating or spec.dtype.is_integer)
        and len(shape) > 1
        and shape[0] is None
        and None not in shape[1:]
    )


def dtype_word(dtype):
    if dtype == tf.string:
        return "a string"
    if dtype == tf.bool:
        return "a boolean"
    return "an integer" if dtype.is_integer else "a finite number"


def strip_padding(ids):
    """`ids` [rows, T] without its trailing columns of 0 (the padding id, which decoding never
    emits)."""
    used = ids.any(axis=0).nonzero()[0]
    return ids[:, : used[-1] + 1 if used.size else 0]


def to_json(array):
    """A numpy array as nested lists of Python values; strings decoded as UTF-8."""
    if array.dtype != object:
        return array.tolist()

    def decode(value):
        if isinstance(value, list):
            return [decode(item) for item in value]
        return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value

    return decode(array.tolist())
