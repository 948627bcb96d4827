"""A stand-in for `nlp-lstm serve` in the tests of the serving benchmark's harness: the same
command line, routes and shape of answers, and no model behind them.

    python -m tests.benchmarks.stub_server classifier=RUN translator=RUN --port 8000 \
        [--no-batching] [--max-queue N]

`POST /v1/models/<name>:predict` answers `{"predictions": [...]}`, one per instance; with
`--max-queue` it refuses every other request with 503, as an overloaded server does. `GET
/healthz` answers `{"status": "ok", "model_calls": n}`. SIGTERM stops it with exit status 0.
`StubServer` is the same server, to run in a thread of the test's process.
"""

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the load generator expects
    # The head and the body go out in two writes: without this, Nagle's algorithm holds the body
    # back until the client's delayed ACK, about 40 ms a request.
    disable_nagle_algorithm = True

    def log_message(self, *args):  # no access log
        pass

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/healthz":
            self._answer(404, {"error": f"no route {self.path}"})
            return
        self._answer(200, {"status": "ok", "model_calls": self.server.model_calls})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            server.received.append((self.client_address, body["instances"]))
            server.requests += 1
            refuse = bool(server.refuse_every) and server.requests % server.refuse_every == 0
            server.model_calls += not refuse
        if refuse:
            self._answer(503, {"error": "the queue is full"})
        else:
            self._answer(200, {"predictions": [0] * len(body["instances"])})


class StubServer(ThreadingHTTPServer):
    """The stub on 127.0.0.1:`port`; `refuse_every` n > 0 answers every n-th request 503."""

    daemon_threads = True
    request_queue_size = 512  # the listen backlog: room for every client connecting at once

    def __init__(self, port, refuse_every=0):
        self.lock = threading.Lock()
        self.requests = self.model_calls = 0
        self.received = []  # (client address, instances) of each predict request, in order
        self.refuse_every = refuse_every
        super().__init__(("127.0.0.1", port), _Handler)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.stub_server")
    parser.add_argument("models", nargs="+", help="NAME=RUN (accepted and ignored)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-batching", action="store_true")
    parser.add_argument("--max-queue", type=int)
    args = parser.parse_args(argv)
    server = StubServer(args.port, refuse_every=2 if args.max_queue else 0)
    # shutdown() waits for serve_forever() to return, so it cannot run in the handler itself.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
