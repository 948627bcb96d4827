"""Hyperparameter search: space parsing, a tiny random search, resume, changed spaces."""

import csv
from pathlib import Path

import pytest

from nlp_lstm import build_pipeline, load_config
from nlp_lstm.config.loading import load_config as load
from nlp_lstm.errors import ConfigError
from nlp_lstm.runs import tuning
from tests.testing import write_pipeline

keras_tuner = pytest.importorskip("keras_tuner")

SPACE = {
    "model.hidden_dim": {"choice": [4, 8]},
    "train.learning_rate": {"min": 1.0e-3, "max": 1.0e-2, "sampling": "log"},
    "model.dropout": {"min": 0.0, "max": 0.4, "step": 0.2},
    "model.bidirectional": {"boolean": True},
    "model.head_hidden_dim": {"choice": [0, 8], "when": {"model.pooling": "attention"}},
    "model.pooling": {"choice": ["max", "attention"]},
}


@pytest.fixture
def tiny_config(tmp_path, tiny_corpus):
    return load_config(write_pipeline(tmp_path, tiny_corpus, "train: {epochs: 1, verbose: 0}\n"))


def test_space_parses_into_keras_tuner_hyperparameters(tiny_config):
    from nlp_lstm.runs.search_space import define_hyperparameters, parse_search_space

    params = parse_search_space(SPACE, tiny_config)
    hp = keras_tuner.HyperParameters()
    values = define_hyperparameters(params, hp)
    kinds = {h.name: type(h).__name__ for h in hp.space}
    assert kinds == {
        "model.hidden_dim": "Choice",
        "train.learning_rate": "Float",
        "model.dropout": "Float",
        "model.bidirectional": "Boolean",
        "model.head_hidden_dim": "Choice",
        "model.pooling": "Choice",
    }
    learning_rate = next(h for h in hp.space if h.name == "train.learning_rate")
    assert learning_rate.sampling == "log"
    # head_hidden_dim only exists when pooling is attention (the default choice is max).
    assert values["model.pooling"] == "max" and "model.head_hidden_dim" not in values


def test_fixed_condition_drops_entries(tiny_config):
    from nlp_lstm.runs.search_space import parse_search_space

    params = parse_search_space(
        {
            "model.hidden_dim": {"choice": [4]},
            "model.num_layers": {"choice": [2], "when": {"task": "translation"}},
        },
        tiny_config,
    )
    assert [p.name for p in params] == ["model.hidden_dim"]


@pytest.mark.parametrize(
    "space, message",
    [
        ({}, r"is empty"),
        ({"model.hidden_dim": {"min": 8, "max": 8}}, r"range is empty"),
        ({"model.hidden_dim": {"choice": []}}, r"non-empty list"),
        ({"model.hiden_dim": {"choice": [4]}}, r"cannot be applied.*hiden_dim"),
        ({"train.epochz": {"choice": [1]}}, r"cannot be applied.*Unknown config key"),
        ({"model.hidden_dim": {"choices": [4]}}, r"unknown range keys"),
        ({"train.learning_rate": {"min": 0.0, "max": 0.1, "sampling": "log"}}, r"log sampling"),
    ],
)
def test_bad_spaces_are_config_errors(tiny_config, space, message):
    from nlp_lstm.runs.search_space import parse_search_space

    with pytest.raises(ConfigError, match=message):
        parse_search_space(space, tiny_config)


