"""nlp_lstm.load: the predictors give what the SavedModel gives, from a run or a copied export."""

import shutil

import numpy as np
import pytest
import tensorflow as tf

import nlp_lstm
from nlp_lstm.errors import ExportError

pytestmark = pytest.mark.slow
TEXTS = ["a gorgeous, witty film", "dull and tedious", "", "naïve café — 東京 🙂"]


def test_classifier_predictions_match_the_saved_model(classifier_run, tmp_path):
    copied = tmp_path / "copied_export"
    shutil.copytree(classifier_run / "export", copied)  # without its run directory
    predictor = nlp_lstm.load(copied, batch_size=3)
    assert predictor.task == "classification" and predictor.labels == ["negative", "positive"]
    rows = predictor.predict(TEXTS)
    direct = nlp_lstm.load_export(copied).signatures["serving_default"](text=tf.constant(TEXTS))
    probabilities = direct["probabilities"].numpy()
    for row, probs, label in zip(rows, probabilities, direct["label"].numpy()):
        assert row["label"] == label.decode()
        np.testing.assert_allclose(list(row["probabilities"].values()), probs, rtol=1e-6)
        assert row["probability"] == pytest.approx(float(probs.max()))
    single = predictor.predict(TEXTS[0])
    assert isinstance(single, dict) and single == rows[0]
    assert predictor.predict([]) == []
    with pytest.raises(ValueError, match=r"`texts\[1\]` must be a string"):
        predictor.predict(["ok", 5])


def test_translator_matches_each_signature(translator_run):
    predictor = nlp_lstm.load(translator_run)
    loaded = nlp_lstm.load_export(translator_run)
    texts = ["The small cat sees the old dog.", "The dog.", ""]
    beam = loaded.signatures["translate_with_options"](
        text=tf.constant(texts), beam_size=tf.constant(3), max_length=tf.constant(12)
    )
    greedy = loaded.signatures["translate_greedy"](
        text=tf.constant(texts), max_length=tf.constant(12)
    )
    got = predictor.translate(texts, beam_size=3, max_length=12)
    assert [r["translation"] for r in got] == [t.decode() for t in beam["translation"].numpy()]
    got = predictor.translate(texts, beam_size=1, max_length=12)
    assert [r["translation"] for r in got] == [t.decode() for t in greedy["translation"].numpy()]
    default = loaded.signatures["translate"](text=tf.constant(texts[:1]))
    assert (
        predictor.translate(texts[0])["translation"] == default["translation"].numpy()[0].decode()
    )
    with pytest.raises(ValueError, match="beam_size"):
        predictor.translate("x", beam_size=0)
    with pytest.raises(ValueError, match="max_length"):
        predictor.translate("x", max_length=2**31)


def test_generator_is_seeded_and_matches_the_signature(generator_run):
    predictor = nlp_lstm.load(generator_run)
    options = dict(max_new_tokens=20, temperature=0.8, top_k=5, top_p=0.9, seed=4)
    text = predictor.generate("ROSAMEL:", **options)
    assert isinstance(text, str) and text == predictor.generate("ROSAMEL:", **options)
    direct = nlp_lstm.load_export(generator_run).signatures["generate"](
        prompt=tf.constant(["ROSAMEL:"]),
        max_new_tokens=tf.constant(20),
        temperature=tf.constant(0.8),
        top_k=tf.constant(5),
        top_p=tf.constant(0.9),
        seed=tf.constant(4, tf.int64),
    )
    assert text == direct["text"].numpy()[0].decode("utf-8", errors="replace")
    assert predictor.generate(["a", "b"], max_new_tokens=0) == ["", ""]
    assert predictor.generate([], max_new_tokens=5) == []
    for bad in (
        dict(max_new_tokens=-1),
        dict(top_p=0.0),
        dict(temperature=float("nan")),
        dict(seed=2**64),
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            predictor.generate("x", **bad)


def test_load_names_what_is_wrong(tmp_path, classifier_run):
    with pytest.raises(ExportError, match="neither a SavedModel nor a run directory"):
        nlp_lstm.load(tmp_path)
    copied = tmp_path / "old"
    shutil.copytree(classifier_run / "export", copied)
    (copied / "assets.extra" / "nlp_lstm.json").unlink()  # an export from before the metadata
    with pytest.raises(ExportError, match="Re-export"):
        nlp_lstm.load(copied)
