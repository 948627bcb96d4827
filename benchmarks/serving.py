"""Serving: requests per second and latency of `nlp-lstm serve`, with dynamic batching on and off.

    python -m benchmarks.serving                          # about 8 minutes; prints the Markdown
    python -m benchmarks.serving --output BENCHMARKS.md   # and writes it between its markers
    python -m benchmarks.serving --quick                  # 1-second runs: a smoke test

It trains the classification and translation quickstarts as shipped (or takes `--classifier
RUN --translator RUN`), starts two servers on loopback ports, one with batching and one with
`--no-batching`, and drives them with a closed-loop load generator: 1, 8 and 32 clients, each on
its own keep-alive connection, send a request, wait for the answer and send the next, one text per
request (the package's sample sets, cycled). At each client count the rounds alternate the two
servers (A B A B); each run is bounded in time and in count. An overload test then sends 256
clients at a third server with a small queue (`--max-queue 64`) between rounds of 32 clients, to
see the 503s, that the server stays up and that it recovers.

The load generator (`benchmarks.load_generator`) is one separate process (asyncio streams speaking
HTTP/1.1 directly, requests prepared in advance); it measures its own CPU time per request, and its
ceiling against a server that answers canned bytes. It shares the 2 cores with the server, as a
client on the same machine would. The report names uvicorn's HTTP parser and event loop (h11 and
asyncio with the `serve` extra; httptools and uvloop with uvicorn[standard]), and `--output`
keeps one block per such stack. Nothing in it is typed by hand.
"""

import argparse
import collections
import concurrent.futures
import csv
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks import harness
from benchmarks.load_generator import GRACE_S, free_port, generate_load, http_requests, serve_canned

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "nlp_lstm" / "samples"
CLIENTS = (1, 8, 32)
OVERLOAD_CLIENTS, OVERLOAD_QUEUE = 256, 64
RUN_S, QUICK_RUN_S = 5.0, 1.0  # measured seconds of one run (after WARMUP_S unrecorded)
REPEATS, QUICK_REPEATS = 3, 1  # rounds per configuration, alternating the two servers
MAX_REQUESTS = 100_000  # a run also ends after this many requests
WARMUP_S = 1.0
MARKER = (
    "<!-- serving-benchmark:{stack}:{edge} (written by `python -m benchmarks.serving`; "
    "do not edit by hand) -->"
)


def generator_ceiling(pool, context, body, clients, seconds):
    """The generator's rate and CPU per request against the canned server (32 clients)."""
    port = free_port()
    process = context.Process(target=serve_canned, args=(port, WARMUP_S + seconds + GRACE_S))
    process.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        result = pool.submit(
            generate_load,
            {
                "host": "127.0.0.1",
                "port": port,
                "clients": clients,
                "seconds": seconds,
                "warmup_s": WARMUP_S,
                "max_requests": MAX_REQUESTS,
                "requests": http_requests("127.0.0.1", port, "/v1/models/canned:predict", [body]),
            },
        ).result()
    finally:
        process.terminate()
        process.join(timeout=30)
    return {
        "rate": len(result["latencies"].get(200, [])) / result["seconds"],
        "cpu_us": result["cpu_s"] * 1e6 / max(result["answered"], 1),
    }


# -- servers -------------------------------------------------------------------------------------
def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class Server:
    """`nlp-lstm serve` in a subprocess on a free loopback port."""

    def __init__(self, models, options, log_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [
            sys.executable,
            "-m",
            "nlp_lstm.cli",
            "serve",
            *(f"{name}={path}" for name, path in models.items()),
            "--port",
            str(self.port),
            *options,
        ]
        self.log_path = log_path
        self.process = None

    def start(self, timeout=300):
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{' '.join(self.command)} exited with "
                    f"{self.process.returncode}; see {self.log_path}"
                )
            try:
                return self.health()
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"the server did not answer within {timeout} s; see {self.log_path}")

    def health(self):
        return get_json(self.url + "/healthz")

    def cpu_s(self):
        """User + system CPU seconds of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        """SIGTERM, then the exit status (killed after 60 s)."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=30)


