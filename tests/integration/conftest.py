"""Tiny trained runs of the three tasks, shared by the integration tests of one session.

Each is a shipped quickstart trained for one epoch on a slice of its sample data, so its export
is real (preprocessing in the graph, metadata in assets.extra/) but cheap to make.
"""

import pytest

QUICK = ["train.epochs=1", "train.verbose=0"]
RUNS = {
    "classifier": ("quickstart_classify", QUICK),
    "translator": ("quickstart_translate", QUICK + ["data.max_examples=400"]),
    "generator": ("quickstart_generate", QUICK + ["data.max_examples=20000"]),
}


def _trained(tmp_path_factory, kind):
    from nlp_lstm import presets
    from nlp_lstm.config.loading import load_config
    from nlp_lstm.pipeline import build_pipeline

    name, overrides = RUNS[kind]
    config = load_config(presets.find_pipeline(name), overrides)
    run_dir = tmp_path_factory.mktemp(kind) / "run"
    return build_pipeline(config).run(run_dir=run_dir).run_dir


@pytest.fixture(scope="session")
def classifier_run(tmp_path_factory):
    return _trained(tmp_path_factory, "classifier")


@pytest.fixture(scope="session")
def translator_run(tmp_path_factory):
    return _trained(tmp_path_factory, "translator")


@pytest.fixture(scope="session")
def generator_run(tmp_path_factory):
    return _trained(tmp_path_factory, "generator")
