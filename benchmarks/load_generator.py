"""The serving benchmark's load generator: closed-loop clients that speak HTTP/1.1 over asyncio
streams, one keep-alive connection each, with their requests prepared in advance; and a server
that answers canned bytes, to measure the generator's own ceiling.

`generate_load(spec)` runs in a process of its own (`benchmarks.serving` starts it), so that the
generator and the server under test do not share a Python interpreter.
"""

import asyncio
import collections
import json
import re
import resource
import socket
import time

GRACE_S = 30  # how long a client may wait for its last answer before it counts as a timeout


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_requests(host, port, path, bodies):
    """Each JSON body as the bytes of one HTTP/1.1 POST."""
    out = []
    for body in bodies:
        data = json.dumps(body).encode()
        out.append(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: "
            f"application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
    return out


async def _client(host, port, requests, offset, clock, stats):
    reader = writer = None
    index = offset
    while time.perf_counter() < clock["stop"] and stats["sent"] < clock["max_requests"]:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as err:
                stats["errors"][f"connect: {type(err).__name__}"] += 1
                await asyncio.sleep(0.05)
                continue
        request = requests[index % len(requests)]
        index += 1
        start = time.perf_counter()
        measured = start >= clock["measure_from"]
        stats["sent"] += measured
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
            body = await reader.readexactly(length)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            AttributeError,
        ) as err:
            stats["errors"][f"transport: {type(err).__name__}"] += measured
            writer.close()
            writer = None
            continue
        end = time.perf_counter()
        stats["answered"] += 1
        if measured:
            status = int(head[9:12])
            stats["latencies"][status].append(end - start)
            stats["last"] = end
            if status == 200 and not body.startswith(b'{"predictions"'):
                stats["errors"]["200 without predictions"] += 1
        if b"connection: close" in head.lower():
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def _drive(spec):
    now = time.perf_counter()
    measure_from = now + spec["warmup_s"]
    clock = {
        "measure_from": measure_from,
        "stop": measure_from + spec["seconds"],
        "max_requests": spec["max_requests"],
    }
    stats = {
        "sent": 0,
        "answered": 0,
        "last": measure_from,
        "errors": collections.Counter(),
        "latencies": collections.defaultdict(list),
    }
    requests = spec["requests"]
    tasks = [
        asyncio.ensure_future(
            _client(
                spec["host"],
                spec["port"],
                requests,
                index * len(requests) // spec["clients"],
                clock,
                stats,
            )
        )
        for index in range(spec["clients"])
    ]
    _, late = await asyncio.wait(tasks, timeout=spec["warmup_s"] + spec["seconds"] + GRACE_S)
    for task in late:
        task.cancel()
    stats["errors"]["timeout"] += len(late)
    return clock, stats


def generate_load(spec):
    """One closed-loop run; returns its counts, latencies and the generator's own CPU time."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    clock, stats = asyncio.run(_drive(spec))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "seconds": max(stats["last"] - clock["measure_from"], 1e-9),
        "sent": stats["sent"],
        "answered": stats["answered"],
        "latencies": dict(stats["latencies"]),
        "errors": dict(stats["errors"]),
        "cpu_s": cpu,
    }


# The generator's own ceiling: it drives a server that answers every request with these bytes.
CANNED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 19\r\n\r\n"
    b'{"predictions":[0]}'
)


async def _answer_canned(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(
                int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
            )
            writer.write(CANNED)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client hung up: this connection is done
    finally:
        writer.close()


def serve_canned(port, seconds):
    """A server (for `seconds`) that reads each request and answers CANNED, nothing else."""

    async def serve():
        server = await asyncio.start_server(_answer_canned, "127.0.0.1", port)
        await asyncio.sleep(seconds)
        server.close()

    asyncio.run(serve())
