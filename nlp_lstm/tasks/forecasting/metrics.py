"""Forecasting metrics, the baselines every run reports, and the forecast plot.

Errors are averaged over all windows x horizon steps x predicted columns (the ETT papers'
protocol, with every test window counted: no `drop_last`). The baselines see the same windows:
Repeat (the last value), seasonal naive (the value one period back) and a linear peer fitted in
the same run (NLinear-style: one least-squares map from the last-value-subtracted window to the
horizon, shared by all channels).
"""

import numpy as np


def errors(predicted, actual):
    """{"mse", "mae"} of two arrays of equal shape."""
    difference = np.asarray(predicted, np.float64) - np.asarray(actual, np.float64)
    return {
        "mse": round(float(np.mean(difference**2)), 5),
        "mae": round(float(np.mean(np.abs(difference))), 5),
    }


def per_step_mse(predicted, actual):
    """MSE at each horizon step (averaged over windows and columns), as a list."""
    difference = np.asarray(predicted, np.float64) - np.asarray(actual, np.float64)
    return [round(float(v), 5) for v in np.mean(difference**2, axis=(0, 2))]


def repeat_last(history, horizon):
    """Every future step is the last observed value: [n, L, c] -> [n, H, c]."""
    return np.repeat(history[:, -1:, :], horizon, axis=1)


def seasonal_naive(history, horizon, period):
    """Step h is the value one period before it (repeating the last period): None if the
    history is shorter than one period."""
    if period > history.shape[1]:
        return None
    steps = history.shape[1] - period + np.arange(horizon) % period
    return history[:, steps, :]


class LinearPeer:
    """NLinear-style linear forecaster fitted by least squares on the train windows.

    Each channel's window minus its last value maps to the horizon minus that value, through
    one weight matrix [L + 1, H] shared by all channels (a small ridge term keeps it stable).
    """

    def __init__(self, ridge=1e-3):
        self.ridge = ridge
        self.weights = None

    @staticmethod
    def _rows(history):
        last = history[:, -1:, :]
        x = np.transpose(history - last, (0, 2, 1)).reshape(-1, history.shape[1])
        return np.concatenate([x, np.ones([len(x), 1])], axis=1), last

    def fit(self, history, future):
        """history [n, L, c], future [n, H, c] (the same channels)."""
        x, last = self._rows(np.asarray(history, np.float64))
        y = np.transpose(np.asarray(future, np.float64) - last, (0, 2, 1)).reshape(len(x), -1)
        gram = x.T @ x + self.ridge * len(x) * np.eye(x.shape[1])
        self.weights = np.linalg.solve(gram, x.T @ y)
        return self

    def predict(self, history):
        history = np.asarray(history, np.float64)
        x, last = self._rows(history)
        y = (x @ self.weights).reshape(history.shape[0], history.shape[2], -1)
        return np.transpose(y, (0, 2, 1)) + last


def plot_forecasts(windows, curves, path, title):
    """Forecast against actual for a few windows, and the per-step MSE curves.

    Args:
        windows: list of (history [L], actual [H], {name: forecast [H]}), one column each.
        curves: dict. Name -> per-step MSE list (z-scored).
        path: str or Path. The PNG to write.
        title: str. Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(windows) + 1, figsize=(4.5 * (len(windows) + 1), 3.8), squeeze=False
    )
    for ax, (history, actual, forecasts) in zip(axes[0], windows):
        past = np.arange(-len(history), 0)
        future = np.arange(len(actual))
        ax.plot(past, history, color="gray", label="history")
        ax.plot(future, actual, color="black", label="actual")
        for name, values in forecasts.items():
            ax.plot(future, values, label=name, linewidth=1)
        ax.set_xlabel("step")
    axes[0][0].legend(fontsize=7)
    ax = axes[0][-1]
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set_xlabel("horizon step")
    ax.set_title("MSE per step (z-scored)")
    ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