# -- the runs ------------------------------------------------------------------------------------
PIPELINES = {"classifier": "quickstart_classify", "translator": "quickstart_translate"}


def train(names, work_dir, log):
    """{name: run directory} of those quickstarts (PIPELINES), trained as shipped."""
    runs = {}
    for name in names:
        pipeline = PIPELINES[name]
        runs[name] = work_dir / name
        log(f"serving: training {pipeline} into {runs[name]}")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "nlp_lstm.cli",
                "-q",
                "run",
                str(REPO / "pipelines" / f"{pipeline}.yaml"),
                "--run-dir",
                str(runs[name]),
                "--set",
                "train.verbose=0",
            ],
            cwd=REPO,
            check=True,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            timeout=1800,
        )
    return runs


def texts():
    with open(SAMPLES / "sentiment.tsv", encoding="utf-8", newline="") as file:
        reviews = [row["text"] for row in csv.DictReader(file, delimiter="\t")]
    with open(SAMPLES / "phrasebook.tsv", encoding="utf-8", newline="") as file:
        sentences = [row["en"] for row in csv.DictReader(file, delimiter="\t")]
    return {"classifier": reviews[:2000], "translator": sentences[:2000]}


class Runner:
    """Runs the load generator (in `pool`, its own process) against one server."""

    def __init__(self, pool, log):
        self.pool, self.log = pool, log

    def run(self, server, model, bodies, clients, seconds, label=""):
        """One run: the generator's result plus the server's CPU time and model calls in it."""
        requests = http_requests("127.0.0.1", server.port, f"/v1/models/{model}:predict", bodies)
        calls, cpu = server.health()["model_calls"], server.cpu_s()
        result = self.pool.submit(
            generate_load,
            {
                "host": "127.0.0.1",
                "port": server.port,
                "requests": requests,
                "clients": clients,
                "seconds": seconds,
                "warmup_s": WARMUP_S,
                "max_requests": MAX_REQUESTS,
            },
        ).result()
        alive = server.process.poll() is None
        health = server.health() if alive else {"status": "down", "model_calls": calls}
        result.update(
            alive=alive and health["status"] == "ok",
            server_cpu_s=server.cpu_s() - cpu,
            calls=health["model_calls"] - calls,
        )
        ok = result["latencies"].get(200, [])
        self.log(
            f"serving: {model} {label} {clients} clients: {len(ok) / result['seconds']:.0f} "
            f"req/s, {sum(len(v) for v in result['latencies'].values()) - len(ok)} non-200, "
            f"{sum(result['errors'].values())} transport errors"
        )
        return result


def summarize(rounds, **labels):
    """The rounds of one configuration: requests/s (median of the rounds), latency percentiles
    over every answer, errors, and the server's and the generator's CPU per request."""
    latencies = collections.defaultdict(list)
    errors = collections.Counter()
    for result in rounds:
        for status, values in result["latencies"].items():
            latencies[status].extend(values)
        errors.update(result["errors"])
    ok = latencies.get(200, [])
    answered = sum(result["answered"] for result in rounds)  # the warm-up's too, as CPU counts
    return {
        **labels,
        "rounds": len(rounds),
        "latencies": dict(latencies),
        "errors": dict(errors),
        "completed": sum(len(values) for values in latencies.values()),
        "rate": harness.median([len(r["latencies"].get(200, [])) / r["seconds"] for r in rounds]),
        "p50": ms(harness.percentile(ok, 50)),
        "p99": ms(harness.percentile(ok, 99)),
        "alive": all(result["alive"] for result in rounds),
        "error_count": sum(errors.values())
        + sum(len(values) for status, values in latencies.items() if status != 200),
        "rows_per_call": answered / max(sum(result["calls"] for result in rounds), 1),
        "server_cpu_ms": sum(r["server_cpu_s"] for r in rounds) * 1000 / max(answered, 1),
        "client_cpu_us": sum(r["cpu_s"] for r in rounds) * 1e6 / max(answered, 1),
    }


def ms(seconds):
    return None if seconds is None else seconds * 1000