@pytest.mark.slow
def test_random_search_writes_results_resumes_and_keys_projects(tmp_path, tiny_config):
    from nlp_lstm.runs import tuning

    space = {"model.hidden_dim": {"choice": [4, 8]}, "model.dropout": {"choice": [0.0, 0.2]}}
    config = tiny_config.__class__(
        **{
            **tiny_config.__dict__,
            "tune": tiny_config.tune.__class__(max_trials=3, keep_best_checkpoints=2),
        }
    )
    summary, ranked, params = tuning.tune(build_pipeline(config), space, "test", tmp_path / "t")
    assert summary["completed"] == 3 and not summary["resumed"]
    with open(tmp_path / "t" / "trials.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and {r["status"] for r in rows} == {"COMPLETED"}
    assert (tmp_path / "t" / "tuning.png").is_file()
    kept = list(Path(summary["project_dir"]).rglob("checkpoint.weights.h5"))
    assert len(kept) == 2  # tune.keep_best_checkpoints defaults to 3; set to 2 above
    best = load(tmp_path / "t" / "best_config.yaml")
    assert best.model["hidden_dim"] == summary["best_values"]["model.hidden_dim"]
    build_pipeline(best)
    again, _, _ = tuning.tune(build_pipeline(config), space, "test", tmp_path / "t")
    assert again["resumed"] and again["trials"] == 3
    changed = {**space, "model.hidden_dim": {"choice": [4, 16]}}
    other, _, _ = tuning.tune(build_pipeline(config), changed, "test", tmp_path / "t")
    assert not other["resumed"] and other["project_dir"] != summary["project_dir"]


@pytest.mark.slow
def test_distributed_search_with_two_workers(tmp_path, tiny_corpus):
    import os
    import subprocess
    import sys

    pipeline = write_pipeline(
        tmp_path, tiny_corpus, "train: {epochs: 1, verbose: 0}\ntune: {max_trials: 4}\n"
    )
    space = tmp_path / "space.yaml"
    space.write_text(
        "search_space:\n  model.hidden_dim: {choice: [4, 8]}\n"
        "  model.dropout: {choice: [0.0, 0.1]}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nlp_lstm.cli",
            "tune",
            str(pipeline),
            "--search",
            str(space),
            "--run-dir",
            str(tmp_path / "t"),
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "workers exited with codes [0, 0]" in proc.stderr
    with open(tmp_path / "t" / "trials.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and all(r["status"] == "COMPLETED" for r in rows)
    assert (tmp_path / "t" / "best_config.yaml").is_file()


def _processes_with_env(name, value):
    """PIDs of this user's processes whose environment holds name=value (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"{name}={value}".encode() in environ:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_a_worker_that_dies_does_not_stop_the_search(tmp_path, tiny_corpus):
    import os
    import signal
    import subprocess
    import sys
    import time

    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc to find the worker process")
    pipeline = write_pipeline(
        tmp_path, tiny_corpus, "train: {epochs: 2, verbose: 0}\ntune: {max_trials: 4}\n"
    )
    space = tmp_path / "space.yaml"
    space.write_text(
        "search_space:\n  model.hidden_dim: {choice: [4, 8]}\n"
        "  model.dropout: {choice: [0.0, 0.1]}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER")}
    env["NLP_LSTM_TEST_RUN"] = str(tmp_path)  # marks this search's processes for the lookup
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nlp_lstm.cli",
            "tune",
            str(pipeline),
            "--search",
            str(space),
            "--run-dir",
            str(tmp_path / "t"),
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.time() + 300
        victim = []
        while not victim and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            marked = set(_processes_with_env("NLP_LSTM_TEST_RUN", str(tmp_path)))
            victim = sorted(marked & set(_processes_with_env("KERASTUNER_TUNER_ID", "tuner1")))
        assert victim, "worker tuner1 never started"
        time.sleep(3)  # let it take a trial
        os.kill(victim[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "workers exited with codes [0, -9]" in err
    with open(tmp_path / "t" / "trials.csv") as handle:
        rows = list(csv.DictReader(handle))
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    assert len(completed) == 4, rows
    assert (tmp_path / "t" / "best_config.yaml").is_file()


@pytest.mark.slow
def test_search_works_for_language_models(tmp_path):
    from nlp_lstm.runs import tuning

    (tmp_path / "t.txt").write_text("ROSA:\nWhere is the key?\n\n" * 80, encoding="utf-8")
    (tmp_path / "lm.yaml").write_text(
        f"task: generation\nseed: 2\n"
        f"data: {{path: {tmp_path / 't.txt'}, window_length: 16, "
        f"split_fractions: {{train: 0.9, validation: 0.1}}}}\n"
        "stages: [{type: character_tokenizer}, {type: vocabulary}]\n"
        "model: {type: lstm_causal_lm, embedding_dim: 8, hidden_dim: 8, num_layers: 1}\n"
        "train: {epochs: 1, batch_size: 16, verbose: 0}\n"
        "tune: {max_trials: 2, objective: val_loss}\n",
        encoding="utf-8",
    )
    config = load(tmp_path / "lm.yaml")
    summary, ranked, _ = tuning.tune(
        build_pipeline(config), {"model.hidden_dim": {"choice": [8, 16]}}, "test", tmp_path / "t"
    )
    assert summary["completed"] == 2 and summary["objective"] == "val_loss"
    assert ranked[0]["score"] <= ranked[-1]["score"]


@pytest.mark.slow
def test_search_works_for_translation_with_a_conditional_attention_entry(tmp_path):
    from nlp_lstm.runs import search_space, tuning

    (tmp_path / "mt.yaml").write_text(
        "task: translation\nseed: 2\n"
        "data: {source: sample, sample: phrasebook, source_column: en, target_column: es, "
        "max_examples: 200}\n"
        "stages: [{type: unicode_script_tokenizer}, {type: vocabulary}]\n"
        "model: {type: lstm_seq2seq, embedding_dim: 8, hidden_dim: 8, encoder_layers: 1}\n"
        "train: {epochs: 1, batch_size: 32, verbose: 0}\n"
        "tune: {max_trials: 2, objective: val_loss, algorithm: grid}\n",
        encoding="utf-8",
    )
    config = load(tmp_path / "mt.yaml")
    space, _ = search_space.read_search_space(
        Path(__file__).resolve().parents[2] / "configs" / "search" / "seq2seq_small.yaml"
    )
    params = search_space.parse_search_space(space, config)
    assert "model.attention" in [p.name for p in params]
    summary, ranked, _ = tuning.tune(
        build_pipeline(config),
        {"model.attention": space["model.attention"]},
        "test",
        tmp_path / "t",
    )
    assert summary["completed"] == 2
    assert sorted(r["model.attention"] for r in ranked) == ["bahdanau", "luong"]
    # The same entry does not apply to a classification pipeline (the condition is on task).
    with pytest.raises(ConfigError, match="No entry"):
        search_space.parse_search_space(
            {"model.attention": space["model.attention"]},
            load(write_pipeline(tmp_path, tmp_path / "x.tsv")),
        )


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["random", "grid", "hyperband", "bayesian"])
def test_every_algorithm_runs_and_the_seed_fixes_the_trials(tmp_path, tiny_corpus, algorithm):
    from nlp_lstm.runs import tuning

    pipeline = write_pipeline(
        tmp_path,
        tiny_corpus,
        f"train: {{epochs: 2, verbose: 0}}\ntune: {{algorithm: {algorithm}, max_trials: 3}}\n",
    )
    config = load(pipeline)
    space = {
        "model.hidden_dim": {"choice": [4, 8]},
        "train.learning_rate": {"min": 1.0e-3, "max": 1.0e-2, "sampling": "log"},
    }
    proposed = []
    for name in ("a", "b"):
        summary, ranked, _ = tuning.tune(build_pipeline(config), space, "test", tmp_path / name)
        assert summary["completed"] >= 2
        with open(tmp_path / name / "trials.csv") as handle:
            proposed.append(
                [(r["model.hidden_dim"], r["train.learning_rate"]) for r in csv.DictReader(handle)]
            )
    # Two searches with the same seed in different directories propose the same trials.
    assert proposed[0] == proposed[1]


@pytest.mark.slow
def test_a_reduce_on_plateau_trial_lowers_its_learning_rate(tmp_path, tiny_corpus):
    """Trials train through the run's own callbacks: a learning rate too small to move the loss
    is a plateau, so ReduceLROnPlateau must lower it within the trial (it did not before)."""
    from nlp_lstm.runs import search_space, tuning

    config = load(
        write_pipeline(
            tmp_path,
            tiny_corpus,
            "train: {epochs: 3, verbose: 0, learning_rate: 1.0e-9, lr_schedule: reduce_on_plateau, "
            "lr_decay_rate: 0.1, early_stopping_patience: 0}\n"
            "tune: {max_trials: 1, objective: val_loss}\n",
        )
    )
    task = build_pipeline(config).task
    task.read()
    params = search_space.parse_search_space({"model.hidden_dim": {"choice": [4]}}, config)
    tuner = tuning.make_tuner(task, params, tmp_path / "tuner" / "project")
    tuner.search(verbose=0)
    trial = tuner.oracle.get_best_trials(1)[0]
    with open(Path(tuner.get_trial_dir(trial.trial_id)) / "history.csv") as handle:
        rates = [float(row["learning_rate"]) for row in csv.DictReader(handle)]
    assert rates[0] == pytest.approx(1e-9)
    assert rates[-1] < rates[0] * 0.5, rates
    final = float(tuner.hypermodel._trial_task.model.optimizer.learning_rate.numpy())
    assert final < 1e-9 * 0.5


@pytest.mark.parametrize(
    "objective, direction",
    [
        ("val_loss", "min"),
        ("val_mse", "min"),
        ("val_mae", "min"),
        ("val_perplexity", "min"),
        ("val_accuracy", "max"),
        ("val_macro_f1", "max"),
        ("val_bleu", "max"),
    ],
)
def test_auto_direction_minimises_losses_and_errors(objective, direction):
    from nlp_lstm.config.schema import TuneConfig

    assert tuning.objective_direction(TuneConfig(objective=objective)) == direction
    assert tuning.objective_direction(TuneConfig(objective=objective, direction="max")) == "max"
