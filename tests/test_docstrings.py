"""Every `Example:` block in the public docstrings runs as a doctest."""

import doctest
import importlib

import pytest
import tensorflow as tf

MODULES = [
    "nlp_lstm.config.registry",
    "nlp_lstm.stages.preprocessor",
    "nlp_lstm.stages.tokenizers",
    "nlp_lstm.stages.vocabulary",
    "nlp_lstm.stages.packing",
    "nlp_lstm.stages.numeric",
    "nlp_lstm.models.backbone",
    "nlp_lstm.models.text_classifier",
    "nlp_lstm.models.causal_lm",
    "nlp_lstm.models.seq2seq",
    "nlp_lstm.models.forecasting",
    "nlp_lstm.models.decoding",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, extraglobs={"tf": tf}) if t.examples]
    assert tests, f"{name} has no docstring examples"
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {name}"
