"""A scoped config key set for a task that does not read it is refused when the task is built,
naming the key, the file that set it and the tasks that do read it; the task a config names is
looked up with an error that names the file."""

from pathlib import Path

import pytest

from nlp_lstm import presets
from nlp_lstm.config import config_from_dict, load_config
from nlp_lstm.errors import ConfigError
from nlp_lstm.pipeline import build_pipeline
from nlp_lstm.tasks import TASKS, task_for

DEMAND = Path(presets.__file__).parents[1] / "samples" / "demand.csv"


def _build(name, overrides):
    return build_pipeline(load_config(presets.find_pipeline(name), overrides))


@pytest.mark.parametrize(
    "name, override, pattern",
    [
        (
            "quickstart_forecast",
            "data.max_examples=100",
            r"`data.max_examples` \(set in --set\) is read only by task classification and "
            r"generation and translation, and this pipeline's task is forecasting: it would "
            r"be ignored. Received: max_examples=100. Remove the key.",
        ),
        ("quickstart_forecast", "data.split_seed=3", r"`data.split_seed`.*task is forecasting"),
        ("quickstart_forecast", "data.leakage_warn_share=0.5", r"`data.leakage_warn_share`"),
        ("quickstart_forecast", "export.limits.max_input_chars=10", r"max_input_chars"),
        (
            "quickstart_forecast",
            ["data.source=files", f"data.path={DEMAND}", f"data.test={DEMAND}"],
            r"`data.test` \(set in --set\) is read only by task classification and generation "
            r"and translation, and this pipeline's task is forecasting",
        ),
        (
            "quickstart_translate",
            "export.signature=classify",
            r"`export.signature` \(set in --set\) is read only by task classification, and "
            r"this pipeline's task is translation",
        ),
        (
            "quickstart_translate",
            "data.label_column=topic",
            r"`data.label_column` \(set in --set\) is read only by task classification, and "
            r"this pipeline's task is translation: it would be ignored. Received: "
            r"label_column='topic'. Remove the key.",
        ),
        (
            "quickstart_generate",
            "train.batch_tokens=512",
            r"`train.batch_tokens` \(set in --set\) is read only by task classification and "
            r"translation, and this pipeline's task is generation",
        ),
    ],
)
def test_a_key_only_other_tasks_read_is_refused(name, override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        _build(name, override if isinstance(override, list) else [override])


def test_a_key_left_at_its_default_is_accepted():
    assert _build("quickstart_translate", ["data.label_column=label"]).task.config.data


def test_forecasting_reads_the_table_format_and_delimiter():
    task = _build("quickstart_forecast", ["data.format=csv", "data.delimiter=','"]).task
    assert (task.config.data.format, task.config.data.delimiter) == ("csv", ",")


def test_every_scoped_key_is_read_by_some_task_and_every_listed_key_is_scoped():
    from nlp_lstm.config.schema import FIELDS, is_scoped

    listed = {key for name in TASKS.names() for key in TASKS.get(name).config_keys}
    assert listed <= set(FIELDS) and all(is_scoped(key) for key in listed)
    scoped = {k for k, f in FIELDS.items() if f.metadata.get("scoped")}
    assert scoped <= listed, sorted(scoped - listed)


def test_a_config_without_a_task_names_the_registered_tasks():
    config = config_from_dict(
        {
            "data": {"source": "sample", "sample": "sentiment"},
            "model": {"type": "lstm_text_classifier"},
        }
    )
    with pytest.raises(ConfigError, match=r"sets no `task`.*classification, forecasting"):
        task_for(config)


def test_an_unknown_task_names_the_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "task: clasification\ndata: {source: sample, sample: sentiment}\n"
        "model: {type: lstm_text_classifier}\n"
    )
    with pytest.raises(ConfigError, match=r"`task` \(set in .*p.yaml\).*Did you mean"):
        task_for(load_config(path))
