"""`nlp-lstm serve`: TF Serving's REST API over tiny exports.

The slow tests start the real server (`python -m nlp_lstm.cli serve`) on a free loopback port and
talk to it with a real HTTP client (httpx); nothing is mocked. The fast ones check the pieces that
need no server.
"""

import asyncio
import json
import re
import signal
import threading
import time

import numpy as np
import pytest

from nlp_lstm.serving import server as serving
from nlp_lstm.serving.signatures import strip_padding, to_json

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from tests.serving_helpers import Server  # noqa: E402

TEXTS = [
    f"{adjective} film, {adverb} {verb} by a {noun} cast"
    for adjective, adverb, verb, noun in zip(
        [
            "a gorgeous",
            "an awful",
            "a witty",
            "a dull",
            "a moving",
            "a boring",
            "a bright",
            "a tired",
            "a fresh",
            "a flat",
            "a warm",
            "a cold",
            "a brilliant",
            "a lazy",
            "a charming",
            "a clumsy",
            "a tender",
            "a noisy",
            "a clever",
            "a silly",
            "a bold",
            "a weak",
            "a lovely",
            "a messy",
            "a sharp",
            "a stale",
            "a rich",
            "a thin",
            "a sweet",
            "a sour",
            "a grand",
            "a poor",
        ],
        ["beautifully", "badly", "wisely", "barely", "gently", "poorly", "boldly", "sadly"] * 4,
        ["acted", "shot", "written", "scored"] * 8,
        ["young", "tired", "great", "weak", "fine", "bad", "famous", "unknown"] * 4,
    )
]
GERMAN = [
    f"{subject} {verb} {thing}"
    for subject, verb, thing in zip(
        [
            "ein mann",
            "eine frau",
            "ein kind",
            "zwei hunde",
            "die leute",
            "ein junge",
            "ein mädchen",
            "eine gruppe",
        ]
        * 4,
        ["sieht", "spielt", "trägt", "hält"] * 8,
        [
            "einen ball",
            "ein buch",
            "das wasser",
            "eine gitarre",
            "den hut",
            "eine kamera",
            "die straße",
            "ein fahrrad",
        ]
        * 4,
    )
]
SLOW_TRANSLATION = {
    "signature_name": "translate_with_options",
    "inputs": {"text": GERMAN * 20, "beam_size": 16, "max_length": 200},
}


# -- the pieces, without a server ----------------------------------------------------------------
@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_batch_size": 0}, "`max_batch_size` must be an int >= 1. Received: max_batch_size=0"),
        ({"max_queue": 2.5}, "`max_queue` must be an int"),
        ({"batch_timeout_ms": -1}, "`batch_timeout_ms` must be a number in \\[0, 60000\\]"),
        ({"batching": "yes"}, "`batching` must be True or False"),
        ({"max_rows": True}, "`max_rows` must be an int"),
    ],
)
def test_server_options_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        serving.check_options(**options)


def test_an_app_needs_a_model():
    with pytest.raises(ValueError, match="at least one predictor"):
        serving.create_app({})


def test_trailing_padding_columns_are_stripped():
    ids = np.array([[5, 4, 0, 0], [6, 7, 4, 0]])
    assert strip_padding(ids).tolist() == [[5, 4, 0], [6, 7, 4]]
    assert strip_padding(np.zeros((2, 3), np.int64)).shape == (2, 0)


def test_outputs_become_json_as_tf_serving_writes_them():
    assert to_json(np.array([b"caf\xc3\xa9", b"x"], dtype=object)) == ["café", "x"]
    assert to_json(np.array([[1, 2]], np.int64)) == [[1, 2]]
    assert serving._encode({"score": [float("-inf")]}) == b'{"score":[-Infinity]}'


# -- fixtures: the shared tiny runs, their predictors, one server ------------------------------
@pytest.fixture(scope="module")
def runs(classifier_run, translator_run, generator_run):
    return {"classifier": classifier_run, "translator": translator_run, "generator": generator_run}


@pytest.fixture(scope="module")
def predictors(runs):
    import nlp_lstm

    return {name: nlp_lstm.load(path) for name, path in runs.items()}


@pytest.fixture(scope="module")
def server(runs, tmp_path_factory):
    with Server(runs, tmp_path_factory.mktemp("serving") / "server.log") as running:
        yield running


@pytest.fixture()
def client(server):
    with httpx.Client(base_url=server.url, timeout=120) as http:
        yield http


