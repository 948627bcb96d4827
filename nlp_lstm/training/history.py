"""The training history plot: history.csv's loss and metric columns per epoch, as history.png."""


def _number(text):
    """A history.csv cell as a float; NaN for cells Keras' CSVLogger writes as "NA" (a metric
    an epoch did not log, e.g. val_loss of an empty validation set)."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def plot_history(history_csv, path, metrics=("loss", "accuracy")):
    """Plots loss and accuracy curves from a history.csv into a PNG (curves without a single
    number are left out)."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(history_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for prefix in ("", "val_"):
            key = prefix + metric
            values = [_number(r.get(key)) for r in rows]
            if any(v == v for v in values):  # NaN != NaN
                ax.plot(epochs, values, marker="o", label="validation" if prefix else "train")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
