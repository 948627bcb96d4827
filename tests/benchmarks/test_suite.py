"""`python -m benchmarks`: its command line, and the whole quick suite as a smoke test."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import corpora
from benchmarks.__main__ import parse_args
from benchmarks.peers import keras_example, torch_lstm

REPO = Path(__file__).resolve().parents[2]


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


@pytest.mark.slow
@pytest.mark.integration
def test_the_quick_suite_runs_every_benchmark_and_reports_every_goal(tmp_path):
    output = tmp_path / "report.md"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--work-dir",
            str(tmp_path / "work"),
            "--output",
            str(output),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = output.read_text(encoding="utf-8")
    for title in ("### Classification", "### Generation", "### Translation decoding"):
        assert title in report
    goals_table = report.split("### Goals", 1)[1].split("\n### ", 1)[0]
    goals = re.findall(r"^\| (.+?) \| (.+?) \| (.+?) \| (yes|\*\*no\*\*|—) \|", goals_table, re.M)
    names = [name for name, *_ in goals if name != "goal"]
    assert len(names) == 8, names  # no MR without a data root: one PyTorch goal fewer
    for name, measured, target, _ in goals:
        if name == "goal" or "PyTorch" in name and "not measured" in measured:
            continue
        assert re.match(r"[\d,.]+(x|%| ms| MiB)$", measured), (name, measured)
    assert "| nlp_lstm (tf.data length buckets, right padding) |" in report
    assert "`train.batch_tokens: 8192`" in report
