"""Tests for nlp_lstm/config/loading.py (load, compose, override, check) and build_pipeline."""

import copy
import dataclasses
import os
import re
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest
import yaml

from nlp_lstm.config.loading import (
    PipelineConfig,
    config_from_dict,
    dump_config,
    format_config,
    get_value,
    load_config,
    parse_override,
    read_yaml,
    set_value,
    with_values,
)
from nlp_lstm.errors import ConfigError
from nlp_lstm.pipeline import build_pipeline
from nlp_lstm.stages import STAGES
from tests.testing import write_pipeline

ROOT = Path(__file__).resolve().parents[2]
CONFIG_FILES = sorted((ROOT / "configs").rglob("*.yaml"))
PIPELINE_FILES = sorted((ROOT / "pipelines").glob("*.yaml"))
QUICKSTART = ROOT / "pipelines" / "quickstart_classify.yaml"


def write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def re_escape(path):
    return re.escape(str(Path(path).resolve()))


@pytest.fixture
def tiny_yaml(tmp_path):
    """A valid pipeline file; its data file is never read by these tests."""
    return write_pipeline(tmp_path, tmp_path / "train.tsv")


# -- the shipped YAML files ----------------------------------------------------------------------


def test_there_are_configs_and_pipelines():
    assert CONFIG_FILES and PIPELINE_FILES


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_config_fragment_reads(path):
    data = read_yaml(path)
    assert isinstance(data, dict) and data
    assert set(data) <= {f.name for f in PipelineConfig.__dataclass_fields__.values()} | {"compose"}


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_config_fragment_composes_into_a_valid_pipeline(path, tmp_path):
    # The fragment goes last (rightmost wins), on top of the pieces of the first pipeline that
    # uses it (the classification quickstart when none does).
    users = [
        p
        for p in PIPELINE_FILES
        if any((p.parent / f).resolve() == path.resolve() for f in read_yaml(p).get("compose", []))
    ]
    host = users[0] if users else QUICKSTART
    fragments = [str(host.resolve()), str(path)]
    pipeline = write(tmp_path / "p.yaml", "compose:\n" + "".join(f"  - {f}\n" for f in fragments))
    config = load_config(pipeline, data_dir=str(tmp_path))
    assert config.sources[-2] == str(path.resolve())
    fragment = read_yaml(path)
    if "stages" in fragment:
        assert config.stages == fragment["stages"]
    for key, value in fragment.get("model", {}).items():
        assert config.model[key] == value
    build_pipeline(config)


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=lambda p: p.name)
def test_every_pipeline_loads_and_builds(path, tmp_path):
    config = load_config(path, data_dir=str(tmp_path))
    assert config.sources[-1] == str(path.resolve())
    assert config.name == path.stem
    stages = build_pipeline(config).task.preprocessor.stages
    assert len(stages) == len(config.stages)
    if config.task == "classification":
        assert stages[-1].registry_name == "sequence_packer"
    elif config.task == "forecasting":
        assert stages[-1].registry_name == "windower"
    else:
        assert stages[-1].registry_name == "vocabulary"


def test_quickstart_values():
    config = load_config(QUICKSTART)
    assert config.data.source == "sample" and config.data.sample == "sentiment"
    assert [s["type"] for s in config.stages] == [
        "text_normalizer",
        "unicode_script_tokenizer",
        "vocabulary",
        "sequence_packer",
    ]
    assert config.model["type"] == "lstm_text_classifier"
    assert config.train.epochs == 8
    assert "bilstm_small.yaml" in config.where("model.hidden_dim")


# -- composition and provenance ------------------------------------------------------------------


@pytest.fixture
def composed(tmp_path):
    write(
        tmp_path / "frags" / "a.yaml",
        """\
        train: {epochs: 3, batch_size: 4, learning_rate: 0.1}
        model: {type: lstm_text_classifier, hidden_dim: 8}
        """,
    )
    write(
        tmp_path / "frags" / "b.yaml",
        """\
        train: {epochs: 5}
        model: {hidden_dim: 16}
        """,
    )
    write(
        tmp_path / "frags" / "data.yaml",
        """\
        data: {source: files, path: ../data/train.tsv}
        stages:
          - {type: whitespace_tokenizer}
          - {type: vocabulary}
          - {type: sequence_packer, sequence_length: 8}
        """,
    )
    return write(
        tmp_path / "pipe.yaml",
        """\
        compose: [frags/data.yaml, frags/a.yaml, frags/b.yaml]
        train: {learning_rate: 0.5}
        """,
    )


