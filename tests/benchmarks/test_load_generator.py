"""The serving benchmark's load generator: the requests it prepares, and what it counts against a
loopback stub server (answers by status, refusals, connection errors), a few requests each."""

import contextlib
import json
import socket
import threading
import time

from benchmarks import load_generator
from tests.benchmarks.stub_server import StubServer


@contextlib.contextmanager
def stub_server(refuse_every=0):
    server = StubServer(load_generator.free_port(), refuse_every=refuse_every)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _spec(port, bodies, **overrides):
    return {
        "host": "127.0.0.1",
        "port": port,
        "requests": load_generator.http_requests("127.0.0.1", port, "/v1/models/m:predict", bodies),
        "clients": 1,
        "seconds": 30.0,  # the count ends these runs, long before the time
        "warmup_s": 0.0,
        "max_requests": 4,
        **overrides,
    }


def _errors(result):
    """The kinds of error that happened (the generator also lists `timeout: 0`)."""
    return {kind: count for kind, count in result["errors"].items() if count}


def test_requests_are_complete_http_posts_of_the_json_bodies():
    bodies = [{"instances": ["a film"]}, {"instances": ["ünïcode", "two"]}]
    requests = load_generator.http_requests("127.0.0.1", 8123, "/v1/models/c:predict", bodies)
    assert len(requests) == 2
    for request, body in zip(requests, bodies):
        head, _, data = request.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0] == "POST /v1/models/c:predict HTTP/1.1"
        assert "Host: 127.0.0.1:8123" in lines and "Content-Type: application/json" in lines
        assert f"Content-Length: {len(data)}" in lines
        assert json.loads(data) == body


def test_each_answer_is_counted_under_its_status():
    """One client, four requests, a server that refuses every other one: two 200s and two 503s,
    each with its latency, and no errors."""
    with stub_server(refuse_every=2) as server:
        result = load_generator.generate_load(
            _spec(server.server_address[1], [{"instances": ["x"]}])
        )
    assert result["sent"] == result["answered"] == 4
    assert sorted(result["latencies"]) == [200, 503]
    assert [len(result["latencies"][status]) for status in (200, 503)] == [2, 2]
    assert all(0 < latency < 30 for values in result["latencies"].values() for latency in values)
    assert _errors(result) == {}
    assert server.requests == 4 and server.model_calls == 2
    assert result["seconds"] > 0 and result["cpu_s"] >= 0


def test_requests_in_the_warmup_are_answered_but_not_measured():
    with stub_server() as server:
        result = load_generator.generate_load(
            _spec(server.server_address[1], [{"instances": ["x"]}], warmup_s=0.2, max_requests=3)
        )
    assert result["sent"] == len(result["latencies"][200]) == 3
    assert result["answered"] == server.requests > 3  # the warm-up's answers as well


def test_clients_cycle_through_the_prepared_requests_from_different_offsets():
    """Two clients over four prepared requests, each on its own connection: one starts at the
    first request and the other at the third, and each goes on with the next one in turn."""
    bodies = [{"instances": [f"text {i}"]} for i in range(4)]
    with stub_server() as server:
        result = load_generator.generate_load(
            _spec(server.server_address[1], bodies, clients=2, max_requests=6)
        )
    assert result["sent"] == len(result["latencies"][200]) == 6 and _errors(result) == {}
    sequences = {}  # the texts each connection sent, in order
    for client, instances in server.received:
        sequences.setdefault(client, []).append(int(instances[0].split()[1]))
    assert len(sequences) == 2 and sum(map(len, sequences.values())) == 6
    assert sorted(sequence[0] for sequence in sequences.values()) == [0, 2]
    for sequence in sequences.values():
        assert sequence == [(sequence[0] + i) % 4 for i in range(len(sequence))], sequences


def test_a_server_that_is_not_there_is_a_connect_error_not_a_crash():
    port = load_generator.free_port()  # nothing listens on it
    result = load_generator.generate_load(_spec(port, [{"instances": ["x"]}], seconds=0.2))
    assert result["sent"] == result["answered"] == 0 and result["latencies"] == {}
    assert set(_errors(result)) == {"connect: ConnectionRefusedError"}
    assert result["errors"]["connect: ConnectionRefusedError"] >= 1


def test_the_canned_server_answers_what_the_generator_counts_as_a_prediction():
    """`serve_canned`, the server of the generator's ceiling, in a thread: two requests."""
    port = load_generator.free_port()
    thread = threading.Thread(target=load_generator.serve_canned, args=(port, 1.0), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the canned server never listened"
            time.sleep(0.02)
    result = load_generator.generate_load(_spec(port, [{"instances": ["x"]}], max_requests=2))
    assert result["sent"] == result["answered"] == 2
    assert len(result["latencies"][200]) == 2 and _errors(result) == {}
    thread.join(timeout=10)