def measure(runs, work_dir, quick, repeats, log):
    """Every configuration's summary: the batching comparison and the overload test."""
    bodies = {name: [{"instances": [text]} for text in values] for name, values in texts().items()}
    seconds = QUICK_RUN_S if quick else RUN_S
    servers = {
        "on": Server(runs, [], work_dir / "server-batching.log"),
        "off": Server(runs, ["--no-batching"], work_dir / "server-no-batching.log"),
    }
    overload = Server(
        {"classifier": runs["classifier"]},
        ["--max-queue", str(OVERLOAD_QUEUE)],
        work_dir / "server-overload.log",
    )
    results = {"comparison": [], "overload": [], "exit_codes": {}}
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        runner = Runner(pool, log)
        results["ceiling"] = generator_ceiling(pool, context, bodies["classifier"][0], 32, seconds)
        log(f"serving: the load generator's ceiling: {results['ceiling']['rate']:.0f} req/s")
        try:
            for server in servers.values():
                server.start()
                runner.run(server, "classifier", bodies["classifier"], 32, WARMUP_S, "warm-up")
            for model in ("classifier", "translator"):
                for clients in CLIENTS:
                    rounds = {"on": [], "off": []}
                    for _ in range(repeats):  # A B A B: the machine's other load hits both
                        for batching in rounds:
                            rounds[batching].append(
                                runner.run(
                                    servers[batching],
                                    model,
                                    bodies[model],
                                    clients,
                                    seconds,
                                    f"batching {batching}",
                                )
                            )
                    results["comparison"] += [
                        summarize(rounds[batching], model=model, batching=batching, clients=clients)
                        for batching in rounds
                    ]
            for name, server in servers.items():
                results["exit_codes"][f"batching {name}"] = server.stop()
            overload.start()
            runner.run(overload, "classifier", bodies["classifier"], 32, WARMUP_S, "warm-up")
            phases = (
                ("before", 32, repeats),
                ("overload", OVERLOAD_CLIENTS, 1),
                ("after", 32, repeats),
            )
            for phase, clients, count in phases:
                results["overload"].append(
                    summarize(
                        [
                            runner.run(
                                overload,
                                "classifier",
                                bodies["classifier"],
                                clients,
                                seconds,
                                phase,
                            )
                            for _ in range(count)
                        ],
                        phase=phase,
                        clients=clients,
                    )
                )
            results["exit_codes"]["overload"] = overload.stop()
        finally:
            for server in (*servers.values(), overload):
                if server.process is not None and server.process.poll() is None:
                    server.process.kill()
    return results


# -- the report ----------------------------------------------------------------------------------
def find(results, model, batching, clients):
    return next(
        r
        for r in results["comparison"]
        if r["model"] == model and r["batching"] == batching and r["clients"] == clients
    )


def goals(results):
    on, off = (find(results, "classifier", b, 32) for b in ("on", "off"))
    steady = results["comparison"]
    requests = sum(r["completed"] for r in steady)
    errors = sum(r["error_count"] for r in steady)
    before, overload, after = results["overload"]
    rejected = overload["latencies"].get(503, [])
    return [
        harness.Goal(
            "classifier, 32 clients: requests/s with batching / without",
            on["rate"] / max(off["rate"], 1e-9),
            4.0,
            note=f"{on['rate']:.0f} against {off['rate']:.0f} req/s",
        ),
        harness.Goal(
            "classifier, 32 clients with batching: p99 latency",
            on["p99"],
            100.0,
            unit=" ms",
            higher_is_better=False,
        ),
        harness.Goal(
            "requests answered in the runs above (not the overload)",
            float(requests),
            20_000.0,
            unit="",
            note="all runs of the comparison table",
        ),
        harness.Goal("errors in those runs", float(errors), 0.0, unit="", higher_is_better=False),
        harness.Goal(
            f"overload ({OVERLOAD_CLIENTS} clients, --max-queue {OVERLOAD_QUEUE}): p99 "
            f"latency of the 503s",
            ms(harness.percentile(rejected, 99)),
            100.0,
            unit=" ms",
            higher_is_better=False,
            note=f"{len(rejected):,} 503s",
        ),
        harness.Goal(
            "overload: the server stays up (health 200 after it)",
            float(overload["alive"]),
            1.0,
            unit="",
        ),
        harness.Goal(
            "after the overload: requests/s at 32 clients / before it",
            after["rate"] / max(before["rate"], 1e-9),
            0.9,
            note=f"{after['rate']:.0f} against {before['rate']:.0f} req/s",
        ),
    ]