def test_composition_rightmost_wins(composed, tmp_path):
    config = load_config(composed)
    assert config.train.epochs == 5  # b over a
    assert config.train.batch_size == 4  # only in a
    assert config.train.learning_rate == 0.5  # the pipeline file over both
    assert config.model == {"type": "lstm_text_classifier", "hidden_dim": 16}
    fragments = [str((tmp_path / "frags" / n).resolve()) for n in ("data.yaml", "a.yaml", "b.yaml")]
    assert config.sources == fragments + [str(composed.resolve())]
    assert config.name == "pipe"


def test_relative_data_paths_resolve_against_the_fragment(composed, tmp_path):
    config = load_config(composed)
    assert config.data.path == str((tmp_path / "data" / "train.tsv").resolve())


def test_provenance_names_the_file_that_set_each_key(composed, tmp_path):
    config = load_config(composed)
    assert str(tmp_path / "frags" / "b.yaml") in config.where("train.epochs")
    assert str(tmp_path / "frags" / "a.yaml") in config.where("train.batch_size")
    assert str(composed) in config.where("train.learning_rate")
    assert str(tmp_path / "frags" / "b.yaml") in config.where("model.hidden_dim")
    assert config.where("evaluate.batch_size") == "`evaluate.batch_size` (default)"


def test_error_names_the_fragment_that_set_the_bad_value(composed, tmp_path):
    write(
        tmp_path / "frags" / "a.yaml",
        "train: {epochs: 3, batch_size: 0}\nmodel: {type: lstm_text_classifier}\n",
    )
    a_path = re_escape(tmp_path / "frags" / "a.yaml")
    with pytest.raises(ConfigError, match=rf"`train.batch_size` \(set in {a_path}\).*batch_size=0"):
        load_config(composed)


def test_error_names_the_later_fragment_that_overrode_a_key(composed, tmp_path):
    write(tmp_path / "frags" / "b.yaml", "train: {epochs: ten}\n")
    b_path = re_escape(tmp_path / "frags" / "b.yaml")
    with pytest.raises(
        ConfigError, match=rf"`train.epochs` \(set in {b_path}\) must be of type int"
    ):
        load_config(composed)


def test_later_fragment_fixes_an_earlier_bad_value(composed, tmp_path):
    write(
        tmp_path / "frags" / "a.yaml", "train: {epochs: ten}\nmodel: {type: lstm_text_classifier}\n"
    )
    assert load_config(composed).train.epochs == 5


def test_nested_compose(tmp_path):
    write(tmp_path / "deep" / "inner.yaml", "train: {optimizer: sgd, batch_size: 2}\n")
    write(tmp_path / "deep" / "outer.yaml", "compose: [inner.yaml]\ntrain: {batch_size: 3}\n")
    pipe = write_pipeline(tmp_path, "x.tsv", extra="compose: [deep/outer.yaml]\n")
    config = load_config(pipe)
    # The pipeline file's own train section (batch_size: 8) wins for the keys it sets.
    assert config.train.batch_size == 8 and config.train.optimizer == "sgd"
    assert str((tmp_path / "deep" / "inner.yaml").resolve()) in config.where("train.optimizer")
    assert [Path(s).name for s in config.sources] == ["inner.yaml", "outer.yaml", "tiny.yaml"]


# -- --set overrides -----------------------------------------------------------------------------


def test_set_overrides(tiny_yaml):
    config = load_config(
        tiny_yaml,
        overrides=[
            "train.epochs=3",
            "train.learning_rate=1.0e-4",
            "model.pooling=mean",
            "data.labels=[neg, pos]",
            "embeddings.trainable=false",
        ],
    )
    assert config.train.epochs == 3
    assert config.train.learning_rate == pytest.approx(1e-4)
    assert config.model["pooling"] == "mean"
    assert config.data.labels == ["neg", "pos"]
    assert config.embeddings.trainable is False
    assert config.where("train.epochs") == "`train.epochs` (set in --set)"


def test_set_list_index(tiny_yaml):
    config = load_config(
        tiny_yaml, overrides=["stages.3.sequence_length=8", "stages.2.max_size=50"]
    )
    assert config.stages[3] == {"type": "sequence_packer", "sequence_length": 8}
    assert config.stages[2]["max_size"] == 50
    assert build_pipeline(config).task.preprocessor.packer.length == 8


def test_set_later_override_wins(tiny_yaml):
    config = load_config(tiny_yaml, overrides=["train.epochs=3", "train.epochs=4"])
    assert config.train.epochs == 4


def test_parse_override_parses_values_as_yaml():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    assert parse_override("a=null") == (["a"], None)
    assert parse_override("a=x=y") == (["a"], "x=y")
    assert parse_override("a=") == (["a"], "")


