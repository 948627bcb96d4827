"""Contenders in processes of their own: calls, results and errors cross the process boundary."""

import os

import pytest

from benchmarks import workers


class Counter:
    """A tiny contender for the tests (built in the child)."""

    def __init__(self, start):
        if start < 0:
            raise ValueError("start must be >= 0")
        self.value = start

    def add(self, amount):
        self.value += amount
        return self.value

    def pid(self):
        return os.getpid()

    def fail(self):
        raise RuntimeError("boom in the child")


TARGET = "tests.benchmarks.test_workers:Counter"


def test_a_worker_keeps_its_state_in_another_process():
    with workers.Worker(TARGET, {"start": 10}) as worker:
        assert worker.call("add", 5) == 15
        assert worker.call("add", 1) == 16
        assert worker.call("pid") != os.getpid()


def test_errors_in_the_child_reach_the_caller_with_their_traceback():
    with workers.Worker(TARGET, {"start": 0}) as worker:
        with pytest.raises(workers.WorkerError, match="RuntimeError: boom in the child"):
            worker.call("fail")
        assert worker.call("add", 2) == 2  # the worker survives a failed call
    with pytest.raises(workers.WorkerError, match="start must be >= 0"):
        workers.Worker(TARGET, {"start": -1}).call("add", 1)
