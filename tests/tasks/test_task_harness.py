"""Every registered task through `run_task_test`: a tiny run of its shipped quickstart, the
export reloaded in a process that imports neither nlp_lstm nor keras, and its outputs on raw
inputs equal to the trained model's in this process."""

import numpy as np
import pytest

from nlp_lstm.tasks import TASKS
from tests.testing import TINY_RUNS, run_task_test

TEXTS = ["A gorgeous, witty film.", "", " ", "naïve café — 東京 🙂", "\u0301\u200b", "x" * 5000]


def classification_probes(task):
    return [(task.config.export.signature, {"text": TEXTS})]


def translation_probes(task):
    options = {"beam_size": np.int32(2), "max_length": np.int32(6)}
    return [
        ("translate", {"text": TEXTS}),
        ("translate_with_options", {"text": TEXTS, **options}),
        ("translate_greedy", {"text": TEXTS, "max_length": np.int32(6)}),
    ]


def generation_probes(task):
    options = {
        "max_new_tokens": np.int32(12),
        "top_k": np.int32(0),
        "top_p": np.float32(0.9),
        "seed": np.int64(3),
    }
    prompts = ["ROSA:", "", "\u00e9\u6771\U0001f642", "y" * 300]
    return [
        ("generate", {"prompt": prompts, "temperature": np.float32(0.8), **options}),
        ("generate", {"prompt": prompts, "temperature": np.float32(0.0), **options}),
    ]


def forecasting_probes(task):
    values = np.asarray(task.data.values, np.float32)
    length = task.windower.input_length
    starts = [length, len(values) // 2, len(values)]
    feeds = {"history": np.stack([values[end - length : end] for end in starts])}
    if task.calendar is not None:
        seconds = np.asarray(task.data.timestamps, np.int64)
        feeds["timestamps"] = np.stack([seconds[end - length : end] for end in starts])
    return [("forecast", feeds)]


PROBES = {
    "classification": classification_probes,
    "translation": translation_probes,
    "generation": generation_probes,
    "forecasting": forecasting_probes,
}


def test_every_registered_task_has_a_tiny_run_and_probes():
    assert set(PROBES) == set(TINY_RUNS) == set(TASKS.names())


@pytest.mark.slow  # trains, exports and starts a process that imports TensorFlow
@pytest.mark.parametrize("task_name", TASKS.names())
def test_run_task_test(task_name, tmp_path):
    run_task_test(task_name, tmp_path / "run", PROBES[task_name])