def error_text(result, expected=(200,)):
    parts = [
        f"{len(values):,}× {status}"
        for status, values in sorted(result["latencies"].items())
        if status not in expected
    ] + [f"{count:,}× {kind}" for kind, count in sorted(result["errors"].items()) if count]
    return ", ".join(parts) or "0"


def web_stack():
    """(HTTP parser, event loop) as uvicorn picks them ("auto") in this environment: httptools and
    uvloop when installed (`pip install 'uvicorn[standard]'`), else h11 and asyncio."""
    import importlib.util

    found = {name: importlib.util.find_spec(name) is not None for name in ("httptools", "uvloop")}
    return (
        "httptools" if found["httptools"] else "h11",
        "uvloop" if found["uvloop"] else "asyncio",
    )


def markers(stack):
    return tuple(MARKER.format(stack="-".join(stack), edge=edge) for edge in ("begin", "end"))


def render(results, command, started, seconds, models):
    on_calls = [r["rows_per_call"] for r in results["comparison"] if r["batching"] == "on"]
    cpu = [r["client_cpu_us"] for r in results["comparison"] + results["overload"]]
    rounds = results["comparison"][0]["rounds"]
    stack = web_stack()
    lines = [
        markers(stack)[0],
        "",
        f"### Serving with {stack[0]} and {stack[1]}",
        "",
        f"Written by `{command}` on {started:%Y-%m-%d %H:%M} UTC in {seconds / 60:.1f} min.",
        "",
        f"- CPU: {harness.cpu_model()}, {os.cpu_count()} cores, shared by the server, the "
        f"load generator and whatever else ran (1-minute load average "
        f"{results['load_average'][0]:.2f} before the run, "
        f"{results['load_average_after']:.2f} after it)",
        f"- models: {models}",
        f"- uvicorn {results['versions']['uvicorn']}, starlette "
        f"{results['versions']['starlette']}; uvicorn's HTTP parser {stack[0]}, event "
        f"loop {stack[1]}",
        f"- load generator: one process, {harness.median(cpu):.0f} µs of its own CPU per "
        f"request in the runs below (median; {min(cpu):.0f}–{max(cpu):.0f} µs). Its "
        f"ceiling, measured against a server that answers canned bytes (32 clients, "
        f"{results['run_s']:g} s): {results['ceiling']['rate']:,.0f} requests/s at "
        f"{results['ceiling']['cpu_us']:.0f} µs of its CPU per request",
        "- servers: defaults (`--max-batch-size 32 --batch-timeout-ms 2`) and "
        "`--no-batching`; exit statuses after SIGTERM: "
        + ", ".join(f"{k} {v}" for k, v in results["exit_codes"].items()),
        "",
        "| goal | measured | target | met | note |",
        "|---|---|---|---|---|",
    ]
    for goal in goals(results):
        sign = "≥" if goal.higher_is_better else "≤"
        note = "; ".join(part for part in (goal.shortfall(), goal.note) if part)
        measured = "not measured" if goal.value is None else f"{harness.fmt(goal.value)}{goal.unit}"
        lines.append(
            f"| {goal.name} | {measured} | {sign} {harness.fmt(goal.target)}{goal.unit} | "
            f"{'yes' if goal.met else '**no**'} | {note} |"
        )
    lines += [
        "",
        f"Requests/s: the median of {rounds} rounds of {results['run_s']:g} s (after "
        f"{WARMUP_S:g} s unrecorded), the two servers alternating; latencies over all the "
        f"rounds' requests. Each request is one text.",
        "",
        "| model | batching | clients | requests | requests/s | p50 ms | p99 ms | "
        "errors | rows per model call | server CPU ms per request |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["comparison"]:
        lines.append(
            "| "
            + " | ".join(
                harness.fmt(v)
                for v in (
                    r["model"],
                    r["batching"],
                    r["clients"],
                    r["completed"],
                    r["rate"],
                    r["p50"],
                    r["p99"],
                    error_text(r),
                    r["rows_per_call"],
                    r["server_cpu_ms"],
                )
            )
            + " |"
        )
    lines += [
        "",
        f"Overload: a third server with `--max-queue {OVERLOAD_QUEUE}`: {rounds} rounds "
        f"of 32 clients, one of {OVERLOAD_CLIENTS}, then {rounds} of 32 again (200s per s: "
        f"the median of the rounds).",
        "",
        "| phase | clients | answered | 200 | 503 | other errors | 200s per s | 200 p50 ms | "
        "200 p99 ms | 503 p50 ms | 503 p99 ms | server up after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["overload"]:
        rejected = r["latencies"].get(503, [])
        lines.append(
            "| "
            + " | ".join(
                harness.fmt(v)
                for v in (
                    r["phase"],
                    r["clients"],
                    r["completed"],
                    len(r["latencies"].get(200, [])),
                    len(rejected),
                    error_text(r, (200, 503)),
                    r["rate"],
                    r["p50"],
                    r["p99"],
                    ms(harness.percentile(rejected, 50)),
                    ms(harness.percentile(rejected, 99)),
                    "yes" if r["alive"] else "**no**",
                )
            )
            + " |"
        )
    lines += [
        "",
        f"(batching on: {harness.fmt(min(on_calls))}–{harness.fmt(max(on_calls))} "
        f"requests per model call)",
        "",
        markers(stack)[1],
    ]
    return "\n".join(lines) + "\n"


def write_report(path, block, stack):
    """Replaces this web stack's block in `path`; or adds it after the other stack's block, or in
    a new Serving section at the end."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    begin, end = markers(stack)
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end) + "\n?", re.S)
    others = [m for m in re.finditer(r"<!-- serving-benchmark:[a-z0-9-]+:end .*?-->\n?", text)]
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    elif others:
        text = text[: others[-1].end()] + "\n" + block + text[others[-1].end() :]
    else:
        text = text.rstrip("\n") + "\n\n## Serving\n\n" + block
    path.write_text(text, encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serving", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="1-second runs (a smoke test)")
    parser.add_argument("--classifier", help="a classification run to serve (default: train one)")
    parser.add_argument("--translator", help="a translation run to serve (default: train one)")
    parser.add_argument("--work-dir", help="scratch folder (default: a new temporary folder)")
    parser.add_argument(
        "--repeats",
        type=int,
        help=f"rounds per configuration (default {REPEATS}, --quick {QUICK_REPEATS})",
    )
    parser.add_argument("--output", help="Markdown file to write the results into")
    args = parser.parse_args(argv)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    work_dir = Path(args.work_dir or tempfile.mkdtemp(prefix="nlp-lstm-serving-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    started, start = harness.utc_now(), time.perf_counter()
    load_average = os.getloadavg()
    given = {"classifier": args.classifier, "translator": args.translator}
    runs = {
        **train([name for name, run in given.items() if not run], work_dir, log),
        **{name: Path(run) for name, run in given.items() if run},
    }
    models = ", ".join(
        f"{name}: the run {given[name]}"
        if given[name]
        else f"{name}: `pipelines/{PIPELINES[name]}.yaml` as shipped, trained by the benchmark"
        for name in PIPELINES
    )
    repeats = args.repeats or (QUICK_REPEATS if args.quick else REPEATS)
    results = measure(runs, work_dir, args.quick, repeats, log)
    import starlette
    import uvicorn

    results.update(
        load_average=load_average,
        load_average_after=os.getloadavg()[0],
        run_s=QUICK_RUN_S if args.quick else RUN_S,
        versions={"uvicorn": uvicorn.__version__, "starlette": starlette.__version__},
    )
    command = (
        "python -m benchmarks.serving"
        + (" --quick" if args.quick else "")
        + (f" --repeats {args.repeats}" if args.repeats else "")
        + "".join(f" --{name} RUN" for name, run in given.items() if run)
        + (f" --output {args.output}" if args.output else "")
    )
    block = render(results, command, started, time.perf_counter() - start, models)
    print(block)
    if args.output:
        write_report(args.output, block, web_stack())
        log(f"wrote the serving results into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
