"""Untrained exports of the three quickstarts, made once per session: real SavedModels
(preprocessing, decoding and the limits in the graph, metadata in assets.extra/) without the
cost of training, which the limits do not depend on."""

import pytest

# Small limits, so that a test at and over each one is cheap.
LIMITS = {
    "max_batch_rows": 8,
    "max_input_chars": 300,
    "max_new_tokens": 40,
    "max_output_length": 30,
    "max_beam_size": 4,
}
EXPORTS = {
    "classifier": ("quickstart_classify", ["data.max_examples=200"]),
    "translator": (
        "quickstart_translate",
        ["data.max_examples=200", "evaluate.max_output_tokens=20"],
    ),
    "generator": ("quickstart_generate", ["data.max_examples=5000"]),
}


def _export(tmp_path_factory, kind):
    from nlp_lstm import presets
    from nlp_lstm.config.loading import load_config
    from nlp_lstm.pipeline import build_pipeline
    from nlp_lstm.tasks import task_for

    name, overrides = EXPORTS[kind]
    task = task_for(load_config(presets.find_pipeline(name)))
    # Only the limits the task's export records: a key only other tasks read is refused.
    limits = [f"export.limits.{k}={v}" for k, v in LIMITS.items() if k in task.limit_keys]
    config = load_config(
        presets.find_pipeline(name),
        overrides + limits + ["steps=[export]", "export.verify=false", "train.verbose=0"],
    )
    run_dir = tmp_path_factory.mktemp(f"{kind}_export") / "run"
    return build_pipeline(config).run(run_dir=run_dir).run_dir / "export"


@pytest.fixture(scope="session")
def classifier_export(tmp_path_factory):
    return _export(tmp_path_factory, "classifier")


@pytest.fixture(scope="session")
def translator_export(tmp_path_factory):
    return _export(tmp_path_factory, "translator")


@pytest.fixture(scope="session")
def generator_export(tmp_path_factory):
    return _export(tmp_path_factory, "generator")
