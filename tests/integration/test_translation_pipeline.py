"""Translation end to end: CLI run on the tiny phrasebook, `nlp-lstm predict` and `evaluate`,
and the export in a fresh process that imports only TF and TF-Text."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from nlp_lstm.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def mt_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mt")
    (root / "mt.yaml").write_text(
        textwrap.dedent("""\
        name: tiny_mt
        task: translation
        seed: 3
        data: {source: sample, sample: phrasebook, source_column: en, target_column: es,
               max_examples: 600, max_source_tokens: 20, max_target_tokens: 20,
               split_fractions: {train: 0.8, validation: 0.1, test: 0.1}}
        stages:
          - {type: text_normalizer, form: NFC, lowercase: false}
          - {type: unicode_script_tokenizer}
          - {type: vocabulary, max_size: 200}
        model: {type: lstm_seq2seq, embedding_dim: 16, hidden_dim: 32, encoder_layers: 1,
                decoder_layers: 1, attention: bahdanau, dropout: 0.0}
        train: {batch_size: 32, epochs: 3, learning_rate: 0.01, verbose: 0, num_buckets: 2}
        evaluate: {splits: [validation], beam_size: 3, batch_size: 64}
        """),
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main, ["run", str(root / "mt.yaml"), "--run-dir", str(root / "run")]
    )
    assert result.exit_code == 0, result.output
    return root / "run", result


def test_run_reports_bleu_chrf_and_writes_artifacts(mt_run):
    run_dir, result = mt_run
    metrics = json.loads((run_dir / "metrics.json").read_text())["validation"]
    assert set(metrics) >= {
        "bleu",
        "chrf",
        "bleu_signature",
        "bleu_greedy",
        "copy_source_bleu",
        "loss",
        "perplexity",
    }
    assert "nrefs:1|case:mixed|eff:no|tok:13a" in metrics["bleu_signature"]
    assert (
        abs(metrics["perplexity"] - 2.718281828 ** metrics["loss"]) < 1e-2 * metrics["perplexity"]
    )
    assert 0.0 <= metrics["bleu"] <= 100.0 and metrics["num_pairs"] > 0
    rows = (run_dir / "translations_validation.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "source\treference\thypothesis\tgreedy"
    assert len(rows) == metrics["num_pairs"] + 1
    assert (run_dir / "attention_validation.png").stat().st_size > 1000
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["export"]["gpu_only_ops"] == [] and manifest["export"]["verified_inputs"] > 0
    assert "bleu=" in result.output


def test_predict_and_evaluate_cli(mt_run):
    run_dir, _ = mt_run
    args = ["predict", str(run_dir), "The cat sees the dog.", "", "--json"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    rows = [json.loads(line) for line in first.output.strip().splitlines()]
    assert [r["text"] for r in rows] == ["The cat sees the dog.", ""]
    assert all(isinstance(r["translation"], str) for r in rows)
    greedy = CliRunner().invoke(main, args + ["--beam-size", "1", "--max-length", "5"])
    assert greedy.exit_code == 0, greedy.output
    assert all(
        len(json.loads(line)["translation"].split()) <= 5
        for line in greedy.output.strip().splitlines()
    )
    scored = CliRunner().invoke(main, ["evaluate", str(run_dir), "--split", "test"])
    assert scored.exit_code == 0, scored.output
    assert "test: bleu=" in scored.output
    assert "test" in json.loads((run_dir / "metrics.json").read_text())


def test_fresh_process_translates_from_export(mt_run):
    run_dir, _ = mt_run
    script = textwrap.dedent(f"""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # registers the TF-Text ops
        m = tf.saved_model.load({str(run_dir / "export")!r})
        text = tf.constant(["The cat sees the dog.", "", "x " * 3000, "\\u6771\\U0001F642 ¿?"])
        out = m.signatures["translate"](text=text)
        greedy = m.signatures["translate_with_options"](text=text, beam_size=tf.constant(1),
                                                        max_length=tf.constant(6))
        print(json.dumps({{"beam": [t.decode() for t in out["translation"].numpy()],
                          "scores": out["score"].numpy().tolist(),
                          "greedy_ids": greedy["token_ids"].numpy().shape[1],
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
    assert len(out["beam"]) == 4 and not out["nlp_lstm"]
    assert all(s == s and abs(s) < 1e6 for s in out["scores"])  # finite
    assert out["greedy_ids"] <= 6
