"""`nlp-lstm run --workers 2` for every task: each quickstart (tiny) trains on two real worker
processes on a loopback MultiWorkerMirroredStrategy cluster as in one process, and agrees on the
task's metrics. The text tasks with their corpus streamed from Arrow are in
test_workers_streamed.py (a file of their own, so that another xdist worker can take them)."""

import pytest

from tests.integration.workers_helpers import TASKS, check_two_workers_as_one_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_trains_on_two_workers_as_in_one_process(tmp_path, task):
    check_two_workers_as_one_process(tmp_path, task)
