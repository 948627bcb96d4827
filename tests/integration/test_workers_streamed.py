"""`nlp-lstm run --workers 2` with the corpus streamed from Arrow (data.streaming=always), as one
larger than memory would be: translation and generation train on two workers as in one process;
each worker reads the table itself and the chief caches token ids in the run directory."""

import pytest

from tests.integration.workers_helpers import check_two_workers_as_one_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("task", ["generation", "translation"])
def test_text_tasks_train_on_two_workers_from_a_streamed_corpus(tmp_path, task):
    check_two_workers_as_one_process(tmp_path, task, streamed=True)
