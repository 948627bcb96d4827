"""The HTTP server: TF Serving's REST API over nlp_lstm's exports, on Starlette and uvicorn.

    nlp-lstm serve runs/quickstart_classify-... translator=runs/quickstart_translate-...
    curl -d '{"instances": ["A gorgeous, witty film."]}' \\
        http://127.0.0.1:8501/v1/models/quickstart_classify:predict

Endpoints (TF Serving's, so its clients work unchanged):

- `GET /v1/models/NAME`: the status, `{"model_version_status": [{"version": "1", "state":
  "AVAILABLE", ...}]}`.
- `GET /v1/models/NAME/metadata`: the served signatures, their inputs, outputs and dtypes.
- `POST /v1/models/NAME:predict`: `{"instances": [...]}` (rows) answers `{"predictions": [...]}`,
  `{"inputs": {...}}` (columns) answers `{"outputs": ...}`; `signature_name` is optional.
  A forecaster's `forecast` signature takes one window per instance, `{"instances": [[[x, ...],
  ...]]}` (L rows of the columns each, raw values), and answers the next H rows of its targets;
  with calendar features it takes two inputs, `{"instances": [{"history": [[x, ...], ...],
  "timestamps": [t, ...]}]}` (the L rows' int64 seconds since 1970-01-01).
- `GET /healthz`: `{"status": "ok", "models": [...], "requests_in_flight": N, "model_calls": N}`.

Errors answer `{"error": "..."}`: 400 malformed JSON, a missing or mistyped input, an option out
of range; 404 an unknown model, signature or route; 405 a wrong method; 413 a body over
`max_request_bytes` or more than `max_rows` rows; 503 a full queue; 500 a model call that failed
(its traceback goes to the log, not to the client).

Model calls run in a thread pool, off the event loop; concurrent requests for one signature are
merged into one call (`nlp_lstm.serving.batching`), except a generator's. Only this module imports
starlette and uvicorn, inside the functions that need them (`pip install 'nlp_lstm[serve]'`).
"""

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import tensorflow as tf

from nlp_lstm.export.limits import error_line
from nlp_lstm.serving.batching import Batcher
from nlp_lstm.serving.served_model import ServedModel
from nlp_lstm.serving.signatures import RequestError

logger = logging.getLogger(__name__)

# How long a stopping server (SIGTERM) waits for the requests in flight before it cancels them.
GRACEFUL_SHUTDOWN_S = 30

# Model calls that may run at the same time (one per core), merged or not; like TF Serving's
# num_batch_threads, a batch forms while they are all busy.
NUM_MODEL_THREADS = max(2, os.cpu_count() or 1)


def _web_stack():
    """(starlette, uvicorn), or an ImportError that says how to install them."""
    try:
        import starlette
        import uvicorn
    except ImportError as err:
        raise ImportError(
            f"Serving needs starlette and uvicorn ({err}). Install them with: "
            f"pip install 'nlp_lstm[serve]'"
        ) from err
    return starlette, uvicorn


