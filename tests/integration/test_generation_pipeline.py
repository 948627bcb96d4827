"""Text generation end to end: CLI run on tiny text, `nlp-lstm generate`, and the export in a
fresh process that imports only TF (and TF-Text's ops)."""

import json
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from nlp_lstm import load
from nlp_lstm.cli import main
from tests.testing import call_export_in_fresh_process

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
    prompts = ["ROSA:", "", "\u6771\U0001f642"]
    options = {
        "max_new_tokens": np.int32(30),
        "temperature": np.float32(0.9),
        "top_k": np.int32(0),
        "top_p": np.float32(0.9),
    }
    served = call_export_in_fresh_process(
        run_dir / "export",
        [
            ("generate", {"prompt": prompts, **options, "seed": np.int64(seed)})
            for seed in (1, 1, 2)
        ],
    )
    first, again, other = (out["text"] for out in served["outputs"])
    assert first == again and first != other and len(first) == 3
    # The same text as nlp_lstm.load generates in this process for the same seed.
    local = load(run_dir).generate(
        prompts, max_new_tokens=30, temperature=0.9, top_k=0, top_p=0.9, seed=1
    )
    assert first == local
