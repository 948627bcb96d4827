"""What the HTTP server knows of one export: its servable signatures, its default signature
(asked of its task), its status and metadata, and TF Serving's two request formats turned into
a call of one signature.

No web framework here (only `nlp_lstm.serving.server` imports one): plain Python over TensorFlow.

    >>> model = ServedModel("sentiment", nlp_lstm.load("runs/quickstart_classify")) # doctest: +SKIP
    >>> call = model.parse({"instances": ["A gorgeous, witty film."]})              # doctest: +SKIP
    >>> call.signature.name, call.rows, call.scalars                                # doctest: +SKIP
    ('serving_default', 1, {})
"""

from nlp_lstm.export.limits import check_rows
from nlp_lstm.serving.signatures import REQUEST_KEYS, Call, RequestError, Signature, json_type
from nlp_lstm.tasks import TASKS


class ServedModel:
    """One export as the server sees it: its servable signatures, default, status and metadata.

    Args:
        name: str. The name in the URLs (/v1/models/NAME).
        predictor: a predictor of `nlp_lstm.load`.
    """

    version = "1"

    def __init__(self, name, predictor):
        self.name, self.predictor = name, predictor
        task = TASKS.get(predictor.task)
        self.default_signature = predictor.metadata.get("signature") or task.default_signature
        functions = predictor.loaded.signatures
        self.skipped = sorted(
            key for key, function in functions.items() if not Signature.servable(function)
        )
        self.signatures = {
            key: Signature(key, function, task.merges(key), predictor.limits)
            for key, function in sorted(functions.items())
            if key not in self.skipped
        }
        if not self.signatures:
            raise ValueError(
                f"Model `{name}` has no signature this server can feed (inputs: "
                f"vectors [None], float or integer arrays [None, ...] of "
                f"fixed row shape, and scalars); its "
                f"signatures: "
                f"{', '.join(self.skipped)}."
            )
        self.metadata = self._read_metadata()

    def signature(self, name):
        signature_name = self.default_signature if name is None else name
        if not isinstance(signature_name, str):
            raise RequestError(
                400,
                f"`signature_name` must be a string. Received: "
                f"{json_type(signature_name)} {signature_name!r:.60}.",
            )
        if signature_name not in self.signatures:
            raise RequestError(
                404,
                f"Model `{self.name}` has no signature `{signature_name}`; "
                f"its signatures: {', '.join(self.signatures)}.",
            )
        return self.signatures[signature_name]

    def parse(self, body, max_rows=None):
        """A request body (parsed JSON) -> Call, or RequestError."""
        if not isinstance(body, dict):
            raise RequestError(
                400, f"The request body must be a JSON object. Received: {json_type(body)}."
            )
        unknown = [key for key in body if key not in REQUEST_KEYS]
        if unknown:
            raise RequestError(
                400,
                f"Unknown request field(s) {', '.join(map(repr, unknown))}; "
                f"a request has {', '.join(map(repr, REQUEST_KEYS))}.",
            )
        if ("instances" in body) == ("inputs" in body):
            raise RequestError(
                400, "Give exactly one of `instances` (row format) and `inputs` (columnar format)."
            )
        signature = self.signature(body.get("signature_name"))
        columnar = "inputs" in body
        batched, scalars, rows = (
            signature.parse_inputs(body["inputs"])
            if columnar
            else signature.parse_instances(body["instances"])
        )
        if max_rows is not None and rows > max_rows:
            raise RequestError(
                413,
                f"A request may hold at most {max_rows} rows. Received: "
                f"{rows} rows. Split it into several requests.",
            )
        try:
            check_rows(rows, "inputs" if columnar else "instances", signature.limits)
        except ValueError as err:
            raise RequestError(400, str(err)) from err
        return Call(signature, batched, scalars, rows, columnar)

    def status(self):
        """TF Serving's GET /v1/models/NAME answer."""
        return {
            "model_version_status": [
                {
                    "version": self.version,
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }

    def _read_metadata(self):
        """TF Serving's GET /v1/models/NAME/metadata answer, from the SavedModel's SignatureDefs
        (the served ones)."""
        from google.protobuf import json_format
        from tensorflow.core.protobuf import saved_model_pb2

        path = f"{self.predictor.metadata['path']}/saved_model.pb"
        with open(path, "rb") as file:
            definitions = (
                saved_model_pb2.SavedModel.FromString(file.read()).meta_graphs[0].signature_def
            )
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": self.version},
            "metadata": {
                "signature_def": {
                    "signature_def": {
                        key: json_format.MessageToDict(
                            definitions[key],
                            preserving_proto_field_name=True,
                            always_print_fields_with_no_presence=True,
                        )
                        for key in self.signatures
                    }
                }
            },
        }
