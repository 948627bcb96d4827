"""Translation end to end: CLI run on the tiny phrasebook, its scores recomputed with sacreBLEU,
`nlp-lstm predict` and `evaluate`, and the export in a fresh process that imports only TF (and
TF-Text's ops)."""

import csv
import json
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from nlp_lstm import load
from nlp_lstm.cli import main
from tests.testing import call_export_in_fresh_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def mt_run(tmp_path_factory):
    # The whole phrasebook (3200 train pairs): three epochs reach a BLEU far above copying the
    # source. Capped at 600 train pairs it took about as long (decoding the 400 validation pairs
    # dominates) and its BLEU stayed below 1.
    root = tmp_path_factory.mktemp("mt")
    (root / "mt.yaml").write_text(
        textwrap.dedent("""\
        name: tiny_mt
        task: translation
        seed: 3
        data: {source: sample, sample: phrasebook, source_column: en, target_column: es,
               max_source_tokens: 20, max_target_tokens: 20,
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
    lines = (run_dir / "translations_validation.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "source\treference\thypothesis\tgreedy"
    assert (run_dir / "attention_validation.png").stat().st_size > 1000
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["export"]["gpu_only_ops"] == [] and manifest["export"]["verified_inputs"] > 0
    assert "bleu=" in result.output


def test_reported_scores_are_sacrebleu_on_the_translations_file(mt_run):
    """BLEU, greedy BLEU, chrF and copy-the-source BLEU recomputed with sacreBLEU from
    translations_validation.tsv (detokenized hypotheses, cased) equal the reported ones, and the
    model beats copying the source sentence as its translation."""
    import sacrebleu

    run_dir, _ = mt_run
    metrics = json.loads((run_dir / "metrics.json").read_text())["validation"]
    with open(run_dir / "translations_validation.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == metrics["num_pairs"] > 0
    references = [[row["reference"] for row in rows]]

    def score(metric, column):
        return round(metric.corpus_score([row[column] for row in rows], references).score, 2)

    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    assert score(bleu, "hypothesis") == metrics["bleu"]
    assert str(bleu.get_signature()) == metrics["bleu_signature"]
    assert score(bleu, "greedy") == metrics["bleu_greedy"]
    assert score(chrf, "hypothesis") == metrics["chrf"]
    assert score(bleu, "source") == metrics["copy_source_bleu"]
    assert metrics["bleu"] > metrics["copy_source_bleu"]


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
    text = ["The cat sees the dog.", "", "x " * 3000, "\u6771\U0001f642 ¿?"]
    options = {"beam_size": np.int32(1), "max_length": np.int32(6)}
    served = call_export_in_fresh_process(
        run_dir / "export",
        [("translate", {"text": text}), ("translate_with_options", {"text": text, **options})],
    )
    beam, greedy = served["outputs"]
    assert len(beam["translation"]) == 4 and np.isfinite(beam["score"]).all()
    assert len(greedy["token_ids"][0]) <= 6
    local = load(run_dir).translate(text)
    assert beam["translation"] == [row["translation"] for row in local]
    np.testing.assert_allclose(beam["score"], [row["score"] for row in local], rtol=1e-5)
