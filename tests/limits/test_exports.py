"""Each export refuses what is over its limits, in the graph and in the predictors, at once and
with a message naming the input and the limit; zero rows and zero new tokens give empty results.

The issue's cases: max_length=2e8, max_new_tokens=2**31-1 and beam_size=2**30 (which took 15.6 GB,
a std::bad_alloc and 81 s before), and `max_new_tokens <= 0` or no prompts (an
InvalidArgumentError before).
"""

import json
import logging
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf

import nlp_lstm
from nlp_lstm.config.loading import load_config
from nlp_lstm.errors import ConfigError
from nlp_lstm.export import limits as limits_lib
from nlp_lstm.tasks import TASKS, ClassificationTask
from tests.limits.conftest import LIMITS

GENERATE = dict(max_new_tokens=5, temperature=1.0, top_k=0, top_p=1.0, seed=3)


def _warm(predictor):
    """`predictor` after one call of each signature (the first call builds the function, which
    takes seconds and is not what the timings below are about)."""
    from benchmarks.fuzz import WARM_UP

    for function in predictor.loaded.signatures.values():
        function(
            **{
                key: tf.constant(["a"] if spec.shape.rank else WARM_UP[key], spec.dtype)
                for key, spec in function.structured_input_signature[1].items()
            }
        )
    return predictor


@pytest.fixture(scope="module")
def classifier(classifier_export):
    return _warm(nlp_lstm.load(classifier_export))


@pytest.fixture(scope="module")
def translator(translator_export):
    return _warm(nlp_lstm.load(translator_export))


@pytest.fixture(scope="module")
def generator(generator_export):
    return _warm(nlp_lstm.load(generator_export))


def _feeds(**values):
    return {
        key: tf.constant(value, tf.int64 if key == "seed" else None)
        for key, value in values.items()
    }


def _refused(call, *words):
    """Runs `call`, which must raise InvalidArgumentError within 10 s (the fuzz's watchdog; a
    refusal takes milliseconds on an idle machine); returns the clear line."""
    start = time.perf_counter()
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        call()
    assert time.perf_counter() - start < 10
    line = limits_lib.error_line(info.value)
    for word in words:
        assert word in line, line
    return line


def test_the_export_records_its_limits(classifier, translator, generator):
    for predictor in (classifier, translator, generator):
        path = predictor.metadata["path"]
        metadata = json.loads(open(f"{path}/assets.extra/nlp_lstm.json").read())
        assert metadata["limits"] == {
            key: LIMITS[key] for key in TASKS.get(predictor.task).limit_keys
        }
        assert predictor.limits == metadata["limits"]


def test_huge_max_length_is_refused_at_once(translator):
    with pytest.raises(
        ValueError,
        match=r"`max_length` must be an int in \[1, 30\] "
        r"\(this export's limits.max_output_length\)",
    ):
        translator.translate(["a dog"], max_length=200_000_000)
    signatures = translator.loaded.signatures
    line = _refused(
        lambda: signatures["translate_greedy"](**_feeds(text=["a dog"], max_length=200_000_000)),
        "`max_length`",
        "max_output_length",
    )
    assert line.endswith("Received: 200000000.")
    _refused(
        lambda: signatures["translate_with_options"](
            **_feeds(text=["a dog"], beam_size=2, max_length=200_000_000)
        ),
        "`max_length`",
    )
    _refused(
        lambda: signatures["translate_greedy"](**_feeds(text=["a dog"], max_length=0)),
        "`max_length`",
    )
    out = signatures["translate_greedy"](
        **_feeds(text=["a dog"], max_length=LIMITS["max_output_length"])
    )
    assert out["token_ids"].shape[1] <= LIMITS["max_output_length"]


def test_huge_beam_is_refused_at_once(translator):
    with pytest.raises(ValueError, match="max_beam_size"):
        translator.translate("a dog", beam_size=2**30)
    _refused(
        lambda: translator.loaded.signatures["translate_with_options"](
            **_feeds(text=["a dog"], beam_size=2**30, max_length=5)
        ),
        "`beam_size`",
        "[1, 4]",
    )
    assert isinstance(translator.translate("a dog", beam_size=LIMITS["max_beam_size"]), dict)


def test_huge_max_new_tokens_is_refused_at_once(generator):
    for value in (2**31 - 1, 2_000_000, LIMITS["max_new_tokens"] + 1, -1):
        with pytest.raises(ValueError, match="max_new_tokens"):
            generator.generate("The ", max_new_tokens=value)
        _refused(
            lambda value=value: generator.loaded.signatures["generate"](
                **_feeds(prompt=["The "], **{**GENERATE, "max_new_tokens": value})
            ),
            "`max_new_tokens`",
            "limits.max_new_tokens",
        )
    assert (
        len(generator.generate("The ", max_new_tokens=LIMITS["max_new_tokens"], temperature=0.0))
        > 0
    )