def check_options(
    max_batch_size=32,
    batch_timeout_ms=2.0,
    max_queue=256,
    max_request_bytes=1_048_576,
    batching=True,
    max_rows=1024,
):
    """The server options, checked (ValueError naming the option); see `create_app`."""
    for name, value in (
        ("max_batch_size", max_batch_size),
        ("max_queue", max_queue),
        ("max_request_bytes", max_request_bytes),
        ("max_rows", max_rows),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be an int >= 1. Received: {name}={value!r}.")
    if (
        isinstance(batch_timeout_ms, bool)
        or not isinstance(batch_timeout_ms, (int, float))
        or not 0 <= batch_timeout_ms <= 60_000
    ):
        raise ValueError(
            f"`batch_timeout_ms` must be a number in [0, 60000]. Received: "
            f"batch_timeout_ms={batch_timeout_ms!r}."
        )
    if not isinstance(batching, bool):
        raise ValueError(f"`batching` must be True or False. Received: batching={batching!r}.")
    return dict(
        max_batch_size=max_batch_size,
        batch_timeout_ms=float(batch_timeout_ms),
        max_queue=max_queue,
        max_request_bytes=max_request_bytes,
        batching=batching,
        max_rows=max_rows,
    )


class _Service:
    """The server's state and the work behind each endpoint, free of the web framework.

    Args:
        models: dict. {name: predictor of `nlp_lstm.load`}.
        options: dict. What `check_options` returns.
    """

    def __init__(self, models, options):
        if not models:
            raise ValueError("`models` must name at least one predictor: {name: predictor}.")
        self.models = {name: ServedModel(name, predictor) for name, predictor in models.items()}
        self.options = options
        self.executor = ThreadPoolExecutor(NUM_MODEL_THREADS, thread_name_prefix="nlp_lstm-model")
        self.batcher = Batcher(
            self.executor,
            options["max_batch_size"],
            options["batch_timeout_ms"] / 1000,
            NUM_MODEL_THREADS,
        )
        self.pending = {}  # (model, signature) -> requests admitted and not yet answered
        self.unmerged_calls = 0

    def model(self, name):
        if name not in self.models:
            raise RequestError(
                404, f"No model named `{name}`; this server has {', '.join(self.models)}."
            )
        return self.models[name]

    def health(self):
        return {
            "status": "ok",
            "models": list(self.models),
            "requests_in_flight": sum(self.pending.values()),
            "model_calls": self.batcher.calls + self.unmerged_calls,
        }

    async def read_body(self, request):
        limit = self.options["max_request_bytes"]
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise RequestError(
                413,
                f"The request body has {int(length)} bytes; the limit is "
                f"{limit} (--max-request-bytes).",
            )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(
                    413,
                    f"The request body is over the limit of {limit} bytes (--max-request-bytes).",
                )
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks))
        except (ValueError, RecursionError) as err:  # RecursionError: nested too deeply
            raise RequestError(400, f"The request body is not valid JSON: {err}.") from err

    def refuse_if_full(self, name, signatures):
        limit = self.options["max_queue"]
        if all(self.pending.get((name, signature), 0) >= limit for signature in signatures):
            which = (
                f"queue of `{name}` signature `{signatures[0]}` is"
                if len(signatures) == 1
                else f"queues of every signature of `{name}` are"
            )
            raise RequestError(
                503, f"The {which} full ({limit} requests, --max-queue); retry later."
            )

    async def predict(self, name, request, info):
        model = self.model(name)
        # Whatever signature the body asks for would be refused: skip reading it (overload).
        self.refuse_if_full(name, list(model.signatures))
        call = model.parse(await self.read_body(request), self.options["max_rows"])
        info["rows"] = call.rows
        key = (name, call.signature.name)
        self.refuse_if_full(name, [call.signature.name])
        self.pending[key] = self.pending.get(key, 0) + 1
        try:
            outputs = await self.run(call)
        finally:
            self.pending[key] -= 1
        return call.signature.answer(outputs, call.columnar)

    async def run(self, call):
        signature = call.signature
        try:
            if self.options["batching"] and signature.mergeable:
                return await self.batcher.submit(call)
            loop = asyncio.get_running_loop()
            self.unmerged_calls += 1
            outputs = await loop.run_in_executor(
                self.executor, signature.call, call.batched, call.scalars
            )
            return signature.split(outputs, [call.rows])[0]
        except tf.errors.InvalidArgumentError as err:
            # TF Serving's mapping too: the model refused these inputs.
            raise RequestError(400, f"The model refused the inputs: {error_line(err)}") from err


def _encode(payload):
    # NaN and ±Infinity are written as TF Serving writes them (a -inf score is possible).
    return json.dumps(payload, ensure_ascii=False, allow_nan=True, separators=(",", ":")).encode(
        "utf-8"
    )