def direct(predictor, signature, **inputs):
    """The SavedModel's own answer: its signature called in this process."""
    import tensorflow as tf

    function = predictor.signature(signature)
    specs = function.structured_input_signature[1]
    outputs = function(
        **{key: tf.constant(value, specs[key].dtype) for key, value in inputs.items()}
    )
    return {key: value.numpy() for key, value in outputs.items()}


def model_calls(http):
    return http.get("/healthz").json()["model_calls"]


def ok(response):
    assert response.status_code == 200, response.text
    return response.json()


# -- the endpoints --------------------------------------------------------------------------------
@pytest.mark.slow
def test_status_health_and_metadata(client):
    assert ok(client.get("/v1/models/classifier")) == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    health = ok(client.get("/healthz"))
    assert health["status"] == "ok"
    assert health["models"] == ["classifier", "translator", "generator"]
    metadata = ok(client.get("/v1/models/translator/metadata"))
    assert metadata["model_spec"] == {"name": "translator", "signature_name": "", "version": "1"}
    definitions = metadata["metadata"]["signature_def"]["signature_def"]
    assert sorted(definitions) == ["translate", "translate_greedy", "translate_with_options"]
    options = definitions["translate_with_options"]
    assert options["method_name"] == "tensorflow/serving/predict"
    assert options["inputs"]["text"]["dtype"] == "DT_STRING"
    assert options["inputs"]["text"]["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}],
        "unknown_rank": False,
    }
    assert options["inputs"]["beam_size"]["dtype"] == "DT_INT32"
    assert options["inputs"]["beam_size"]["tensor_shape"] == {"dim": [], "unknown_rank": False}
    assert {key: value["dtype"] for key, value in options["outputs"].items()} == {
        "translation": "DT_STRING",
        "score": "DT_FLOAT",
        "token_ids": "DT_INT64",
    }
    classifier = ok(client.get("/v1/models/classifier/metadata"))["metadata"]["signature_def"]
    assert classifier["signature_def"]["serving_default"]["outputs"]["probabilities"][
        "tensor_shape"
    ]["dim"] == [{"size": "-1", "name": ""}, {"size": "2", "name": ""}]
    generator = ok(client.get("/v1/models/generator/metadata"))["metadata"]["signature_def"]
    assert {
        key: value["dtype"]
        for key, value in generator["signature_def"]["generate"]["inputs"].items()
    } == {
        "prompt": "DT_STRING",
        "max_new_tokens": "DT_INT32",
        "temperature": "DT_FLOAT",
        "top_k": "DT_INT32",
        "top_p": "DT_FLOAT",
        "seed": "DT_INT64",
    }


@pytest.mark.slow
def test_the_classifier_answers_as_the_savedmodel_and_the_api(client, predictors):
    predictor, texts = predictors["classifier"], TEXTS[:5]
    expected = direct(predictor, "serving_default", text=texts)
    rows = ok(client.post("/v1/models/classifier:predict", json={"instances": texts}))
    columns = ok(
        client.post(
            "/v1/models/classifier:predict",
            json={"signature_name": "serving_default", "inputs": {"text": texts}},
        )
    )["outputs"]
    bare = ok(client.post("/v1/models/classifier:predict", json={"inputs": texts}))["outputs"]
    assert columns == bare
    assert (
        [row["label"] for row in rows["predictions"]]
        == columns["label"]
        == [label.decode() for label in expected["label"]]
    )
    assert columns["label_id"] == expected["label_id"].tolist()
    np.testing.assert_allclose(columns["probabilities"], expected["probabilities"], atol=1e-6)
    np.testing.assert_allclose(
        [row["probabilities"] for row in rows["predictions"]], expected["probabilities"], atol=1e-6
    )
    for row, answer in zip(rows["predictions"], predictor.predict(texts)):
        assert row["label"] == answer["label"]
        np.testing.assert_allclose(
            row["probabilities"],
            [answer["probabilities"][label] for label in predictor.labels],
            atol=1e-6,
        )


