"""Shared fixtures: markers, seeds, tiny generated corpora, and the shared data root."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = Path(
    os.environ.get("NLP_LSTM_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")
    parser.addoption("--run-gpu", action="store_true", help="also run tests marked gpu")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "slow" in item.keywords and not config.getoption("--run-slow"):
            item.add_marker(pytest.mark.skip(reason="slow: pass --run-slow"))
        if "gpu" in item.keywords and not config.getoption("--run-gpu"):
            item.add_marker(pytest.mark.skip(reason="needs a GPU: pass --run-gpu"))


@pytest.fixture(autouse=True)
def seed():
    import keras

    keras.utils.set_random_seed(1234)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """A tiny sentiment TSV (48 rows) written by the test session."""
    from tests.testing import write_tiny_tsv

    return write_tiny_tsv(tmp_path_factory.mktemp("data") / "tiny.tsv")


@pytest.fixture(scope="session")
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A factory: `tiny_run(task_name, *overrides)` runs the task's shipped quickstart made tiny
    (`tests.testing.tiny_run`: one epoch on a few dozen examples, small layers, then `overrides`,
    "key=value" strings) in a new folder; returns (pipeline, result). Session-scoped, so module
    fixtures can share a run; each call trains a new one."""
    from tests import testing

    def make(task_name, *overrides):
        run_dir = tmp_path_factory.mktemp(f"tiny-{task_name}") / "run"
        return testing.tiny_run(task_name, run_dir, *overrides)

    return make
