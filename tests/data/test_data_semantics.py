"""Data and config semantics: text cells stay text, split files and max_examples are honoured for
every task, split sizes and model values are checked before training, saved configs load back."""

import glob
import json
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest
import yaml

from nlp_lstm.config.loading import config_from_dict, dump_config, load_config
from nlp_lstm.config.schema import FIELDS
from nlp_lstm.data.pairs import read_pair_file, read_parallel
from nlp_lstm.data.running_text import read_corpus
from nlp_lstm.data.texts import read_dataset, read_labelled_file
from nlp_lstm.errors import ConfigError, InputDataError
from nlp_lstm.training import history

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = sorted(glob.glob(str(ROOT / "nlp_lstm" / "presets" / "pipelines" / "*.yaml")))
CLASSIFY = {"type": "lstm_text_classifier"}
TRANSLATE = {
    "task": "translation",
    "model": {"type": "lstm_seq2seq"},
    "stages": [{"type": "whitespace_tokenizer"}, {"type": "vocabulary"}],
}
GENERATE = {
    "task": "generation",
    "model": {"type": "lstm_causal_lm"},
    "stages": [{"type": "character_tokenizer"}, {"type": "vocabulary"}],
}
QUICKSTART = ROOT / "nlp_lstm" / "presets" / "pipelines" / "quickstart_classify.yaml"
NA_TEXTS = ["NA", "null", "None", "nan", "N/A", "", "5", "#N/A"]


def classify(**data):
    return config_from_dict({"data": data, "model": CLASSIFY})


def translate(**data):
    return config_from_dict({**TRANSLATE, "data": data})


def generate(**data):
    return config_from_dict({**GENERATE, "data": data})


def run_cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "nlp_lstm.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