@pytest.mark.slow
def test_the_translator_answers_as_the_savedmodel_and_the_api(client, predictors):
    predictor, texts = predictors["translator"], GERMAN[:4]

    def same(answer, expected):
        assert answer["translation"] == [t.decode() for t in expected["translation"]]
        np.testing.assert_allclose(answer["score"], expected["score"], rtol=1e-5)
        assert answer["token_ids"] == strip_padding(expected["token_ids"]).tolist()

    same(
        ok(client.post("/v1/models/translator:predict", json={"inputs": texts}))["outputs"],
        direct(predictor, "translate", text=texts),
    )
    same(
        ok(
            client.post(
                "/v1/models/translator:predict",
                json={
                    "signature_name": "translate_greedy",
                    "inputs": {"text": texts, "max_length": 12},
                },
            )
        )["outputs"],
        direct(predictor, "translate_greedy", text=texts, max_length=12),
    )
    rows = ok(
        client.post(
            "/v1/models/translator:predict",
            json={
                "signature_name": "translate_with_options",
                "instances": [{"text": text, "beam_size": 2, "max_length": 12} for text in texts],
            },
        )
    )
    expected = direct(predictor, "translate_with_options", text=texts, beam_size=2, max_length=12)
    same({key: [row[key] for row in rows["predictions"]] for key in expected}, expected)
    api = predictor.translate(texts, beam_size=2, max_length=12)
    assert [row["translation"] for row in rows["predictions"]] == [
        answer["translation"] for answer in api
    ]
    np.testing.assert_allclose(
        [row["score"] for row in rows["predictions"]],
        [answer["score"] for answer in api],
        rtol=1e-5,
    )


@pytest.mark.slow
def test_the_generator_runs_each_request_alone_and_reproducibly(server, client, predictors):
    predictor = predictors["generator"]
    prompts = [("To be", 1), ("What is", 2), ("My lord", 3), ("O", 4)]

    def body(prompt, seed):
        return {
            "inputs": {
                "prompt": [prompt],
                "max_new_tokens": 16,
                "temperature": 1.0,
                "top_k": 0,
                "top_p": 1.0,
                "seed": seed,
            }
        }

    async def together():
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
            return await asyncio.gather(
                *(
                    http.post("/v1/models/generator:predict", json=body(prompt, seed))
                    for prompt, seed in prompts
                )
            )

    before = model_calls(client)
    answers = [ok(response)["outputs"] for response in asyncio.run(together())]
    assert model_calls(client) - before == len(prompts)  # never merged
    for (prompt, seed), answer in zip(prompts, answers):
        expected = direct(
            predictor,
            "generate",
            prompt=[prompt],
            max_new_tokens=16,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            seed=seed,
        )
        assert answer["text"] == [expected["text"][0].decode("utf-8", errors="replace")]
        assert answer["token_ids"] == expected["token_ids"].tolist()
        assert answer["text"] == [predictor.generate(prompt, max_new_tokens=16, seed=seed)]
    again = ok(client.post("/v1/models/generator:predict", json=body(*prompts[0])))["outputs"]
    assert again == answers[0]


@pytest.mark.slow
def test_32_concurrent_clients_each_get_their_own_answer(server, client, predictors):
    classifier, translator = predictors["classifier"], predictors["translator"]
    expected = direct(classifier, "serving_default", text=TEXTS)["probabilities"]
    translations = direct(translator, "translate_greedy", text=GERMAN, max_length=12)

    def request(index, round_):
        if round_ == 3:
            return (
                "translator",
                {
                    "signature_name": "translate_greedy",
                    "inputs": {"text": [GERMAN[index]], "max_length": 12},
                },
            )
        if round_ == 2:  # two rows per request: each request gets its own two back, in order
            return ("classifier", {"inputs": [TEXTS[index], TEXTS[-1 - index]]})
        return (
            "classifier",
            {"instances": [TEXTS[index]]} if round_ == 0 else {"inputs": {"text": [TEXTS[index]]}},
        )

    async def clients(round_):
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as http:
            return await asyncio.gather(
                *(
                    http.post(
                        f"/v1/models/{request(index, round_)[0]}:predict",
                        json=request(index, round_)[1],
                    )
                    for index in range(32)
                )
            )

    before = model_calls(client)
    for round_ in range(4):
        for index, response in enumerate(asyncio.run(clients(round_))):
            answer = ok(response)
            if round_ == 3:
                assert answer["outputs"]["translation"] == [
                    translations["translation"][index].decode()
                ]
                assert (
                    answer["outputs"]["token_ids"]
                    == strip_padding(translations["token_ids"][index : index + 1]).tolist()
                )
            elif round_ == 2:
                np.testing.assert_allclose(
                    answer["outputs"]["probabilities"], expected[[index, 31 - index]], atol=1e-5
                )
            else:
                probabilities = (
                    answer["predictions"][0]["probabilities"]
                    if round_ == 0
                    else answer["outputs"]["probabilities"][0]
                )
                np.testing.assert_allclose(probabilities, expected[index], atol=1e-5)
    calls = model_calls(client) - before
    assert calls < 4 * 32, f"{calls} model calls for 128 concurrent requests: nothing merged"