@pytest.mark.parametrize(
    "override, pattern",
    [
        ("train.epochs", r"must look like key.path=value"),
        ("=3", r"must look like key.path=value"),
        ("train.epochs=[1", r"not valid YAML"),
        ("stages.9.sequence_length=8", r"stages has 4 entries; '9' is not a valid index"),
        ("stages.x.sequence_length=8", r"'x' is not a valid index"),
        ("stages.7=8", r"stages has 4 entries; '7' is not a valid index\. Use 0 to 3"),
        ("seed.value=1", r"seed is not a section"),
    ],
)
def test_bad_overrides(tiny_yaml, override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(tiny_yaml, overrides=[override])


# -- bad configs ---------------------------------------------------------------------------------

BAD_CONFIGS = [
    # (id, overrides, message regex)
    (
        "unknown top-level key",
        ["trian={epochs: 1}"],
        r"Unknown config key `trian` \(set in --set\)\. Did you mean 'train'\?.*Valid keys: ",
    ),
    (
        "unknown nested key",
        ["train.epoch=3"],
        r"Unknown config key `train.epoch`.*Did you mean 'epochs'\?.*Valid keys in train: ",
    ),
    (
        "unknown data key",
        ["data.text_col=review"],
        r"Unknown config key `data.text_col`.*Did you mean 'text_column'\?",
    ),
    (
        "wrong type",
        ["train.epochs=ten"],
        r"`train.epochs` \(set in --set\) must be of type int\. Received: epochs='ten' \(str\)",
    ),
    (
        "bool is not an int",
        ["train.batch_size=true"],
        r"`train.batch_size`.*must be of type int\. Received: batch_size=True",
    ),
    ("section must be a mapping", ["train=3"], r"`train`.*must be a mapping\. Received: 3"),
    (
        "unknown distribution",
        ["train.distribution=several"],
        r"`train.distribution`.*several.*multi_worker",
    ),
    (
        "batch size zero",
        ["train.batch_size=0"],
        r"`train.batch_size`.*impossible value\. Received: batch_size=0\. It must be > 0",
    ),
    (
        "negative learning rate",
        ["train.learning_rate=-0.1"],
        r"`train.learning_rate`.*Received: learning_rate=-0.1\. It must be > 0",
    ),
    ("negative max_examples", ["data.max_examples=-1"], r"`data.max_examples`.*It must be >= 0"),
    (
        "fractions not summing to 1",
        ["data.split_fractions={train: 0.5, validation: 0.1, test: 0.1}"],
        r"`data.split_fractions`.*impossible value.*sum to 1",
    ),
    (
        "fraction keys",
        ["data.split_fractions={train: 0.9, dev: 0.1}"],
        r"`data.split_fractions`.*Use the keys train, validation and test",
    ),
    (
        "unknown optimizer",
        ["train.optimizer=foo"],
        r"`train.optimizer`.*Received: optimizer='foo'\. Choose from: adam, adamw, sgd",
    ),
    ("unknown step", ["steps=[train, deploy]"], r"`steps`.*Received: steps='deploy'\. Choose from"),
    ("no steps", ["steps=[]"], r"`steps`.*List at least one of"),
    ("unknown data source", ["data.source=s3"], r"`data.source`.*Choose from: files, label_files"),
    ("source without its key", ["data.source=hub"], r"source=hub needs data.hub_name"),
    ("path and train together", ["data.train=a.tsv"], r"`data.path`.*not both"),
    ("clipnorm zero", ["train.clipnorm=0"], r"`train.clipnorm`.*or null to disable clipping"),
    (
        "token budget without buckets",
        ["train.batch_tokens=2048", "train.bucketing=false"],
        r"`train.batch_tokens`.*needs train.bucketing: true",
    ),
    ("negative token budget", ["train.batch_tokens=-1"], r"`train.batch_tokens`.*It must be >= 0"),
    (
        "time budget zero",
        ["train.time_budget_minutes=0"],
        r"`train.time_budget_minutes`.*or null for no time limit",
    ),
    (
        "numpy embeddings without words",
        ["embeddings.path=v.npy", "embeddings.format=numpy"],
        r"`embeddings.words`.*format=numpy needs a word list file",
    ),
    (
        "unknown stage type",
        ["stages.1.type=space_tokenizer"],
        r"Unknown stage type 'space_tokenizer'\..*Valid types: " + ", ".join(STAGES.names()),
    ),
    (
        "unknown stage type suggestion",
        ["stages.1.type=whitespace_tokeniser"],
        r"Unknown stage type 'whitespace_tokeniser'\. Did you mean 'whitespace_tokenizer'\?",
    ),
    (
        "unknown stage argument",
        ["stages.3.seq_length=8"],
        r"stage 'sequence_packer' in stages\[3\].*unknown argument 'seq_length'\. Did you mean "
        r"'sequence_length'\?.*Valid arguments: sequence_length, truncate",
    ),
    (
        "bad stage argument value",
        ["stages.3.sequence_length=0"],
        r"Invalid stage 'sequence_packer' in stages\[3\].*`sequence_length`.*sequence_length=0",
    ),
    (
        "stage without type",
        ["stages=[{sequence_length: 3}]"],
        r"`stages`.*must be a mapping with a `type` key",
    ),
    (
        "vocabulary before tokenizer",
        [
            "stages=[{type: text_normalizer}, {type: vocabulary}, {type: whitespace_tokenizer}, "
            "{type: sequence_packer}]"
        ],
        r"stages\[0\] \(text_normalizer\) outputs text but stages\[1\] \(vocabulary\) expects "
        r"tokens.*\(set in `stages` \(set in --set\)\)",
    ),
    (
        "packer before vocabulary",
        ["stages=[{type: whitespace_tokenizer}, {type: sequence_packer}, {type: vocabulary}]"],
        r"stages\[0\] \(whitespace_tokenizer\) outputs tokens but stages\[1\] \(sequence_packer\) "
        r"expects ids",
    ),
    (
        "chain without packer",
        ["stages=[{type: whitespace_tokenizer}, {type: vocabulary}]"],
        r"The stages end with stages\[1\] \(vocabulary\), which outputs ids.*sequence_packer",
    ),
    ("no stages", ["stages=[]"], r"The pipeline has no stages"),
    ("model without type", ["model={hidden_dim: 3}"], r"`model`.*needs a `type` key"),
    (
        "unknown model type",
        ["model.type=transformer"],
        r"Unknown model type 'transformer'.*Valid types: lstm_causal_lm, lstm_forecaster, "
        r"lstm_seq2seq, lstm_seq2seq_forecaster, lstm_text_classifier",
    ),
    (
        "unknown model argument",
        ["model.hiden_dim=8"],
        r"model 'lstm_text_classifier'.*unknown argument 'hiden_dim'\. Did you mean 'hidden_dim'\?",
    ),
]


@pytest.mark.parametrize(
    "overrides, pattern", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_config(tiny_yaml, overrides, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_pipeline(load_config(tiny_yaml, overrides=overrides))


def test_data_dir_placeholder_without_data_dir(tiny_yaml):
    overrides = ["data.path='{data_dir}/sst2/train.tsv'"]
    with pytest.raises(
        ConfigError,
        match=r"`data.path` \(set in --set\) uses \{data_dir\} but no "
        r"data root is set\. Pass --data-dir ROOT or set "
        r"NLP_LSTM_DATA_DIR=ROOT",
    ):
        load_config(tiny_yaml, overrides=overrides)
    config = load_config(tiny_yaml, overrides=overrides, data_dir=str(tiny_yaml.parent))
    assert config.data.path == str(tiny_yaml.parent.resolve() / "sst2" / "train.tsv")


def test_data_dir_placeholder_in_label_files(tmp_path):
    pipe = write(
        tmp_path / "mr.yaml",
        f"""\
        compose: [{ROOT / "pipelines" / "quickstart_classify.yaml"}]
        data:
          source: label_files
          label_files: {{neg: "{{data_dir}}/mr/neg.txt", pos: "{{data_dir}}/mr/pos.txt"}}
        """,
    )
    with pytest.raises(ConfigError, match=r"`data.label_files.neg`.*--data-dir"):
        load_config(pipe)
    config = load_config(pipe, data_dir=str(tmp_path))
    assert config.data.label_files["pos"] == str(tmp_path.resolve() / "mr" / "pos.txt")


def test_model_num_classes_is_rejected_at_build_time(tiny_yaml):
    with pytest.raises(
        ConfigError,
        match=r"`model.num_classes` is filled in from the data.*"
        r"remove it from `model.num_classes` \(set in --set\)",
    ):
        build_pipeline(load_config(tiny_yaml, overrides=["model.num_classes=2"]))


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    bad = write(
        tmp_path / "bad.yaml",
        """\
        name: broken
        train:
          epochs: [1, 2
        model: {type: lstm_text_classifier}
        """,
    )
    with pytest.raises(
        ConfigError,
        match=rf"{re_escape(bad)}:4:\d+: invalid YAML: .*Fix the "
        rf"syntax there",
    ):
        load_config(bad)


def test_yaml_syntax_error_in_a_fragment_names_the_fragment(tmp_path):
    frag = write(tmp_path / "frag.yaml", "train:\n  epochs: 3\n bad_indent: 1\n")
    pipe = write_pipeline(tmp_path, "x.tsv", extra="compose: [frag.yaml]\n")
    with pytest.raises(ConfigError, match=rf"{re_escape(frag)}:3:\d+: invalid YAML"):
        load_config(pipe)


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("- a\n- b\n", r"the top level must be a mapping of keys, received a list"),
        ("compose: frag.yaml\n", r"`compose` \(set in .*\) must be a list of file paths"),
        ("compose: [missing.yaml]\n", r"names 'missing.yaml', which does not exist"),
        ("compose: [p.yaml]\n", r"`compose` includes itself"),
    ],
)
def test_bad_files(tmp_path, text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(write(tmp_path / "p.yaml", text))


def test_missing_pipeline_file(tmp_path):
    with pytest.raises(ConfigError, match=r"Pipeline file not found: .*nope\.yaml"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"Config file not found"):
        read_yaml(tmp_path / "nope.yaml")


def test_non_utf8_config(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin\.yaml is not UTF-8 text \(byte 9\)"):
        read_yaml(path)


def test_empty_yaml_is_an_empty_mapping(tmp_path):
    assert read_yaml(write(tmp_path / "empty.yaml", "# only a comment\n")) == {}


def test_config_errors_are_value_errors(tiny_yaml):
    with pytest.raises(ValueError):
        load_config(tiny_yaml, overrides=["train.epochs=0"])


# -- hash, dump and round trip -------------------------------------------------------------------


def test_hash_is_stable(tiny_yaml):
    first = load_config(tiny_yaml)
    assert first.hash() == load_config(tiny_yaml).hash()
    assert len(first.hash()) == 16
    # The same in a fresh interpreter with another hash seed.
    code = (
        "import sys; from nlp_lstm.config.loading import load_config; "
        "print(load_config(sys.argv[1]).hash())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tiny_yaml)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == first.hash()


def test_hash_changes_with_values_not_with_sources(tiny_yaml, tmp_path):
    base = load_config(tiny_yaml)
    assert load_config(tiny_yaml, overrides=["train.epochs=3"]).hash() != base.hash()
    moved = write(tmp_path / "elsewhere" / "tiny.yaml", tiny_yaml.read_text())
    assert load_config(moved).sources != base.sources
    assert load_config(moved).hash() == base.hash()


def test_dump_and_config_from_dict_round_trip(tiny_yaml):
    config = load_config(
        tiny_yaml, overrides=["stages.3.sequence_length=p95", "data.labels=[negative, positive]"]
    )
    text = dump_config(config)
    data = yaml.safe_load(text)
    assert data["sources"] == config.sources
    assert "provenance" not in data
    again = config_from_dict(data)
    assert again.hash() == config.hash()
    assert {k: v for k, v in again.to_dict().items() if k != "sources"} == {
        k: v for k, v in config.to_dict().items() if k != "sources"
    }
    assert dump_config(config_from_dict(yaml.safe_load(dump_config(again)))) == dump_config(again)
    build_pipeline(again)


def test_config_from_dict_checks_like_load_config():
    with pytest.raises(ConfigError, match=r"Unknown config key `trian`"):
        config_from_dict({"trian": {}, "model": {"type": "lstm_text_classifier"}})
    with pytest.raises(ConfigError, match=r"`train.epochs` must be of type int"):
        config_from_dict(
            {
                "train": {"epochs": "ten"},
                "data": {"path": "x.tsv"},
                "model": {"type": "lstm_text_classifier"},
            }
        )


def test_config_from_dict_defaults():
    config = config_from_dict(
        {
            "data": {"sample": "sentiment", "source": "sample"},
            "model": {"type": "lstm_text_classifier"},
        }
    )
    assert config.train == PipelineConfig().train
    assert config.data.split_fractions == {"train": 0.8, "validation": 0.1, "test": 0.1}
    assert config.train.learning_rate == 1e-3 and isinstance(config.train.learning_rate, float)


def test_scientific_notation_without_a_dot_is_a_float(tiny_yaml):
    config = load_config(tiny_yaml, overrides=["train.learning_rate=1e-4"])
    assert config.train.learning_rate == pytest.approx(1e-4)


def test_int_is_accepted_for_a_float_field(tiny_yaml):
    config = load_config(tiny_yaml, overrides=["train.learning_rate=1"])
    assert config.train.learning_rate == 1.0 and isinstance(config.train.learning_rate, float)


# -- limits declared on the fields ---------------------------------------------------------------


def walk_fields(cls=PipelineConfig, prefix=""):
    """(dotted key, dataclasses.Field) of every config field, sections included."""
    for field in dataclasses.fields(cls):
        yield prefix + field.name, field
        if dataclasses.is_dataclass(field.type):
            yield from walk_fields(field.type, f"{prefix}{field.name}.")


FIELDS = dict(walk_fields())
VALID = {"data": {"path": "x.tsv"}, "model": {"type": "lstm_text_classifier"}}


def out_of_bounds(field):
    """A value just outside the field's declared bounds, of the field's own type."""
    bounds = field.metadata["bounds"]
    step = 1 if int in (field.type, *typing.get_args(field.type)) else 0.5
    if "gt" in bounds:
        return bounds["gt"]
    if "ge" in bounds:
        return bounds["ge"] - step
    return bounds.get("lt", bounds.get("le", 0) + step)


FLOATS = [k for k, f in FIELDS.items() if float in (f.type, *typing.get_args(f.type))]
BOUNDED = [k for k, f in FIELDS.items() if f.metadata.get("bounds")]
CHOICES = [k for k, f in FIELDS.items() if f.metadata.get("choices")]


def with_key(key, value, base=VALID):
    raw = copy.deepcopy(base)
    set_value(raw, key, value)
    return raw


@pytest.mark.parametrize("key", BOUNDED)
def test_every_bound_in_the_metadata_is_enforced(key):
    field = FIELDS[key]
    bad = out_of_bounds(field)
    name, received = key.rpartition(".")[2], float(bad) if key in FLOATS else bad
    with pytest.raises(
        ConfigError,
        match=rf"`{re.escape(key)}` has an impossible value\. Received: "
        rf"{name}={re.escape(repr(received))}\. It must be",
    ):
        config_from_dict(with_key(key, bad))
    config_from_dict(with_key(key, field.default))  # the default itself is within the bounds


@pytest.mark.parametrize("key", CHOICES)
def test_every_choice_list_in_the_metadata_is_enforced(key):
    choices = FIELDS[key].metadata["choices"]
    bad = 7 if all(isinstance(c, int) for c in choices) else "nonsense"
    value = [bad] if FIELDS[key].type is list else bad
    with pytest.raises(
        ConfigError,
        match=rf"`{re.escape(key)}`.*Received: "
        rf"{key.rpartition('.')[2]}={bad!r}\. Choose from: "
        rf"{re.escape(', '.join(map(str, choices)))}\.",
    ):
        config_from_dict(with_key(key, value))


# The limits the config had as string-keyed tables before they moved onto the fields.
OLD_POSITIVE = {
    "train.batch_size",
    "train.epochs",
    "train.learning_rate",
    "train.num_buckets",
    "train.shuffle_buffer",
    "evaluate.batch_size",
    "data.window_length",
    "tune.max_trials",
    "data.max_source_tokens",
    "data.max_target_tokens",
    "evaluate.beam_size",
    "tune.executions_per_trial",
}
OLD_NON_NEGATIVE = {
    "train.batch_tokens",
    "train.label_smoothing",
    "evaluate.max_output_tokens",
    "evaluate.length_penalty",
    "tune.keep_best_checkpoints",
    "embeddings.oov_std",
    "train.weight_decay",
    "train.warmup_epochs",
    "train.early_stopping_patience",
    "data.max_examples",
    "data.vocabulary_sample",
}  # corpora larger than memory
OLD_CHOICES = {
    "steps",
    "data.source",
    "data.format",
    "embeddings.format",
    "train.optimizer",
    "train.lr_schedule",
    "train.precision",
    "train.verbose",
    "evaluate.splits",
    "tune.algorithm",
    "tune.direction",
    "data.variables",
    "data.split",
    "data.fill_gaps",
    "train.loss",  # forecasting
    "train.distribution",
    "data.streaming",
}  # corpora larger than memory


def test_the_field_limits_cover_the_old_tables():
    bounds = {k: FIELDS[k].metadata["bounds"] for k in BOUNDED}
    assert {k for k, b in bounds.items() if b == {"gt": 0}} >= OLD_POSITIVE
    assert {k for k, b in bounds.items() if b == {"ge": 0}} == OLD_NON_NEGATIVE
    assert set(CHOICES) == OLD_CHOICES
    assert bounds["train.lr_decay_rate"] == {"gt": 0, "le": 1}
    assert bounds["train.ema_momentum"] == {"gt": 0, "lt": 1}


@pytest.mark.parametrize(
    "override, pattern",
    [
        ("train.lr_decay_rate=1.5", r"lr_decay_rate=1\.5\. It must be in \(0, 1\]\."),
        ("train.lr_decay_rate=0", r"lr_decay_rate=0\.0\. It must be in \(0, 1\]\."),
        ("train.ema_momentum=1", r"ema_momentum=1\.0\. It must be in \(0, 1\), or null to disable"),
        ("train.clipvalue=-1", r"clipvalue=-1\.0\. It must be > 0, or null to disable clipping\."),
        (
            "evaluate.splits=[validation, dev]",
            r"`evaluate.splits` \(set in --set\).*splits='dev'\. "
            r"Choose from: train, validation, test\.",
        ),
    ],
)
def test_field_limit_messages(tiny_yaml, override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(tiny_yaml, overrides=[override])


def test_nullable_bounded_keys_accept_null(tiny_yaml):
    config = load_config(
        tiny_yaml,
        overrides=[
            "train.clipnorm=null",
            "train.ema_momentum=null",
            "train.time_budget_minutes=null",
        ],
    )
    assert config.train.clipnorm is None and config.train.ema_momentum is None


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf", ".NaN", "'inf'", "1e400"])
@pytest.mark.parametrize("key", FLOATS)
def test_non_finite_floats_are_rejected(tiny_yaml, key, text):
    with pytest.raises(
        ConfigError,
        match=rf"`{re.escape(key)}` \(set in --set\) must be a finite "
        rf"number\. Received: {key.rpartition('.')[2]}=(nan|inf|-inf)\. "
        rf"Give a finite value",
    ):
        load_config(tiny_yaml, overrides=[f"{key}={text}"])


def test_non_finite_split_fractions_are_rejected(tiny_yaml):
    with pytest.raises(ConfigError, match=r"`data.split_fractions`.*sum to 1"):
        load_config(tiny_yaml, overrides=["data.split_fractions={train: .nan, test: 1.0}"])


def test_float_fields_are_found():
    assert {"train.learning_rate", "train.clipnorm", "evaluate.length_penalty"} <= set(FLOATS)


# -- set_value, get_value, with_values -----------------------------------------------------------


def test_set_value_creates_nested_mappings_and_records_the_origin():
    raw, provenance = {"train": {"epochs": 3}}, {"train.epochs": "a.yaml"}
    set_value(raw, "train.batch_size", 4, provenance)
    set_value(raw, "model.head.units", 8, provenance, origin="search space")
    assert raw == {"train": {"epochs": 3, "batch_size": 4}, "model": {"head": {"units": 8}}}
    assert provenance == {
        "train.epochs": "a.yaml",
        "train.batch_size": "--set",
        "model.head.units": "search space",
    }


def test_set_value_replacing_a_mapping_forgets_its_old_keys():
    raw, provenance = {"model": {"type": "a", "hidden_dim": 3}}, {}
    set_value(raw, "model.hidden_dim", 4, provenance, "x.yaml")
    set_value(raw, "model", {"type": "b"}, provenance)
    assert raw == {"model": {"type": "b"}}
    assert provenance == {"model": "--set", "model.type": "--set"}


def test_set_value_list_index():
    raw = {"stages": [{"type": "a"}, {"type": "b", "size": 1}]}
    set_value(raw, "stages.1.size", 5)
    set_value(raw, "stages.0", {"type": "c"})
    assert raw == {"stages": [{"type": "c"}, {"type": "b", "size": 5}]}


@pytest.mark.parametrize(
    "key, pattern",
    [
        (
            "stages.2.size",
            r"Cannot set `stages.2.size` to 1 \(--set\): stages has 2 entries; '2' is "
            r"not a valid index\. Use 0 to 1\.",
        ),
        ("stages.x", r"'x' is not a valid index"),
        ("empty.0", r"empty has 0 entries.*Set the whole list: empty=\[\.\.\.\]"),
        ("seed.value", r"Cannot set `seed.value`.*seed is not a section \(it holds 3\)"),
        ("stages.0.type.name", r"stages\.0\.type is not a section \(it holds 'a'\)"),
    ],
)
def test_set_value_errors(key, pattern):
    with pytest.raises(ConfigError, match=pattern):
        set_value({"seed": 3, "empty": [], "stages": [{"type": "a"}, {"type": "b"}]}, key, 1)


def test_get_value(tiny_yaml):
    config = load_config(tiny_yaml)
    assert get_value(config, "train.batch_size") == 8
    assert get_value(config, "stages.3.sequence_length") == 16
    assert get_value(config, "model.pooling") is None  # not set: the model's default applies
    assert get_value(config, "data") == config.data
    raw = config.to_dict()
    assert get_value(raw, "stages.2.type") == "vocabulary"
    assert get_value(raw, "stages.9.type") is None and get_value(raw, "nothing.here") is None
    with pytest.raises(
        ConfigError,
        match=r"`train.epoch` is not a config key.*Did you mean "
        r"'epochs'\?",
    ):
        get_value(config, "train.epoch")


def test_with_values_returns_a_checked_config_keeping_name_sources_and_provenance(tiny_yaml):
    config = load_config(tiny_yaml)
    changed = with_values(
        config, {"model.hidden_dim": 16, "train.learning_rate": 0.1, "stages.3.sequence_length": 8}
    )
    assert changed.model["hidden_dim"] == 16 and changed.train.learning_rate == 0.1
    assert changed.stages[3]["sequence_length"] == 8
    assert (changed.name, changed.sources) == (config.name, config.sources)
    assert changed.where("model.hidden_dim") == "`model.hidden_dim` (set in search space)"
    assert changed.where("train.epochs") == config.where("train.epochs")
    assert config.model["hidden_dim"] == 8  # the original is untouched
    assert changed.hash() != config.hash()
    assert with_values(config, {}).hash() == config.hash()


def test_with_values_checks_and_names_the_origin(tiny_yaml):
    config = load_config(tiny_yaml)
    with pytest.raises(
        ConfigError,
        match=r"`train.batch_size` \(set in search space\) has an "
        r"impossible value\. Received: batch_size=0",
    ):
        with_values(config, {"train.batch_size": 0})
    with pytest.raises(ConfigError, match=r"Unknown config key `train.epoch` \(set in trial 3\)"):
        with_values(config, {"train.epoch": 2}, origin="trial 3")
    with pytest.raises(ConfigError, match=r"Cannot set `stages.8.x`.*stages has 4 entries"):
        with_values(config, {"stages.8.x": 2})


def test_with_values_on_a_config_from_a_dict():
    config = config_from_dict(VALID)
    assert with_values(config, {"train.epochs": 2}).train.epochs == 2
    with pytest.raises(ConfigError, match=r"^`train.epochs` \(set in search space\) has an "):
        with_values(config, {"train.epochs": -2})


# -- format_config (config show) and the saved config -------------------------------------------


def test_format_config_shows_only_the_keys_of_the_task(tiny_yaml):
    from nlp_lstm.tasks import task_for

    classify = load_config(tiny_yaml)
    translate = load_config(ROOT / "pipelines" / "quickstart_translate.yaml")
    shown = yaml.safe_load(format_config(classify, task_for(classify).config_keys))
    assert "beam_size" not in shown["evaluate"] and "window_length" not in shown["data"]
    assert "target_stages" not in shown and "provenance" not in shown
    assert shown["embeddings"]["trainable"] is True and shown["data"]["label_column"] == "label"
    other = yaml.safe_load(format_config(translate, task_for(translate).config_keys))
    assert other["evaluate"]["beam_size"] == translate.evaluate.beam_size
    assert other["train"]["label_smoothing"] == translate.train.label_smoothing
    assert "embeddings" not in other and "label_column" not in other["data"]
    assert other["stages"] == translate.stages and other["model"] == translate.model
    # What it leaves out is only other tasks' keys: the rest is the config as saved.
    saved = classify.to_dict()
    assert set(saved["train"]) - set(shown["train"]) == {"label_smoothing", "loss"}
    assert shown["train"] == {k: v for k, v in saved["train"].items() if k in shown["train"]}
    assert shown["stages"] == saved["stages"] and shown["sources"] == saved["sources"]


def test_format_config_origin_names_the_file_of_each_value(tiny_yaml, tmp_path):
    from nlp_lstm.tasks import task_for

    frag = write(tmp_path / "frag.yaml", "train: {optimizer: sgd}\n")
    pipe = write_pipeline(tmp_path, "x.tsv", extra=f"compose: [{frag}]\n")
    config = load_config(pipe, overrides=["stages.3.sequence_length=12", "data.labels=[a, 'b: c']"])
    text = format_config(config, task_for(config).config_keys, origin=True)
    lines = text.splitlines()
    assert f"  epochs: 2  # {pipe.resolve()}" in lines
    assert f"  optimizer: sgd  # {frag.resolve()}" in lines
    assert "  monitor: val_loss  # default" in lines
    assert "  sequence_length: 12  # --set" in lines
    assert f"- type: text_normalizer  # {pipe.resolve()}" in lines
    assert "  labels: [a, 'b: c']  # --set" in lines
    assert all("#" in line for line in lines if line.rstrip().endswith(tuple("0123456789")))
    # The comments change nothing: the text loads as the same YAML.
    assert yaml.safe_load(text) == yaml.safe_load(
        format_config(config, task_for(config).config_keys)
    )
    assert "#" not in format_config(config, task_for(config).config_keys)


def test_dump_loads_back_through_load_config(tiny_yaml, tmp_path):
    config = load_config(
        tiny_yaml, overrides=["stages.3.sequence_length=p95", "train.clipnorm=null"]
    )
    saved = write(tmp_path / "run" / "config.yaml", dump_config(config))
    again = load_config(saved)
    assert again.hash() == config.hash()
    assert again.sources == config.sources + [str(saved.resolve())]
    assert {k: v for k, v in again.to_dict().items() if k != "sources"} == {
        k: v for k, v in config.to_dict().items() if k != "sources"
    }
    assert again.where("train.epochs") == f"`train.epochs` (set in {saved.resolve()})"


def test_dump_loads_back_through_config_from_dict(tiny_yaml):
    config = load_config(tiny_yaml)
    again = config_from_dict(yaml.safe_load(dump_config(config)))
    assert again == config and again.sources == config.sources
    with pytest.raises(ConfigError, match=r"`sources` must be of type list"):
        config_from_dict({**VALID, "sources": "a.yaml"})
