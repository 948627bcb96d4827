"""Text generation end to end: CLI run on tiny text, `nlp-lstm generate`, and the export in a
fresh process that imports only TF and TF-Text."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from nlp_lstm.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEXT = "ROSA:\nWhere is the silver key?\n\nTOBIAS:\nIt is gone to the north wall.\n\n" * 60


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    (root / "play.txt").write_text(TEXT, encoding="utf-8")
    (root / "lm.yaml").write_text(
        textwrap.dedent(f"""\
        name: tiny_lm
        task: generation
        seed: 5
        data: {{source: files, path: {root / "play.txt"}, window_length: 32,
               split_fractions: {{train: 0.9, validation: 0.1}}}}
        stages:
          - {{type: text_normalizer, form: NFC, lowercase: false}}
          - {{type: character_tokenizer}}
          - {{type: vocabulary, max_size: 100}}
        model: {{type: lstm_causal_lm, embedding_dim: 16, hidden_dim: 32, num_layers: 1}}
        train: {{batch_size: 16, epochs: 3, learning_rate: 0.01, verbose: 0}}
        evaluate: {{splits: [validation]}}
        """),
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main, ["run", str(root / "lm.yaml"), "--run-dir", str(root / "run")]
    )
    assert result.exit_code == 0, result.output
    return root / "run", result


def test_run_reports_lm_metrics_and_samples(lm_run):
    run_dir, result = lm_run
    metrics = json.loads((run_dir / "metrics.json").read_text())["validation"]
    assert set(metrics) >= {"loss", "perplexity", "bits_per_char", "unigram_entropy_bits"}
    assert (
        abs(metrics["perplexity"] - 2.718281828 ** metrics["loss"]) < 1e-2 * metrics["perplexity"]
    )
    assert abs(metrics["bits_per_token"] - metrics["loss"] / 0.6931471805599453) < 1e-3
    # The model learns: well below the unigram entropy of the characters.
    assert metrics["bits_per_char"] < metrics["unigram_entropy_bits"] - 1.0
    assert sorted(p.name for p in (run_dir / "samples").iterdir())[-1] == "epoch_03.txt"
    assert "samples after the last epoch" in result.output
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["export"]["gpu_only_ops"] == [] and manifest["export"]["verified_tokens"] > 0


def test_generate_cli_is_seeded(lm_run):
    run_dir, _ = lm_run
    args = [
        "generate",
        str(run_dir),
        "--prompt",
        "ROSA:",
        "--prompt",
        "",
        "-n",
        "40",
        "--temperature",
        "0.8",
        "--top-k",
        "5",
        "--seed",
        "3",
        "--json",
    ]
    first = CliRunner().invoke(main, args)
    second = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    rows = [json.loads(line) for line in first.output.strip().splitlines()]
    assert [r["prompt"] for r in rows] == ["ROSA:", ""]
    assert all(0 < len(r["text"]) <= 40 for r in rows)


def test_fresh_process_generates_from_export(lm_run):
    run_dir, _ = lm_run
    script = textwrap.dedent(f"""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # registers the TF-Text ops
        m = tf.saved_model.load({str(run_dir / "export")!r})
        def run(seed):
            out = m.signatures["generate"](prompt=tf.constant(["ROSA:", "", "\\u6771\\U0001F642"]),
                max_new_tokens=tf.constant(30), temperature=tf.constant(0.9),
                top_k=tf.constant(0), top_p=tf.constant(0.9), seed=tf.constant(seed, tf.int64))
            return [t.decode() for t in out["text"].numpy()]
        print(json.dumps({{"a": run(1), "b": run(1), "c": run(2),
                          "nlp_lstm": any(k.startswith("nlp_lstm") for k in sys.modules)}}))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd="/",
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["a"] == out["b"] and out["a"] != out["c"]
    assert len(out["a"]) == 3 and not out["nlp_lstm"]
