"""Each contender in a process of its own, driven step by step from the benchmark's process.

TensorFlow and PyTorch each size their thread pools to the whole machine; in one process their
idle threads compete with the busy ones, which slowed the PyTorch peer several-fold in a trial
run. A `Worker` builds one contender in a spawned child and runs its methods on request, so the
parent can still alternate them (A B A B) while each runs alone on the CPU.
"""

import importlib
import multiprocessing
import traceback


def _serve(connection, target, kwargs):
    module_name, _, class_name = target.partition(":")
    try:
        instance = getattr(importlib.import_module(module_name), class_name)(**kwargs)
        connection.send(("ok", None))
    except Exception:  # noqa: BLE001  (sent to the parent, which raises it)
        connection.send(("error", traceback.format_exc()))
        return
    while True:
        method, args = connection.recv()
        if method is None:
            return
        try:
            connection.send(("ok", getattr(instance, method)(*args)))
        except Exception:  # noqa: BLE001  (sent to the parent, which raises it)
            connection.send(("error", traceback.format_exc()))


class WorkerError(RuntimeError):
    pass


class Worker:
    """`Worker("benchmarks.peers.torch_lstm:TorchPackedClassifier", {...})`; then
    `worker.call("fit_epoch")` runs the method in the child and returns its result. The child
    starts building at once; several workers started one after another build side by side.

    Args:
        target: str. "module:Class" to build in the child.
        kwargs: dict. Its constructor arguments (picklable).
    """

    def __init__(self, target, kwargs):
        self.target = target
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, target, kwargs), daemon=True)
        self.process.start()
        self._started = False  # the child reports once it has built the contender

    def wait_ready(self):
        """Blocks until the child has built its contender (raises if that failed)."""
        if not self._started:
            self._started = True
            self._receive()

    def _receive(self):
        if not self.connection.poll(None) and not self.process.is_alive():
            raise WorkerError(f"{self.target} died")
        try:
            status, value = self.connection.recv()
        except EOFError as err:
            raise WorkerError(f"{self.target} exited (code {self.process.exitcode})") from err
        if status == "error":
            raise WorkerError(f"{self.target} failed:\n{value}")
        return value

    def call(self, method, *args):
        self.wait_ready()
        self.connection.send((method, args))
        return self._receive()

    def close(self):
        if self.process.is_alive():
            self.connection.send((None, None))
            self.process.join(30)
        if self.process.is_alive():
            self.process.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
