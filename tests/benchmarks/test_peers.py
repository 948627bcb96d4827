"""The decoding and generation peers read their ids and stage chain from the run's preprocessors,
and the Python step decoder does the same work as the exported Translator."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


def _untrained(pipeline, overrides):
    """A task of `pipeline` with its stages adapted and its model built (weights untrained)."""
    from nlp_lstm.config.loading import load_config
    from nlp_lstm.pipeline import build_pipeline

    task = build_pipeline(load_config(PIPELINES / pipeline, overrides)).task
    task.read()
    task.adapt()
    task.build_model()
    return task


def test_the_python_step_decoder_translates_as_the_export_module_does():
    import tensorflow as tf

    from benchmarks.peers.python_decoding import PythonStepDecoder

    task = _untrained(
        "quickstart_translate.yaml",
        [
            "data.max_examples=200",
            "model.embedding_dim=8",
            "model.hidden_dim=8",
            "evaluate.max_output_tokens=6",
        ],
    )
    peer = PythonStepDecoder(task)
    target = task.target_preprocessor.special_ids
    assert (peer.pad_id, peer.start_id, peer.end_id) == (
        target["pad"],
        target["start"],
        target["end"],
    )
    assert peer.num_special == task.target_preprocessor.num_special
    translator = task.serving_module()
    sources = task.data.splits["validation"]["source"][:5] + [""]
    assert (
        peer.source_ids(sources).numpy().tolist()
        == translator.source_ids(tf.constant(sources)).numpy().tolist()
    )
    for beam_size in (1, 3):
        assert peer.translate(sources, beam_size, task.max_output_tokens()) == task.translate(
            sources, beam_size=beam_size, translator=translator
        )


def test_the_naive_generator_uses_the_preprocessor_and_prints_no_special_tokens():
    import tensorflow as tf

    from benchmarks.peers.naive_generation import NaiveWindowGenerator

    task = _untrained(
        "quickstart_generate.yaml",
        ["data.max_examples=2000", "model.embedding_dim=8", "model.hidden_dim=8"],
    )
    peer = NaiveWindowGenerator(task, window=8)
    prompt = task.data.splits["train"][:12]
    assert peer.prompt_ids(prompt) == task.preprocessor(tf.constant([prompt])).to_list()[0]
    assert peer.num_special == task.preprocessor.num_special
    text = peer.generate(prompt, num_characters=5, temperature=1.0, seed=0)
    assert len(text) <= 5
    assert not set(task.preprocessor.vocabulary.special_tokens) & set(text.split())
