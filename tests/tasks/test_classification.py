"""Classification metrics on a hand-computed example, and the plots (nlp_lstm/tasks/plots.py)."""

import json
import math

import numpy as np
import pytest

from nlp_lstm.tasks.classification.metrics import classification_metrics
from nlp_lstm.tasks.plots import plot_confusion_matrix
from nlp_lstm.training.history import plot_history

LABEL_NAMES = ["neg", "neu", "pos"]
LABELS = [0, 0, 1, 1, 2, 2]
PREDICTED = [0, 1, 1, 1, 2, 0]


def probabilities_for(predicted, high=0.8, low=0.1):
    out = np.full([len(predicted), 3], low)
    out[np.arange(len(predicted)), predicted] = high
    return out


@pytest.fixture(scope="module")
def metrics():
    return classification_metrics(LABELS, probabilities_for(PREDICTED), LABEL_NAMES)


def test_confusion_matrix(metrics):
    # Rows are true labels, columns predictions.
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_accuracy_and_counts(metrics):
    assert metrics["accuracy"] == round(4 / 6, 4)
    assert metrics["num_examples"] == 6
    assert metrics["majority_baseline"] == round(2 / 6, 4)


def test_per_class_precision_recall_f1(metrics):
    assert metrics["per_class"] == {
        "neg": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
        "neu": {"precision": round(2 / 3, 4), "recall": 1.0, "f1": 0.8, "support": 2},
        "pos": {"precision": 1.0, "recall": 0.5, "f1": round(2 / 3, 4), "support": 2},
    }


def test_macro_f1(metrics):
    assert metrics["macro_f1"] == round((0.5 + 0.8 + 2 / 3) / 3, 4) == 0.6556


def test_loss_is_the_mean_negative_log_likelihood(metrics):
    expected = -(4 * math.log(0.8) + 2 * math.log(0.1)) / 6
    assert metrics["loss"] == round(expected, 4)


def test_metrics_are_json_ready(metrics):
    assert json.loads(json.dumps(metrics)) == metrics


def test_perfect_predictions():
    metrics = classification_metrics(LABELS, probabilities_for(LABELS, 1.0, 0.0), LABEL_NAMES)
    assert metrics["accuracy"] == 1.0 and metrics["macro_f1"] == 1.0
    assert metrics["loss"] == 0.0
    assert metrics["confusion_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]


def test_class_never_predicted_or_absent_has_zero_scores():
    # "pos" (2) never occurs and is never predicted: precision, recall and f1 are 0, not NaN.
    metrics = classification_metrics([0, 1], probabilities_for([0, 0]), LABEL_NAMES)
    assert metrics["per_class"]["pos"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert metrics["per_class"]["neu"]["precision"] == 0.0
    assert metrics["per_class"]["neg"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": round(2 / 3, 4),
        "support": 1,
    }


def test_empty_split():
    metrics = classification_metrics([], np.zeros([0, 3]), LABEL_NAMES)
    assert metrics["num_examples"] == 0
    assert metrics["accuracy"] == 0.0
    assert metrics["loss"] is None  # strict JSON has no NaN
    assert metrics["confusion_matrix"] == [[0, 0, 0]] * 3


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_confusion_matrix_writes_a_png(tmp_path, metrics):
    path = tmp_path / "confusion_test.png"
    plot_confusion_matrix(metrics["confusion_matrix"], LABEL_NAMES, path, "tiny: test")
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 1000


def test_plot_history_writes_a_png(tmp_path):
    history = tmp_path / "history.csv"
    history.write_text(
        "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,0.7,0.5,0.69\n1,0.8,0.4,0.7,0.55\n",
        encoding="utf-8",
    )
    path = tmp_path / "history.png"
    plot_history(history, path)
    assert path.read_bytes()[:8] == PNG_MAGIC