def create_app(
    models,
    max_batch_size=32,
    batch_timeout_ms=2.0,
    max_queue=256,
    max_request_bytes=1_048_576,
    batching=True,
    max_rows=1024,
):
    """A Starlette app that serves `models` with TF Serving's REST API.

    Args:
        models: dict. {name: predictor}, each from `nlp_lstm.load(path)`; the name is the one in
            the URLs.
        max_batch_size: int. Most rows merged into one model call.
        batch_timeout_ms: float. How long the oldest waiting request waits for others to join
            its call (0: merge only what is already waiting).
        max_queue: int. Requests waiting or running per model and signature; more get 503.
        max_request_bytes: int. Larger request bodies get 413.
        batching: bool. Merge concurrent requests (False: one model call per request).
        max_rows: int. Most rows in one request; more get 413.

    Returns:
        starlette.applications.Starlette, an ASGI app (run it with uvicorn, or `run_server`).
    """
    _web_stack()
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import Response
    from starlette.routing import Route

    service = _Service(
        models,
        check_options(
            max_batch_size, batch_timeout_ms, max_queue, max_request_bytes, batching, max_rows
        ),
    )

    def respond(payload, status=200, close=False):
        headers = {"connection": "close"} if close else None
        return Response(_encode(payload), status, headers, media_type="application/json")

    def refuse(err):
        # A 413 body was left unread: the connection cannot carry another request.
        response = respond({"error": str(err)}, err.status, close=err.status == 413)
        if err.status == 503:
            response.headers["retry-after"] = "1"
        return response

    async def status(request):
        name, colon, verb = request.path_params["name"].partition(":")
        if colon:
            return respond(
                {"error": f"GET is not allowed on {request.url.path}; use POST for :{verb}."}, 405
            )
        try:
            return respond(service.model(name).status())
        except RequestError as err:
            return refuse(err)

    async def metadata(request):
        try:
            return respond(service.model(request.path_params["name"]).metadata)
        except RequestError as err:
            return refuse(err)

    async def predict(request):
        try:
            return respond(
                await service.predict(
                    request.path_params["name"], request, request.scope.setdefault("nlp_lstm", {})
                )
            )
        except RequestError as err:
            return refuse(err)

    async def health(request):
        return respond(service.health())

    async def http_error(request, err):
        message = {
            404: f"No route {request.url.path}; the routes: GET /v1/models/NAME, GET "
            f"/v1/models/NAME/metadata, POST /v1/models/NAME:predict, GET /healthz.",
            405: f"{request.method} is not allowed on {request.url.path}.",
        }
        return respond({"error": message.get(err.status_code, err.detail)}, err.status_code)

    async def server_error(request, err):
        # uvicorn logs the traceback (the app re-raises after this answer).
        logger.error(
            "%s %s failed: %s: %s", request.method, request.url.path, type(err).__name__, err
        )
        return respond({"error": f"Internal error: {type(err).__name__}: {err}"}, 500)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        service.executor.shutdown(wait=True)

    app = Starlette(
        routes=[
            Route("/v1/models/{name}:predict", predict, methods=["POST"]),
            Route("/v1/models/{name}/metadata", metadata, methods=["GET"]),
            Route("/v1/models/{name}", status, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.service = service
    return _RequestLog(app)


class _RequestLog:
    """ASGI middleware: one log line per request (method, path, status, rows, milliseconds)."""

    def __init__(self, app):
        self.app = app

    @property
    def state(self):
        return self.app.state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]
        info = scope["nlp_lstm"] = {"rows": 0}

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            logger.info(
                "%s %s %d rows=%d %.1fms",
                scope["method"],
                scope["path"],
                status[0],
                info["rows"],
                (time.perf_counter() - start) * 1000,
            )


def _log_to_stderr():
    """A stderr handler for the server's lines when nothing logs them yet (a plain Python
    caller; the CLI sets up its own)."""
    package_logger = logging.getLogger("nlp_lstm")
    if package_logger.hasHandlers():
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    package_logger.addHandler(handler)
    if package_logger.getEffectiveLevel() > logging.INFO:
        package_logger.setLevel(logging.INFO)


def run_server(models, host="127.0.0.1", port=8501, **app_options):
    """Loads each export and serves them until SIGTERM or SIGINT (then exits normally).

    On the signal the server stops listening (new connections are refused, and one accepted in the
    instant before is closed unanswered), answers the requests already in flight (for up to
    GRACEFUL_SHUTDOWN_S seconds) and returns.

    Args:
        models: dict. {name: path}, a run directory or an export directory each.
        host: str. The address to bind: loopback unless told otherwise.
        port: int. The TCP port (TF Serving's REST port by default).
        **app_options: what `create_app` takes (max_batch_size, batch_timeout_ms, max_queue,
            max_request_bytes, batching, max_rows).
    """
    _, uvicorn = _web_stack()
    from nlp_lstm.api import load

    options = check_options(**app_options)
    _log_to_stderr()
    predictors = {name: load(path) for name, path in models.items()}
    app = create_app(predictors, **options)
    _warm_up(app.state.service)
    for name, model in app.state.service.models.items():
        logger.info(
            "model %s: %s, signatures %s (default %s)%s",
            name,
            model.predictor.metadata["path"],
            ", ".join(model.signatures),
            model.default_signature,
            f"; not served: {', '.join(model.skipped)}" if model.skipped else "",
        )
    logger.info(
        "batching %s",
        f"up to {options['max_batch_size']} rows or {options['batch_timeout_ms']:g} ms"
        if options["batching"]
        else "off",
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            access_log=False,
            lifespan="on",
            server_header=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
    )
    # uvicorn re-raises the signal it stopped on once it has shut down; these handlers take it,
    # so that a graceful stop ends the process with status 0.
    previous = {
        number: signal.signal(number, _stopped) for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        server.run()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _warm_up(service):
    """One call of each signature that takes only text, so the first request is not the one that
    pays for TensorFlow's first run of the graph."""
    start = time.perf_counter()
    for model in service.models.values():
        for signature in model.signatures.values():
            if not signature.scalars and all(
                signature.inputs[key].dtype == tf.string for key in signature.batched
            ):
                signature.call({key: ["warm up"] for key in signature.batched}, {})
    logger.info("warmed up in %.1f s", time.perf_counter() - start)


def _stopped(number, frame):
    logger.info("stopped by %s", signal.Signals(number).name)