# -- the errors -----------------------------------------------------------------------------------
TRANSLATE_WITH = "translate_with_options"
ERRORS = [
    ("classifier", b'{"instances": ["x"', 400, "not valid JSON"),
    ("classifier", b'["x"]', 400, "must be a JSON object. Received: array"),
    ("classifier", b"[" * 100_000, 400, "not valid JSON: maximum recursion depth"),
    (
        "classifier",
        b'{"instances": ["\\ud800"]}',
        400,
        "`instances\\[0\\].text` is not valid Unicode",
    ),
    ("classifier", {"signature_name": "serving_default"}, 400, "exactly one of `instances`"),
    ("classifier", {"instances": ["x"], "inputs": ["x"]}, 400, "exactly one of `instances`"),
    ("classifier", {"instance": ["x"]}, 400, "Unknown request field\\(s\\) 'instance'"),
    ("classifier", {"instances": []}, 400, "`instances` must be a non-empty array"),
    ("classifier", {"instances": [3]}, 400, "`instances\\[0\\].text` must be a string"),
    ("classifier", {"inputs": {"text": "x"}}, 400, "`inputs.text` must be a non-empty array"),
    ("classifier", {"inputs": {"txt": ["x"]}}, 400, "missing 'text' and unknown 'txt'"),
    (
        "classifier",
        {"instances": ["x"], "signature_name": 3},
        400,
        "`signature_name` must be a string",
    ),
    (
        "translator",
        {"signature_name": TRANSLATE_WITH, "instances": [{"text": "x", "max_length": 9}]},
        400,
        "`instances\\[0\\]` has missing 'beam_size'",
    ),
    (
        "translator",
        {
            "signature_name": TRANSLATE_WITH,
            "inputs": {"text": ["x"], "beam_size": "4", "max_length": 9},
        },
        400,
        "`inputs.beam_size` must be an integer .* Received: string '4'",
    ),
    (
        "translator",
        {
            "signature_name": TRANSLATE_WITH,
            "inputs": {"text": ["x"], "beam_size": 2.5, "max_length": 9},
        },
        400,
        "`inputs.beam_size` must be an integer",
    ),
    (
        "translator",
        {
            "signature_name": TRANSLATE_WITH,
            "inputs": {"text": ["x"], "beam_size": 2, "max_length": 2**31},
        },
        400,
        "`inputs.max_length` is out of the range of int32",
    ),
    (
        "translator",
        {
            "signature_name": TRANSLATE_WITH,
            "inputs": {"text": ["x"], "beam_size": 0, "max_length": 9},
        },
        400,
        "`beam_size` must be an int in \\[1, 16\\] \\(this export's limits.max_beam_size\\). "
        "Received: beam_size=0",
    ),
    (
        "translator",
        {
            "signature_name": TRANSLATE_WITH,
            "instances": [
                {"text": "x", "beam_size": 2, "max_length": 9},
                {"text": "y", "beam_size": 3, "max_length": 9},
            ],
        },
        400,
        "`beam_size` must be the same in every instance",
    ),
    (
        "generator",
        {
            "inputs": {
                "prompt": ["x"],
                "max_new_tokens": 4,
                "temperature": 1.0,
                "top_k": 0,
                "top_p": 0.0,
                "seed": 1,
            }
        },
        400,
        "`top_p` must be a number in \\(0.0, 1.0\\]",
    ),
    (
        "generator",
        {
            "inputs": {
                "prompt": ["x"],
                "max_new_tokens": 4,
                "temperature": float("nan"),
                "top_k": 0,
                "top_p": 1.0,
                "seed": 1,
            }
        },
        400,
        "`inputs.temperature` must be a finite number",
    ),
    (
        "nobody",
        {"instances": ["x"]},
        404,
        "No model named `nobody`; this server has classifier, translator, generator",
    ),
    (
        "classifier",
        {"instances": ["x"], "signature_name": "translate"},
        404,
        "Model `classifier` has no signature `translate`; its signatures: serving_default",
    ),
    ("classifier", {"instances": ["x"] * 1025}, 413, "at most 1024 rows. Received: 1025 rows"),
    ("classifier", {"instances": ["x" * 1_100_000]}, 413, "the limit is 1048576"),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "model, body, status, message",
    ERRORS,
    ids=[f"{status}-{index}" for index, (_, _, status, _) in enumerate(ERRORS)],
)
def test_errors_answer_json_with_their_status(client, model, body, status, message):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(
        f"/v1/models/{model}:predict", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error"}
    assert re.search(message, response.json()["error"]), response.json()["error"]
    assert "Traceback" not in response.text


@pytest.mark.slow
def test_routes_methods_and_streamed_bodies_answer_json_errors(client):
    for method, path, status in (
        ("GET", "/v1/models/nobody", 404),
        ("GET", "/nowhere", 404),
        ("GET", "/v1/models/classifier:predict", 405),
        ("DELETE", "/v1/models/classifier", 405),
    ):
        response = client.request(method, path)
        assert response.status_code == status, (path, response.text)
        assert set(response.json()) == {"error"}

    def chunks():  # no Content-Length: the limit is found while reading
        for _ in range(20):
            yield b" " * 65536

    response = client.post("/v1/models/classifier:predict", content=chunks())
    assert response.status_code == 413, response.text
    assert "over the limit of 1048576 bytes" in response.json()["error"]
    assert ok(client.get("/healthz"))["status"] == "ok"  # the server lives on


@pytest.mark.slow
def test_a_full_queue_answers_503_fast_and_the_server_recovers(runs, predictors, tmp_path):
    with (
        Server(
            {"translator": runs["translator"]},
            tmp_path / "server.log",
            ["--max-queue", "1", "--no-batching"],
        ) as server,
        httpx.Client(base_url=server.url, timeout=120) as http,
    ):
        slow = {}
        thread = threading.Thread(
            target=lambda: slow.update(
                response=http.post("/v1/models/translator:predict", json=SLOW_TRANSLATION)
            )
        )
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while http.get("/healthz").json()["requests_in_flight"] < 1:
                assert time.monotonic() < deadline, "the slow request never arrived"
                time.sleep(0.02)
            start = time.perf_counter()
            refused = http.post(
                "/v1/models/translator:predict",
                json={
                    "signature_name": TRANSLATE_WITH,
                    "inputs": {"text": ["x"], "beam_size": 2, "max_length": 9},
                },
            )
            assert refused.status_code == 503, refused.text
            assert time.perf_counter() - start < 1.0
            assert (
                "queue of `translator` signature `translate_with_options` is full"
                in refused.json()["error"]
            )
        finally:
            thread.join(timeout=120)
        assert slow["response"].status_code == 200
        assert len(slow["response"].json()["outputs"]["translation"]) == len(GERMAN) * 20
        before = model_calls(http)
        answer = ok(http.post("/v1/models/translator:predict", json={"inputs": GERMAN[:3]}))
        expected = direct(predictors["translator"], "translate", text=GERMAN[:3])
        assert answer["outputs"]["translation"] == [t.decode() for t in expected["translation"]]
        assert model_calls(http) - before == 1
    assert "POST /v1/models/translator:predict 503 rows=1" in server.log()


@pytest.mark.slow
def test_sigterm_answers_the_requests_in_flight_refuses_new_ones_and_exits_0(runs, tmp_path):
    server = Server({"translator": runs["translator"]}, tmp_path / "server.log").start()
    responses, threads = {}, []
    try:
        for index, max_length in enumerate((200, 199, 198)):
            body = {
                **SLOW_TRANSLATION,
                "inputs": {**SLOW_TRANSLATION["inputs"], "max_length": max_length},
            }
            threads.append(
                threading.Thread(
                    target=lambda i=index, b=body: responses.update(
                        {
                            i: httpx.post(
                                server.url + "/v1/models/translator:predict", json=b, timeout=120
                            )
                        }
                    )
                )
            )
            threads[-1].start()
        deadline = time.monotonic() + 30
        while httpx.get(server.url + "/healthz", timeout=5).json()["requests_in_flight"] < 3:
            assert time.monotonic() < deadline, "the requests never arrived"
            time.sleep(0.02)
        server.process.send_signal(signal.SIGTERM)
        deadline, refused = time.monotonic() + 10, False
        while not refused and time.monotonic() < deadline:
            try:
                httpx.get(server.url + "/healthz", timeout=2)
                time.sleep(0.05)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                # Refused, or accepted in the instant before the socket closed and then closed
                # unanswered: either way no new request is served.
                refused = True
        assert refused, "new connections were still answered 10 s after SIGTERM"
        assert len(responses) < 3, "the requests ended before the check; make them slower"
        for thread in threads:
            thread.join(timeout=120)
        assert [responses[i].status_code for i in range(3)] == [200, 200, 200]
        assert all(
            len(responses[i].json()["outputs"]["translation"]) == len(GERMAN) * 20 for i in range(3)
        )
        assert server.process.wait(timeout=60) == 0
    finally:
        server.stop()
    log = server.log()
    assert "stopped by SIGTERM" in log
    assert log.count("POST /v1/models/translator:predict 200 rows=640") == 3
