"""Worker processes: `run --workers N` on a loopback cluster and `run --cluster slurm`.

`run_workers` starts N processes of the same run, each with its own TF_CONFIG, watches them, and
stops the others (SIGTERM, then SIGKILL after STOP_GRACE_S) as soon as one fails.
`slurm_tf_config` builds TF_CONFIG from the variables srun gives a job step.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from nlp_lstm.errors import ConfigError, TrainingError

# How long the launcher lets a stopped worker exit before it kills it.
STOP_GRACE_S = 10.0


def free_ports(count, host="127.0.0.1"):
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def loopback_tf_config(ports, index):
    return json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


SLURM_VARIABLES = (
    "SLURM_PROCID",
    "SLURM_STEP_NUM_TASKS",
    "SLURM_STEP_NODELIST",
    "SLURM_STEP_TASKS_PER_NODE",
)


def slurm_tf_config(port_base, environ=None):
    """TF_CONFIG (a JSON string) for this task of a Slurm job step, from
    `tf.distribute.cluster_resolver.SlurmClusterResolver`: one worker per Slurm task, on its
    node's host name at `port_base` + its rank on the node; task index = SLURM_PROCID.

    On GPU nodes the resolver splits the node's GPUs between its tasks and sets
    CUDA_VISIBLE_DEVICES in this process (before TensorFlow opens a GPU). On CPU nodes the
    resolver is given one placeholder slot per task (it lists a task only with a GPU slot) and
    sets no device variable.
    """
    environ = os.environ if environ is None else environ
    missing = [name for name in SLURM_VARIABLES if not environ.get(name)]
    if missing:
        raise ConfigError(
            f"--cluster slurm reads the Slurm job step's variables, and "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. "
            f"Start the command with srun inside an sbatch or salloc allocation, "
            f"or drop --cluster."
        )
    from tensorflow.python.distribute.cluster_resolver import slurm_cluster_resolver as slurm

    saved = {name: os.environ.get(name) for name in SLURM_VARIABLES}
    os.environ.update({name: environ[name] for name in SLURM_VARIABLES})
    try:
        per_node = max(slurm.expand_tasks_per_node(environ["SLURM_STEP_TASKS_PER_NODE"]))
        gpus = _node_gpus(environ)
        options = (
            dict(gpus_per_node=gpus)
            if gpus
            else dict(gpus_per_node=per_node, gpus_per_task=1, auto_set_gpu=False)
        )
        resolver = slurm.SlurmClusterResolver(port_base=port_base, **options)
        cluster = resolver.cluster_spec().as_dict()
    except (RuntimeError, ValueError) as err:
        received = ", ".join(f"{name}={environ[name]!r}" for name in SLURM_VARIABLES)
        raise ConfigError(
            f"--cluster slurm could not resolve the job step's cluster: "
            f"{str(err).rstrip('.')}. Received: {received}"
        ) from err
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return json.dumps(
        {"cluster": cluster, "task": {"type": resolver.task_type, "index": int(resolver.task_id)}}
    )


def _node_gpus(environ):
    """GPUs on this node: CUDA_VISIBLE_DEVICES when it is set (empty: none), else nvidia-smi's
    count (none when it is missing)."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([device for device in visible.split(",") if device.strip()])
    try:
        listing = subprocess.run(
            ["nvidia-smi", "--list-gpus"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())


def _describe_exit(code):
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _last_line(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = [line.strip() for line in handle if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


PEER_FAILURE_MARKS = (
    "CoordinationServiceError",
    "unhealthy",
    "UnavailableError",
    "DeadlineExceededError",
    "CancelledError",
    "Collective ops is aborted",
    "[Op:Collective",
    "Restart your program to reset",
)


def _is_peer_failure(path):
    line = _last_line(path)
    return any(mark in line for mark in PEER_FAILURE_MARKS)


def run_workers(child_args, workers, log_dir=None, poll_s=0.5):
    """Runs `nlp-lstm run` + `child_args` in `workers` processes on a loopback cluster.

    Worker 0 (the chief) writes the run directory; its stdout comes through. Every worker's stderr
    goes to a log file in a temporary directory, copied into `log_dir` (if given) when a worker
    failed. As soon as one worker fails, the others get SIGTERM (SIGKILL after STOP_GRACE_S), and
    TrainingError says which one failed and how; when all succeed, returns None.
    """
    ports = free_ports(workers)
    command = [sys.executable, "-m", "nlp_lstm.cli", "run", *child_args]
    logs = tempfile.mkdtemp(prefix="nlp-lstm-workers-")
    procs, handles = [], []
    try:
        for index in range(workers):
            handle = open(os.path.join(logs, f"worker-{index}.log"), "w", encoding="utf-8")
            handles.append(handle)
            # The launcher removes each worker's temporary files, even those of a killed one.
            scratch = os.path.join(logs, f"tmp-{index}")
            os.makedirs(scratch)
            env = dict(os.environ, TF_CONFIG=loopback_tf_config(ports, index), TMPDIR=scratch)
            procs.append(
                subprocess.Popen(
                    command,
                    env=env,
                    stderr=handle,
                    stdout=None if index == 0 else subprocess.DEVNULL,
                )
            )
        failed = None
        while failed is None and any(proc.poll() is None for proc in procs):
            if procs[0].returncode == 0:
                # The chief has written the whole run; a peer that then loses the chief's
                # coordination service on its way out does not fail the run.
                _stop(procs, grace_s=STOP_GRACE_S)
                return None
            failed = next(
                (i for i, proc in enumerate(procs) if proc.returncode not in (None, 0)), None
            )
            if failed is None:
                time.sleep(poll_s)
        if procs[0].returncode == 0:
            return None
        if failed is None:
            failed = next((i for i, proc in enumerate(procs) if proc.returncode != 0), None)
        if failed is None:
            return None
        codes = [proc.returncode for proc in procs]  # before _stop adds its own SIGTERMs
        _stop(procs)
        # The peers of a failed worker fail too, on a collective; report the one that did not:
        # killed by a signal, else not failed on a collective, else the first seen.
        failed = min(
            (i for i, code in enumerate(codes) if code not in (None, 0)),
            key=lambda i: (
                codes[i] > 0,
                _is_peer_failure(os.path.join(logs, f"worker-{i}.log")),
                i != failed,
            ),
        )
        code = codes[failed]
        detail = _last_line(os.path.join(logs, f"worker-{failed}.log"))
        kept = ""
        if log_dir is not None:
            target = os.path.join(log_dir, "workers")
            os.makedirs(target, exist_ok=True)
            for name in os.listdir(logs):
                if name.endswith(".log"):
                    shutil.copy(os.path.join(logs, name), target)
            kept = f" Worker logs: {target}."
        raise TrainingError(
            f"Worker {failed} of {workers} {_describe_exit(code)}"
            + (f" ({detail[:300]})" if detail and code > 0 else "")
            + f"; the other workers were stopped.{kept} Continue with the same command and "
            f"--resume (and the same --run-dir)."
        )
    finally:
        _stop(procs)
        for handle in handles:
            handle.close()
        shutil.rmtree(logs, ignore_errors=True)


def _stop(procs, grace_s=0.0):
    """Waits up to `grace_s` for the processes to exit, then sends SIGTERM, and SIGKILL after
    STOP_GRACE_S."""
    deadline = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            pass
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
