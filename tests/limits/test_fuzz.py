"""The short fuzz of the fast tier: every signature of each tiny export, with the inputs and the
oracle of `benchmarks/fuzz.py` (the long run, in a memory-capped child process), in process.

Each call must either answer with one row per input row, or raise an InvalidArgumentError with
one of the export's own limit messages, exactly when the oracle says the inputs are out of the
export's limits, and within 10 s.
"""

import time

import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings

import nlp_lstm
from benchmarks import fuzz
from nlp_lstm.export.limits import error_line

EXAMPLES = 60  # per export; the long run takes 10,000


def _signature_specs(loaded):
    return {
        name: {
            key: (spec.dtype.name, spec.shape.rank)
            for key, spec in function.structured_input_signature[1].items()
        }
        for name, function in loaded.signatures.items()
    }


def _fuzz(export_dir):
    loaded = nlp_lstm.load(export_dir).loaded
    limits, _ = fuzz.read_limits(export_dir)
    specs = {
        name: dict(function.structured_input_signature[1])
        for name, function in loaded.signatures.items()
    }
    seen = {"ok": 0, "refused": 0}
    for name, spec in specs.items():  # the first call builds the function: not timed
        loaded.signatures[name](
            **{
                key: tf.constant(["a"] if value.shape.rank else fuzz.WARM_UP[key], value.dtype)
                for key, value in spec.items()
            }
        )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(fuzz.strategies(_signature_specs(loaded), limits))
    def check(call):
        name, inputs = call
        feeds = {key: tf.constant(value, specs[name][key].dtype) for key, value in inputs.items()}
        rows = next(len(value) for value in inputs.values() if isinstance(value, list))
        start = time.perf_counter()
        try:
            outputs = loaded.signatures[name](**feeds)
        except tf.errors.InvalidArgumentError as err:
            assert fuzz.LIMIT_MARK.search(err.message), err.message
            assert fuzz.expected_refusal(inputs, limits), (name, error_line(err))
            seen["refused"] += 1
        else:
            assert not fuzz.expected_refusal(inputs, limits), (name, fuzz._describe(inputs))
            assert all(value.shape[0] == rows for value in outputs.values())
            seen["ok"] += 1
        assert time.perf_counter() - start < fuzz.CALL_TIMEOUT_S

    check()
    assert seen["ok"] and seen["refused"], seen


def test_fuzz_the_classifier(classifier_export):
    _fuzz(classifier_export)


def test_fuzz_the_translator(translator_export):
    _fuzz(translator_export)


def test_fuzz_the_generator(generator_export):
    _fuzz(generator_export)


@pytest.mark.parametrize(
    "inputs, refused",
    [
        ({"text": ["a"] * 9}, True),
        ({"text": ["a"] * 8}, False),
        ({"text": ["x" * 301]}, True),
        ({"text": [b"\xff" * 400]}, False),
        ({"text": [], "beam_size": 5, "max_length": 3}, True),
        ({"text": [], "max_length": 0}, True),
        ({"prompt": [], "max_new_tokens": 0}, False),
        ({"prompt": [], "top_p": 0.0}, True),
        ({"prompt": [], "temperature": float("nan")}, True),
    ],
)
def test_the_oracle(inputs, refused):
    from tests.limits.conftest import LIMITS

    assert fuzz.expected_refusal(inputs, LIMITS) is refused
