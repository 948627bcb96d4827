"""Classification metrics: accuracy, macro-F1, per-class precision/recall/F1, the confusion
matrix, the loss and the majority-class baseline.
"""

import numpy as np


def classification_metrics(labels, probabilities, label_names):
    """Metrics for one split, as plain JSON-ready data."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predictions = probabilities.argmax(axis=-1)
    num_classes = len(label_names)
    confusion = np.zeros([num_classes, num_classes], dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    per_class, f1s = {}, []
    for index, name in enumerate(label_names):
        tp = confusion[index, index]
        predicted, actual = confusion[:, index].sum(), confusion[index].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        per_class[name] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(actual),
        }
    picked = probabilities[np.arange(len(labels)), labels] if len(labels) else np.ones(0)
    loss = float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0)))) if len(labels) else None
    majority = np.bincount(labels, minlength=num_classes).max() / max(len(labels), 1)
    return {
        "accuracy": round(float((predictions == labels).mean()) if len(labels) else 0.0, 4),
        "macro_f1": round(float(np.mean(f1s)), 4),
        "loss": None if loss is None else round(loss, 4),
        "majority_baseline": round(float(majority), 4),
        "num_examples": int(len(labels)),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
    }