@pytest.mark.parametrize(
    "option, value",
    [
        ("temperature", float("nan")),
        ("temperature", -1.0),
        ("temperature", float("inf")),
        ("top_p", 0.0),
        ("top_p", float("nan")),
        ("top_p", 1.5),
        ("top_k", -1),
    ],
)
def test_bad_sampling_options_are_refused_in_the_graph(generator, option, value):
    signature = generator.loaded.signatures["generate"]
    _refused(
        lambda: signature(**_feeds(prompt=["a"], **{**GENERATE, option: value})), f"`{option}`"
    )


def test_zero_new_tokens_and_no_prompts_give_empty_results(generator):
    signature = generator.loaded.signatures["generate"]
    out = signature(**_feeds(prompt=["The ", ""], **{**GENERATE, "max_new_tokens": 0}))
    assert out["text"].numpy().tolist() == [b"", b""] and out["token_ids"].shape == (2, 0)
    out = signature(**_feeds(prompt=tf.constant([], tf.string), **GENERATE))
    assert out["text"].shape == (0,) and out["text"].dtype == tf.string
    assert out["token_ids"].shape == (0, 5) and out["token_ids"].dtype == tf.int64
    assert generator.generate(["a", "b"], max_new_tokens=0) == ["", ""]
    assert generator.generate([], max_new_tokens=5) == []


def test_empty_batches_give_empty_outputs(classifier, translator):
    empty = tf.constant([], tf.string)
    classify = classifier.loaded.signatures["serving_default"]
    out = classify(text=empty)
    assert out["probabilities"].shape == (0, 2) and out["label"].dtype == tf.string
    signatures = translator.loaded.signatures
    for out in (
        signatures["translate"](text=empty),
        signatures["translate_greedy"](**_feeds(text=empty, max_length=5)),
        signatures["translate_with_options"](**_feeds(text=empty, beam_size=3, max_length=5)),
    ):
        assert out["translation"].shape == (0,) and out["token_ids"].shape[0] == 0
        assert out["score"].dtype == tf.float32
    assert classifier.predict([]) == [] and translator.translate([]) == []


def test_rows_and_characters_over_the_limits_are_refused(
    classifier, translator, generator, classifier_export
):
    rows, chars = LIMITS["max_batch_rows"], LIMITS["max_input_chars"]
    classify = classifier.loaded.signatures["serving_default"]
    assert classify(text=tf.constant(["x" * chars] * rows))["label"].shape == (rows,)
    _refused(lambda: classify(text=tf.constant(["a"] * (rows + 1))), "`text`", "max_batch_rows")
    _refused(lambda: classify(text=tf.constant(["é" * (chars + 1)])), "`text`", "max_input_chars")
    translate = translator.loaded.signatures["translate"]
    _refused(lambda: translate(text=tf.constant(["a"] * (rows + 1))), "max_batch_rows")
    generate = generator.loaded.signatures["generate"]
    _refused(
        lambda: generate(**_feeds(prompt=["x" * (chars + 1)], **GENERATE)),
        "`prompt`",
        "max_input_chars",
    )
    for predictor, call in (
        (classifier, "predict"),
        (translator, "translate"),
        (generator, "generate"),
    ):
        with pytest.raises(ValueError, match=r"\[1\]` has 301 characters"):
            getattr(predictor, call)(["fine", "x" * (chars + 1)])
        with pytest.raises(ValueError, match="max_batch_rows"):
            getattr(predictor, call)(["a"], batch_size=rows + 1)
    with pytest.raises(ValueError, match="max_batch_rows"):
        nlp_lstm.load(classifier_export, batch_size=rows + 1)
    # More texts than one call takes are cut into batches, as before.
    assert len(classifier.predict(["a"] * (3 * rows))) == 3 * rows


def test_an_export_without_limits_gets_the_defaults(classifier_export, tmp_path, caplog):
    old = tmp_path / "old_export"
    shutil.copytree(classifier_export, old)
    metadata_file = old / "assets.extra" / "nlp_lstm.json"
    metadata = json.loads(metadata_file.read_text())
    del metadata["limits"]
    metadata_file.write_text(json.dumps(metadata))
    with caplog.at_level(logging.WARNING, logger="nlp_lstm.export.limits"):
        predictor = nlp_lstm.load(old)
    assert predictor.limits == ClassificationTask.limits_of(limits_lib.DEFAULT_LIMITS)
    assert "records no limits" in caplog.text and "Re-export" in caplog.text


def test_export_defaults_over_the_limits_fail_at_build_time():
    from nlp_lstm import presets
    from nlp_lstm.pipeline import build_pipeline

    config = load_config(
        presets.find_pipeline("quickstart_translate"), ["export.limits.max_beam_size=2"]
    )
    with pytest.raises(ConfigError, match=r"evaluate.beam_size.*over export.limits.max_beam_size"):
        build_pipeline(config)


def test_the_fuzz_runner_states_the_same_ranges():
    from benchmarks import fuzz

    assert fuzz.OPTIONS == limits_lib.OPTIONS
    assert np.isfinite(limits_lib.OPTIONS["temperature"][2])
