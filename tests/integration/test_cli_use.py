"""The CLI's predict, generate and evaluate --data on real exports, through the predictors."""

import json

import pytest
from click.testing import CliRunner

import nlp_lstm
from nlp_lstm.cli import main

pytestmark = pytest.mark.slow


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_predict_prints_what_the_predictor_returns(classifier_run, tmp_path):
    (tmp_path / "texts.jsonl").write_text(
        '{"text": "a dull film"}\n\n{"text": "lovely"}\n', encoding="utf-8"
    )
    result = _invoke(
        "predict", classifier_run, "a witty film", "--input", tmp_path / "texts.jsonl", "--json"
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    texts = ["a witty film", "a dull film", "lovely"]
    expected = nlp_lstm.load(classifier_run).predict(texts)
    assert [r["text"] for r in rows] == texts
    assert [{k: v for k, v in r.items() if k != "text"} for r in rows] == expected


def test_predict_rejects_a_non_string_in_jsonl(classifier_run, tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": 5}\n', encoding="utf-8")
    result = CliRunner().invoke(
        main, ["predict", str(classifier_run), "--input", str(tmp_path / "bad.jsonl")]
    )
    assert result.exit_code == 1
    assert "bad.jsonl:1" in result.output and "must be a string" in result.output
    assert "Traceback" not in result.output


def test_generate_takes_prompts_from_a_file(generator_run, tmp_path):
    (tmp_path / "prompts.txt").write_text("ROSAMEL:\nThe \n", encoding="utf-8")
    result = _invoke(
        "generate",
        generator_run,
        "--input",
        tmp_path / "prompts.txt",
        "-n",
        12,
        "--seed",
        5,
        "--json",
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["prompt"] for r in rows] == ["ROSAMEL:", "The "]
    assert [r["text"] for r in rows] == nlp_lstm.load(generator_run).generate(
        ["ROSAMEL:", "The "], max_new_tokens=12, seed=5
    )
    zero = _invoke("generate", generator_run, "--prompt", "x", "-n", 0, "--json")
    assert zero.exit_code == 0 and json.loads(zero.stdout) == {"prompt": "x", "text": ""}
    huge = CliRunner().invoke(main, ["generate", str(generator_run), "-n", "3000000000"])
    assert huge.exit_code == 2 and "--max-new-tokens" in huge.output
    over = CliRunner().invoke(main, ["generate", str(generator_run), "-n", "2000000"])
    assert over.exit_code == 2 and "limits.max_new_tokens" in over.output


def test_evaluate_scores_a_new_file_without_touching_the_run_metrics(classifier_run, tmp_path):
    before = (classifier_run / "metrics.json").read_bytes()
    data = tmp_path / "reviews.csv"
    data.write_text(
        "review,stars\na gorgeous witty film,positive\na dull mess,negative\n"
        "tedious and flat,negative\nwarm and funny,positive\n",
        encoding="utf-8",
    )
    result = _invoke(
        "evaluate",
        classifier_run,
        "--data",
        data,
        "--text-column",
        "review",
        "--label-column",
        "stars",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("data: accuracy=")
    written = sorted((classifier_run / "evaluations").glob("reviews-*/metrics.json"))
    assert len(written) == 1
    metrics = json.loads(written[0].read_text())
    assert metrics["data"]["num_examples"] == 4 and metrics["file"] == str(data.resolve())
    assert (written[0].parent / "confusion_data.png").is_file()
    assert (classifier_run / "metrics.json").read_bytes() == before


def test_evaluate_file_errors_are_one_line(classifier_run, tmp_path):
    data = tmp_path / "odd.csv"
    data.write_text("text,label\nfine,neutral\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["evaluate", str(classifier_run), "--data", str(data)])
    assert result.exit_code == 1 and "['neutral']" in result.output
    assert "Traceback" not in result.output
    usage = CliRunner().invoke(main, ["evaluate", str(classifier_run), "--text-column", "x"])
    assert usage.exit_code == 2 and "needs --data" in usage.output


def test_evaluate_scores_a_parallel_file(translator_run, tmp_path):
    data = tmp_path / "pairs.tsv"
    data.write_text(
        "en\tes\nThe dog.\tEl perro.\nThe cat sees the dog.\tEl gato ve al perro.\n",
        encoding="utf-8",
    )
    result = _invoke(
        "evaluate", translator_run, "--data", data, "--source-column", "en", "--target-column", "es"
    )
    assert result.exit_code == 0, result.output
    written = next((translator_run / "evaluations").glob("pairs-*/metrics.json"))
    metrics = json.loads(written.read_text())["data"]
    assert metrics["num_pairs"] == 2 and 0 <= metrics["bleu"] <= 100
    assert (written.parent / "translations_data.tsv").is_file()
