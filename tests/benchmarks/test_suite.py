"""`python -m benchmarks`: its command line, the peers it trains, how `main` runs the sections and
writes their block, and the sections' measuring helpers, all on tiny stand-ins. The suite itself
(`python -m benchmarks --quick`, minutes) is a benchmark, not a test."""

import logging
import re
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import corpora, harness
from benchmarks.__main__ import main as bench_main
from benchmarks.__main__ import parse_args
from benchmarks.peers import keras_example, torch_lstm


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "one of the arguments --quick --full is required"),
        (["--quick", "--full"], "not allowed with argument"),
        (["--full"], "--full needs the data root"),
        (["--quick", "--only", "classification,speech"], "unknown sections \\['speech'\\]"),
        (["--quick", "--data-dir", "/nonexistent/data"], "is not a folder"),
    ],
)
def test_bad_arguments_exit_with_a_message(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("NLP_LSTM_DATA_DIR", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def _tiny_ids(tmp_path):
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 12, 40)
    labels = rng.integers(0, 2, 40)
    # The label is the first token's parity, so a few epochs learn something.
    sequences = [
        np.concatenate([[2 + label], rng.integers(4, 30, n - 1)]).astype(np.int64)
        for n, label in zip(lengths, labels)
    ]
    corpora.save_ids(
        tmp_path / "ids.npz", {"train": (sequences, labels), "test": (sequences, labels)}
    )
    return dict(
        ids_path=str(tmp_path / "ids.npz"),
        vocabulary_size=30,
        num_classes=2,
        embedding_dim=8,
        hidden_dim=8,
        dropout=0.0,
        batch_size=8,
        learning_rate=1e-2,
        clipnorm=1.0,
    )


def test_the_keras_example_peer_pads_at_the_front_and_trains(tmp_path):
    peer = keras_example.KerasExampleClassifier(maxlen=12, **_tiny_ids(tmp_path))
    assert peer.train[0].shape == (40, 12)
    assert (peer.train[0][:, -1] != 0).all()  # pre-padding: every row ends with a real token
    assert peer.fit_epoch() > 0
    assert 0.0 <= peer.accuracy() <= 1.0
    assert peer.count_params() == 30 * 8 + 2 * 4 * 8 * (8 + 8 + 1) + 16 * 2 + 2


def test_the_pytorch_peer_trains_on_packed_sorted_batches(tmp_path):
    pytest.importorskip("torch", reason=torch_lstm.MISSING)
    peer = torch_lstm.TorchPackedClassifier(**_tiny_ids(tmp_path))
    lengths = [int(batch[1][0]) for batch in peer.train_batches]
    assert lengths == sorted(lengths, reverse=True)
    assert all(batch[0].shape[1] == batch[1].max() for batch in peer.train_batches)
    for _ in range(15):
        assert peer.fit_epoch() > 0
    assert peer.accuracy() >= 0.75


# -- `main`: the sections it runs and the block it writes, with stand-ins for the sections -------
def _section_module(name, value, calls):
    """A stand-in for benchmarks.<name>: `run(context)` measures two contenders that return
    `value` and value / 2 with the harness's alternation and reports one ratio goal of 2 against
    the target `value` (so a goal is met or not as `value` is at most 2 or above)."""

    def run(context):
        calls.append((name, context))
        values = harness.alternate(
            {"ours": lambda index: value, "peer": lambda index: value / 2}, context.repeats
        )
        rates = {system: harness.median(rounds) for system, rounds in values.items()}
        section = harness.Section(f"Stand-in {name}")
        section.table(["system", "tokens/s"], [[system, rate] for system, rate in rates.items()])
        section.goals = [
            harness.Goal(f"{name}: ours / peer", rates["ours"] / rates["peer"], value),
            harness.Goal(f"{name}: peak RSS", None, 512.0, unit=" MiB", higher_is_better=False),
        ]
        return section

    return types.SimpleNamespace(run=run)


@pytest.fixture()
def stand_in_sections(monkeypatch):
    """benchmarks.classification (goal met) and benchmarks.translation (goal missed) replaced;
    the logger and sys.path that `main` changes are restored afterwards."""
    calls = []
    for name, value in (("classification", 1.5), ("translation", 2500.0)):
        monkeypatch.setitem(sys.modules, f"benchmarks.{name}", _section_module(name, value, calls))
    package_logger = logging.getLogger("nlp_lstm")
    monkeypatch.setattr(package_logger, "handlers", list(package_logger.handlers))
    level = package_logger.level
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield calls
    package_logger.setLevel(level)


def test_main_runs_the_chosen_sections_in_order_and_writes_their_block(
    stand_in_sections, tmp_path, capsys
):
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nNotes.\n", encoding="utf-8")
    common = ["--only", "translation,classification", "--work-dir", str(tmp_path / "work")]
    quick = ["--quick", "--data-dir", str(tmp_path), *common, "--output", str(report)]
    assert bench_main(quick) == 0
    assert [name for name, _ in stand_in_sections] == ["translation", "classification"]
    for _, context in stand_in_sections:  # --quick: one round, and no data root even if given
        assert context.quick and context.repeats == 1 and context.data_dir is None
        assert context.work_dir == tmp_path / "work"
    text = report.read_text(encoding="utf-8")
    begin, end = harness.markers("quick")
    assert text.startswith("# Benchmarks\n\nNotes.\n") and text.count(begin) == 1
    block = text[text.index(begin) : text.index(end) + len(end)] + "\n"
    assert capsys.readouterr().out == block + "\n"  # printed as well
    assert "## Benchmark suite (quick)" in block
    assert "Written by `python -m benchmarks --quick` on " in block
    goals_table = block.split("### Goals", 1)[1].split("\n### ", 1)[0]
    goals = re.findall(r"^\| (.+?) \| (.+?) \| (.+?) \| (yes|\*\*no\*\*|—) \|", goals_table, re.M)
    assert [(name, measured, met) for name, measured, _, met in goals] == [
        ("translation: ours / peer", "2.00x", "**no**"),
        ("translation: peak RSS", "not measured", "**no**"),
        ("classification: ours / peer", "2.00x", "yes"),
        ("classification: peak RSS", "not measured", "**no**"),
    ]
    assert "| translation: ours / peer | 2.00x | ≥ 2,500x | **no** | short by" in goals_table
    sections = re.findall(r"^### (.+)\n\n\((\d+) s\)$", block, re.M)
    assert [title for title, _ in sections] == ["Stand-in translation", "Stand-in classification"]
    assert "| ours | 2,500 |\n| peer | 1,250 |" in block

    stand_in_sections.clear()
    full = [
        "--full",
        "--data-dir",
        str(tmp_path),
        "--repeats",
        "2",
        *common,
        "--output",
        str(report),
    ]
    assert bench_main(full) == 0
    assert len(stand_in_sections) == 2
    for _, context in stand_in_sections:
        assert not context.quick and context.repeats == 2 and context.data_dir == tmp_path
    text = report.read_text(encoding="utf-8")
    assert text.count(harness.markers("full")[0]) == 1 and text.count(begin) == 1  # both kept
    assert f"Written by `python -m benchmarks --full --data-dir {tmp_path}` on " in text


# -- the sections' measuring helpers, on stand-in contenders -------------------------------------
def test_generation_alternates_ours_and_the_peer_after_a_short_warmup():
    from benchmarks import generation

    asked = []

    def generate(prompt, max_new_tokens, temperature, top_k, top_p, seed):
        asked.append(("ours", int(max_new_tokens), int(seed), prompt.numpy().tolist()))
        return {"text": tf.constant(["x" * int(max_new_tokens)])}

    class Peer:
        def generate(self, prompt, characters, temperature, seed):
            asked.append(("peer", characters, seed, [prompt.encode()]))
            return "x" * characters

    rates = generation.compare(generate, Peer(), "ROMEO:", peer_characters=7, repeats=2)
    warmup, new = generation.WARMUP_CHARACTERS, generation.NEW_CHARACTERS
    assert [(who, count, seed) for who, count, seed, _ in asked] == [
        ("ours", warmup, 0),
        ("peer", warmup, 0),
        ("ours", new, 1),
        ("peer", 7, 1),
        ("ours", new, 2),
        ("peer", 7, 2),
    ]
    assert all(prompt == [b"ROMEO:"] for *_, prompt in asked)
    assert set(rates) == {"ours", "peer"}
    assert all(len(values) == 2 and min(values) > 0 for values in rates.values())


def test_translation_decodes_every_source_in_batches_and_keeps_the_last_outputs():
    from benchmarks import translation

    batches = {"upper": [], "lower": []}

    def contender(name, method):
        def translate(batch):
            batches[name].append(len(batch))
            return [method(source) for source in batch]

        return translate

    sources = [f"Sentence {i}" for i in range(translation.BATCH_SIZE + 6)]
    translators = {"upper": contender("upper", str.upper), "lower": contender("lower", str.lower)}
    rates, outputs = translation.compare(translators, sources, repeats=2)
    # The warm-up decodes one batch; each measured round all the sources, BATCH_SIZE at a time.
    full = [translation.BATCH_SIZE, 6]
    assert batches == {"upper": [translation.BATCH_SIZE] + full * 2, "lower": batches["lower"]}
    assert batches["lower"] == batches["upper"]
    assert outputs == {"upper": [s.upper() for s in sources], "lower": [s.lower() for s in sources]}
    assert all(len(values) == 2 and min(values) > 0 for values in rates.values())


def test_a_training_speed_goal_notes_the_accuracies_and_a_missing_peer():
    from benchmarks.classification import _ratio_goal

    goal = _ratio_goal(
        "g", {"ours": 300.0, "keras": 100.0}, {"ours": 0.7, "keras": 0.8}, "keras", 3
    )
    assert (goal.value, goal.target, goal.met) == (3.0, 3, True)
    assert goal.note == "test accuracy 0.700 vs 0.800 (ours lower)"
    missing = _ratio_goal("g", {"ours": 300.0}, {"ours": 0.7}, "torch", 1.5)
    assert missing.value is None and not missing.met
    assert missing.note == "PyTorch is not installed"