# -- text is text --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix,sep", [(".tsv", "\t"), (".csv", ",")])
def test_na_like_cells_stay_text(tmp_path, suffix, sep):
    path = tmp_path / f"na{suffix}"
    rows = [f"{text}{sep}{'pos' if i % 2 else 'neg'}" for i, text in enumerate(NA_TEXTS)]
    path.write_text(f"text{sep}label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    dataset = read_dataset(classify(path=str(path), split_fractions={"train": 1.0}))
    assert dataset.splits["train"]["text"] == NA_TEXTS
    scored = read_labelled_file(path, classify(path=str(path)), ["neg", "pos"])
    assert scored.splits["data"]["text"] == NA_TEXTS


def test_numeric_looking_text_column_stays_text(tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text("text,label\n1,a\n2,b\n3.0,a\n", encoding="utf-8")
    dataset = read_dataset(classify(path=str(path), split_fractions={"train": 1.0}))
    assert dataset.splits["train"]["text"] == ["1", "2", "3.0"]


def test_na_like_translation_cells_stay_text(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("source\ttarget\nNA\tnull\nNone\tnan\n", encoding="utf-8")
    data = read_pair_file(path, translate(path=str(path)))
    assert data.splits["data"] == {"source": ["NA", "None"], "target": ["null", "nan"]}


def test_an_empty_label_is_still_an_error(tmp_path):
    path = tmp_path / "holes.tsv"
    path.write_text("text\tlabel\nNA\tpos\nnull\t\n", encoding="utf-8")
    with pytest.raises(
        InputDataError,
        match=r"holes\.tsv:3, column 'label': This row has no "
        r"label",
    ):
        read_dataset(classify(path=str(path)))


# -- a field of the wrong type names file, line and field ---------------------------------------


def test_jsonl_number_text_names_file_line_and_field(tmp_path):
    good = tmp_path / "a.jsonl"
    good.write_text('{"text": "fine", "label": "x"}\n', encoding="utf-8")
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"text": "ok", "label": "x"}\n\n{"text": 5, "label": "y"}\n', encoding="utf-8")
    with pytest.raises(InputDataError) as err:
        read_dataset(classify(path=str(tmp_path / "*.jsonl")))
    # The second file, its third line (the blank line counts), the field and the value.
    assert str(err.value) == (
        f"{bad}:3, column 'text': The text field 'text' of this row holds "
        f"int 5, not a string. Write it as a string, or fix or drop "
        f"that row."
    )
    assert (err.value.path, err.value.line, err.value.column) == (str(bad), 3, "text")


def test_jsonl_wrong_types_in_translation_and_non_objects(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"source": "a", "target": "b"}\n{"source": "c", "target": 5}\n', encoding="utf-8"
    )
    with pytest.raises(
        InputDataError,
        match=r"p\.jsonl:2, column 'target': The field 'target' "
        r"has int, not string, text \(5\)",
    ):
        read_parallel(translate(path=str(path)))
    path.write_text('{"source": "a", "target": "b"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(InputDataError, match=r"p\.jsonl:2: Each line must hold a JSON object"):
        read_parallel(translate(path=str(path)))


def test_jsonl_number_text_is_one_line_and_exit_1_from_the_cli(tmp_path):
    data = tmp_path / "reviews.jsonl"
    data.write_text(
        "".join(
            json.dumps({"text": t, "label": "ab"[i % 2]}) + "\n"
            for i, t in enumerate(["a", "b", "c", 5, "e"])
        ),
        encoding="utf-8",
    )
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        yaml.safe_dump(
            {
                "compose": [str(ROOT / "nlp_lstm/presets/pipelines/quickstart_classify.yaml")],
                "data": {"source": "files", "path": str(data)},
            }
        ),
        encoding="utf-8",
    )
    from click.testing import CliRunner

    from nlp_lstm.cli import main

    # In process (TensorFlow is loaded already); the subprocess path is test_config_validate_...
    result = CliRunner().invoke(main, ["run", str(pipeline), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {data}:4, column 'text': The text field 'text' of this row holds int 5, not a "
        f"string. Write it as a string, or fix or drop that row."
    )
    assert "Traceback" not in result.stderr


# -- split files for every task, fractions only for the splits not given ------------------------


def test_generation_honours_split_files(tmp_path):
    for split, word in (("train", "alpha"), ("valid", "beta"), ("test", "gamma")):
        (tmp_path / f"{split}.txt").write_text(f"{word} line\n" * 20, encoding="utf-8")
    corpus = read_corpus(
        generate(
            train=str(tmp_path / "train.txt"),
            validation=str(tmp_path / "valid.txt"),
            test=str(tmp_path / "test.txt"),
        )
    )
    assert corpus.splits == {
        "train": "alpha line\n" * 20,
        "validation": "beta line\n" * 20,
        "test": "gamma line\n" * 20,
    }
    # Only test is cut from train (by the fractions of the splits not given, renormalised).
    corpus = read_corpus(
        generate(
            train=str(tmp_path / "train.txt"),
            validation=str(tmp_path / "valid.txt"),
            split_fractions={"train": 0.75, "validation": 0.0, "test": 0.25},
        )
    )
    assert corpus.splits["validation"] == "beta line\n" * 20
    assert corpus.splits["train"] + corpus.splits["test"] == "alpha line\n" * 20
    assert len(corpus.splits["test"]) == round(len("alpha line\n" * 20) * 0.25)


def test_classification_and_translation_cut_only_the_missing_splits(tmp_path):
    train, valid = tmp_path / "train.tsv", tmp_path / "valid.tsv"
    train.write_text(
        "text\tlabel\n" + "".join(f"t{i}\t{'ab'[i % 2]}\n" for i in range(40)), encoding="utf-8"
    )
    valid.write_text("text\tlabel\nv1\ta\nv2\tb\n", encoding="utf-8")
    dataset = read_dataset(
        classify(
            train=str(train),
            validation=str(valid),
            split_fractions={"train": 0.9, "validation": 0.1},
        )
    )
    assert dataset.counts() == {"train": 40, "validation": 2}
    dataset = read_dataset(classify(train=str(train), validation=str(valid)))
    assert dataset.counts() == {"train": 36, "validation": 2, "test": 4}
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "source\ttarget\n" + "".join(f"s{i}\tt{i}\n" for i in range(40)), encoding="utf-8"
    )
    data = read_parallel(
        translate(train=str(pairs), test=str(pairs), split_fractions={"train": 0.9, "test": 0.1})
    )
    assert data.counts() == {"train": 40, "test": 40}


def test_split_file_keys_are_read_by_every_text_task_and_refused_by_forecasting():
    from nlp_lstm.config.schema import reads
    from nlp_lstm.tasks import TASKS

    for key in ("data.train", "data.validation", "data.test", "data.split_seed"):
        assert FIELDS[key].metadata["scoped"], key
        readers = {name for name in TASKS.names() if reads(TASKS.get(name).config_keys, key)}
        assert readers == {"classification", "translation", "generation"}, key


# -- max_examples: a seeded sample of each split ------------------------------------------------


def _sorted_file(tmp_path, count=1000):
    """A classification file sorted by text length (as Tatoeba is): row i has i + 1 words."""
    path = tmp_path / "sorted.tsv"
    path.write_text(
        "text\tlabel\n"
        + "".join(f"{' '.join(['w'] * (i + 1))}\t{'ab'[i % 2]}\n" for i in range(count)),
        encoding="utf-8",
    )
    return path


def test_max_examples_samples_every_split_across_a_sorted_file(tmp_path):
    path = _sorted_file(tmp_path)
    dataset = read_dataset(classify(path=str(path), max_examples=50))
    assert dataset.counts() == {"train": 50, "validation": 50, "test": 50}
    lengths = [len(t.split()) for t in dataset.splits["train"]["text"]]
    assert lengths == sorted(lengths)  # file order is kept
    assert min(lengths) < 200 and max(lengths) > 800  # spread across the file, not its start
    again = read_dataset(classify(path=str(path), max_examples=50))
    assert again.splits["train"]["text"] == dataset.splits["train"]["text"]
    other = read_dataset(classify(path=str(path), max_examples=50, split_seed=7))
    assert other.splits["train"]["text"] != dataset.splits["train"]["text"]
    # Split files are capped too.
    given = read_dataset(
        classify(train=str(path), validation=str(path), test=str(path), max_examples=30)
    )
    assert given.counts() == {"train": 30, "validation": 30, "test": 30}
    assert max(len(t.split()) for t in given.splits["test"]["text"]) > 800


def test_max_examples_samples_translation_pairs(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text(
        "source\ttarget\n" + "".join(f"s{i}\tt{i}\n" for i in range(1000)), encoding="utf-8"
    )
    data = read_parallel(translate(path=str(path), max_examples=40))
    assert data.counts() == {"train": 40, "validation": 40, "test": 40}
    numbers = [int(s[1:]) for s in data.splits["train"]["source"]]
    assert numbers == sorted(numbers) and max(numbers) > 800 and min(numbers) < 200
    assert all(
        t == "t" + s[1:]
        for s, t in zip(data.splits["train"]["source"], data.splits["train"]["target"])
    )


def test_max_examples_keeps_a_seeded_contiguous_range_of_each_generation_split(tmp_path):
    text = "".join(f"line {i:05d}\n" for i in range(2000))
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    whole = read_corpus(generate(path=str(tmp_path / "t.txt")))
    capped = read_corpus(generate(path=str(tmp_path / "t.txt"), max_examples=500))
    assert capped.counts() == {"train": 500, "validation": 500, "test": 500}
    for split, part in capped.splits.items():
        assert part in whole.splits[split]
    assert not whole.splits["train"].startswith(capped.splits["train"])  # a seeded offset


# -- split sizes before training -----------------------------------------------------------------


def test_an_empty_validation_split_fails_at_read_naming_the_fraction(tmp_path):
    from nlp_lstm.pipeline import build_pipeline

    path = tmp_path / "ten.tsv"
    path.write_text(
        "text\tlabel\n" + "".join(f"t{i}\t{'ab'[i % 2]}\n" for i in range(10)), encoding="utf-8"
    )
    config = config_from_dict(
        {
            "task": "classification",
            "data": {"path": str(path)},
            "model": CLASSIFY,
            "stages": [
                {"type": "whitespace_tokenizer"},
                {"type": "vocabulary"},
                {"type": "sequence_packer", "sequence_length": 8},
            ],
        }
    )
    with pytest.raises(
        InputDataError,
        match=r"The validation split is empty: "
        r"data.split_fractions.validation=0.1 of 10 examples "
        r"rounds to none.*data.validation file.*"
        r"data.split_fractions.validation: 0",
    ):
        build_pipeline(config).task.read()


def test_history_plot_survives_epochs_without_validation_metrics(tmp_path):
    history_file = tmp_path / "history.csv"
    history_file.write_text(
        "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,0.69,NA,NA\n1,0.6,0.6,NA,NA\n",
        encoding="utf-8",
    )
    history.plot_history(history_file, tmp_path / "history.png", ("loss", "accuracy"))
    assert (tmp_path / "history.png").stat().st_size > 1000


def test_asking_for_a_split_the_data_lacks_is_an_error(tmp_path):
    from nlp_lstm.pipeline import build_pipeline

    path = tmp_path / "d.tsv"
    path.write_text(
        "text\tlabel\n" + "".join(f"t{i}\t{'ab'[i % 2]}\n" for i in range(40)), encoding="utf-8"
    )
    config = config_from_dict(
        {
            "task": "classification",
            "data": {"path": str(path), "split_fractions": {"train": 0.9, "validation": 0.1}},
            "model": CLASSIFY,
            "stages": [
                {"type": "whitespace_tokenizer"},
                {"type": "vocabulary"},
                {"type": "sequence_packer", "sequence_length": 8},
            ],
        }
    )
    pipeline = build_pipeline(config)
    pipeline.task.read()
    with pytest.raises(
        InputDataError,
        match=r"^runs/x's data has no test split \(splits: train, "
        r"validation\)",
    ):
        pipeline.evaluate("runs/x", ["test"])


# -- config: non-finite floats, model values, round trips --------------------------------------

FLOATS = [k for k, f in FIELDS.items() if float in (f.type, *typing.get_args(f.type))]


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf"])
@pytest.mark.parametrize("key", FLOATS)
def test_non_finite_floats_in_a_yaml_file_are_rejected(tmp_path, key, text):
    section, _, name = key.rpartition(".")
    path = tmp_path / "p.yaml"
    path.write_text(f"compose: [{QUICKSTART}]\n{section}:\n  {name}: {text}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"`{key}` \(set in {path}\) must be a finite number"):
        load_config(path)


@pytest.mark.parametrize(
    "override,pattern",
    [
        (
            "model.hidden_dim=0",
            r"`model.hidden_dim` \(set in --set\) has an impossible value for "
            r"model 'lstm_text_classifier': `hidden_dim` must be a positive int. "
            r"Received: hidden_dim=0. Fix it in that file or with --set.",
        ),
        ("model.dropout=.nan", r"`model.dropout` \(set in --set\).*Received: dropout=nan"),
        ("model.pooling=median", r"`model.pooling` \(set in --set\).*Received: pooling='median'"),
    ],
)
def test_model_values_are_checked_without_data(override, pattern):
    from nlp_lstm.pipeline import build_pipeline

    config = load_config(
        ROOT / "nlp_lstm/presets/pipelines/quickstart_classify.yaml",
        [override, "data.source=files", "data.path=/nonexistent/file.tsv"],
    )
    with pytest.raises(ConfigError, match=pattern):
        build_pipeline(config)  # what `run` and `config validate` both call before any read


def test_config_validate_checks_model_values():
    proc = run_cli("config", "validate", "quickstart_translate", "--set", "model.hidden_dim=0")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == (
        "Error: `model.hidden_dim` (set in --set) has an impossible value for model "
        "'lstm_seq2seq': `hidden_dim` must be a positive int. Received: hidden_dim=0. Fix it "
        "in that file or with --set."
    )


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: Path(p).stem)
def test_every_shipped_pipeline_saved_config_loads_and_validates_again(
    tmp_path, pipeline, shared_data
):
    from nlp_lstm.pipeline import build_pipeline

    config = load_config(pipeline, data_dir=str(shared_data))
    saved = tmp_path / "run" / "config.yaml"
    saved.parent.mkdir()
    saved.write_text(dump_config(config), encoding="utf-8")  # what Pipeline.run writes
    again = load_config(saved)
    assert again.hash() == config.hash()
    assert config_from_dict(yaml.safe_load(saved.read_text(encoding="utf-8"))) == config
    build_pipeline(again)  # the checks of `config validate`


@pytest.mark.slow
def test_a_runs_config_yaml_validates_and_runs_again(tmp_path):
    first = run_cli(
        "run",
        "quickstart_classify",
        "--run-dir",
        tmp_path / "a",
        "--set",
        "train.epochs=1",
        "--set",
        "data.max_examples=100",
        "--set",
        "model.hidden_dim=8",
        "--set",
        "steps=[train]",
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    saved = tmp_path / "a" / "config.yaml"
    proc = run_cli("config", "validate", saved, cwd=tmp_path)
    assert proc.returncode == 0 and f"{saved}: OK" in proc.stdout, proc.stderr
    again = run_cli("run", saved, "--run-dir", tmp_path / "b", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    first_counts = json.loads((tmp_path / "a" / "manifest.json").read_text())["data"]["counts"]
    assert (
        json.loads((tmp_path / "b" / "manifest.json").read_text())["data"]["counts"] == first_counts
    )
    assert np.isfinite(
        float((tmp_path / "b" / "history.csv").read_text().splitlines()[1].split(",")[2])
    )


def test_config_validate_checks_every_search_space_value():
    from click.testing import CliRunner

    from nlp_lstm.cli import main

    result = CliRunner().invoke(
        main,
        [
            "config",
            "validate",
            "quickstart_classify",
            "--set",
            "tune.search_space={model.hidden_dim: {choice: [16, 0]}}",
        ],
    )
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(
        "Error: Search space entry `model.hidden_dim` (`tune.search_space` (set in --set)): the "
        "value 0 cannot be applied: `model.hidden_dim` (set in search space) has an impossible "
        "value for model 'lstm_text_classifier': `hidden_dim` must be a positive int."
    )
    shipped = CliRunner().invoke(
        main,
        [
            "config",
            "validate",
            "quickstart_classify",
            "--set",
            "tune.search_space={model.dropout: {min: 0.1, max: 0.5}}",
        ],
    )
    assert shipped.exit_code == 0 and ": OK (" in shipped.stdout, shipped.output
