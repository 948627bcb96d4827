"""The CLI (a real subprocess) and the server (a real uvicorn process on loopback) check the
export's limits before they call the model: one clear line and exit code 2, or HTTP 400 with an
`error` naming the field. The issue's cases: `generate -n 2000000` (silent for 120 s before),
3e9 into int32 inputs (a traceback before), `generate -n 0` (a traceback before)."""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.limits.conftest import LIMITS
from tests.serving_helpers import REPO, Server

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.slow  # CLI processes and a server, each importing TensorFlow


def _cli(*args, timeout=120):
    result = subprocess.run(
        [sys.executable, "-m", "nlp_lstm.cli", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    return result


def _one_clear_line(result, *words):
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def test_generate_with_two_million_new_tokens_stops_at_once(generator_export):
    result = _cli("generate", generator_export, "--prompt", "The ", "-n", 2_000_000)
    _one_clear_line(
        result,
        "max_new_tokens",
        f"[0, {LIMITS['max_new_tokens']}]",
        "limits.max_new_tokens",
        "2000000",
    )
    # Refused by the predictor before any model call: what time it takes is Python and
    # TensorFlow starting and loading the export.
    assert result.stdout == ""


def test_generate_with_zero_new_tokens_prints_the_prompts(generator_export):
    result = _cli(
        "generate", generator_export, "--prompt", "x", "--prompt", "The ", "-n", 0, "--json"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"prompt": "x", "text": ""},
        {"prompt": "The ", "text": ""},
    ]


def test_predict_over_the_translator_limits_is_one_line(translator_export):
    result = _cli("predict", translator_export, "a dog", "--max-length", 200_000_000)
    _one_clear_line(result, "max_length", "limits.max_output_length")


@pytest.mark.parametrize(
    "args, words",
    [
        (["generate", "{generator}", "-n", "3000000000"], ["--max-new-tokens", "3000000000"]),
        (["generate", "{generator}", "--top-k", "3000000000"], ["--top-k"]),
        (["generate", "{generator}", "--seed", str(2**64)], ["--seed"]),
        (["generate", "{generator}", "-n", "3e9"], ["--max-new-tokens", "3e9"]),
        (["predict", "{translator}", "a", "--beam-size", "3000000000"], ["--beam-size"]),
        (["predict", "{translator}", "a", "--max-length", "3000000000"], ["--max-length"]),
        (["predict", "{translator}", "a", "--batch-size", "3000000000"], ["--batch-size"]),
    ],
)
def test_values_past_int32_are_one_clear_line(generator_export, translator_export, args, words):
    args = [a.format(generator=generator_export, translator=translator_export) for a in args]
    _one_clear_line(_cli(*args), *words)


@pytest.fixture(scope="module")
def server(classifier_export, translator_export, generator_export, tmp_path_factory):
    log = tmp_path_factory.mktemp("limits_server") / "server.log"
    with Server(
        {
            "classifier": classifier_export,
            "translator": translator_export,
            "generator": generator_export,
        },
        log,
    ) as running:
        yield running


def _post(server, model, body):
    return httpx.post(f"{server.url}/v1/models/{model}:predict", json=body, timeout=60)


GENERATE = {
    "prompt": ["The "],
    "max_new_tokens": 4,
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 1.0,
    "seed": 1,
}


@pytest.mark.parametrize(
    "model, body, words",
    [
        (
            "generator",
            {"inputs": {**GENERATE, "max_new_tokens": 2_000_000}},
            ["`max_new_tokens`", "limits.max_new_tokens"],
        ),
        ("generator", {"inputs": {**GENERATE, "max_new_tokens": 2**31 - 1}}, ["`max_new_tokens`"]),
        (
            "generator",
            {"inputs": {**GENERATE, "max_new_tokens": 3_000_000_000}},
            ["`inputs.max_new_tokens`", "int32"],
        ),
        ("generator", {"inputs": {**GENERATE, "max_new_tokens": -1}}, ["`max_new_tokens`"]),
        (
            "generator",
            {"inputs": {**GENERATE, "prompt": ["x" * (LIMITS["max_input_chars"] + 1)]}},
            ["`inputs.prompt[0]`", "limits.max_input_chars"],
        ),
        (
            "generator",
            {"inputs": {**GENERATE, "prompt": ["a"] * (LIMITS["max_batch_rows"] + 1)}},
            ["`inputs`", "limits.max_batch_rows"],
        ),
        (
            "translator",
            {
                "signature_name": "translate_greedy",
                "inputs": {"text": ["a dog"], "max_length": 200_000_000},
            },
            ["`max_length`", "limits.max_output_length"],
        ),
        (
            "translator",
            {
                "signature_name": "translate_with_options",
                "instances": [{"text": "a dog", "beam_size": 2**30, "max_length": 5}],
            },
            ["`beam_size`", "limits.max_beam_size"],
        ),
        (
            "classifier",
            {"instances": ["fine", "é" * (LIMITS["max_input_chars"] + 1)]},
            ["`instances[1].text`", "limits.max_input_chars"],
        ),
        (
            "classifier",
            {"instances": ["a"] * (LIMITS["max_batch_rows"] + 1)},
            ["`instances`", "limits.max_batch_rows"],
        ),
    ],
)
def test_the_server_answers_400_naming_the_field(server, model, body, words):
    start = time.perf_counter()
    response = _post(server, model, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    for word in words:
        assert word in error, error
    assert time.perf_counter() - start < 10


def test_the_server_answers_zero_new_tokens_with_empty_texts(server):
    response = _post(
        server, "generator", {"inputs": {**GENERATE, "prompt": ["a", "b"], "max_new_tokens": 0}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"]["text"] == ["", ""]
    at_limit = _post(server, "classifier", {"instances": ["a"] * LIMITS["max_batch_rows"]})
    assert at_limit.status_code == 200 and len(at_limit.json()["predictions"]) == 8
