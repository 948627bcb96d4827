"""Translation helpers: detokenization of joined target tokens and the masked loss."""

import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.models.losses import MaskedSequenceLoss, MaskedTokenAccuracy
from nlp_lstm.tasks.translation.metrics import detokenize


@pytest.mark.parametrize(
    "joined, text",
    [
        ("El perro ve al perro .", "El perro ve al perro."),
        ("¿ Abre la niña la carta ?", "¿Abre la niña la carta?"),
        ("Two young , White males are outside .", "Two young, White males are outside."),
        ("A man ' s hat ( red ) .", "A man's hat (red)."),
        ("A boy in a T - shirt", "A boy in a T-shirt"),
        ("A bi ##ke race", "A bike race"),
        ("", ""),
    ],
)
def test_detokenize(joined, text):
    assert detokenize(tf.constant([joined])).numpy()[0].decode() == text


def test_masked_loss_ignores_padding_and_smooths():
    logits = tf.constant(np.random.RandomState(0).randn(2, 3, 5), tf.float32)
    target = tf.constant([[4, 2, 0], [1, 0, 0]])
    loss = MaskedSequenceLoss()(target, logits)
    log_probs = tf.nn.log_softmax(logits).numpy()
    expected = -np.mean([log_probs[0, 0, 4], log_probs[0, 1, 2], log_probs[1, 0, 1]])
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    # Changing logits at padded positions changes nothing.
    shifted = logits.numpy()
    shifted[1, 1:] += 100.0
    np.testing.assert_allclose(
        float(MaskedSequenceLoss()(target, tf.constant(shifted))), expected, rtol=1e-5
    )
    assert float(MaskedSequenceLoss(label_smoothing=0.1)(target, logits)) != pytest.approx(expected)
    accuracy = MaskedTokenAccuracy()
    accuracy.update_state(target, logits)
    right = np.mean(
        [np.argmax(logits[0, 0]) == 4, np.argmax(logits[0, 1]) == 2, np.argmax(logits[1, 0]) == 1]
    )
    np.testing.assert_allclose(float(accuracy.result()), right)
