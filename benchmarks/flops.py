"""Compute efficiency of the LSTM training step: analytic FLOPs against the measured matmul peak.

FLOPs of one LSTM direction at one time step, input size D, hidden size H, gates 4H:
- forward: the gate pre-activations x·W (D × 4H) and h·U (H × 4H), 2 FLOPs per multiply-add:
  2·4H·(D + H) = 8H(D + H);
- backward: the gradients to the inputs and to the weights, each a product of the same size:
  2 × 8H(D + H).
So training costs 24·H·(D + H) FLOPs per direction per position; the elementwise gate math
(about 30·H) and the embedding and output layers are left out, so the count is a lower bound. A
bidirectional layer doubles it. "Useful" FLOPs count real tokens only; "executed" FLOPs count
every position the kernel steps over, padding included.
"""

import dataclasses
import time

from benchmarks import harness


def lstm_training_flops(input_dim, hidden_dim, directions=2):
    """Training FLOPs per position of one (bi)LSTM layer (see the module docstring)."""
    return 24 * hidden_dim * (input_dim + hidden_dim) * directions


def matmul_rate(m, k, n, seconds=1.0):
    """FLOP/s of float32 [m, k] x [k, n] products run back to back in one tf.function."""
    import tensorflow as tf

    a = tf.random.normal([m, k])
    b = tf.random.normal([k, n])
    iterations = tf.constant(max(1, int(2e9 * seconds / (2 * m * k * n))))

    @tf.function
    def loop(a, b, iterations):
        total = tf.zeros([m, n])
        for _ in tf.range(iterations):
            total += tf.matmul(a, b)
        return total

    loop(a, b, tf.constant(1)).numpy()
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        loop(a, b, iterations).numpy()
        best = max(best, 2 * m * k * n * int(iterations) / (time.perf_counter() - start))
    return best


@dataclasses.dataclass(frozen=True)
class MatmulRates:
    """FLOP/s measured once per run: square matmuls of `side` (the practical peak) and one LSTM
    step's gate matmul at the benchmark's sizes."""

    square: float
    side: int
    gate: float


def matmul_rates(context, size):
    side = 512 if context.quick else 2048
    seconds = 0.3 if context.quick else 1.0
    return MatmulRates(
        square=matmul_rate(side, side, side, seconds),
        side=side,
        gate=matmul_rate(
            size.batch_size, size.embedding_dim + size.hidden_dim, 4 * size.hidden_dim, seconds
        ),
    )


def efficiency(context, section, padding, epoch_seconds, real_tokens, size, rates):
    """Adds the efficiency table for ours' timed epochs (`padding`: the share of padding
    positions its batches held; `rates`: from `matmul_rates`); returns the goal."""
    peak, square, step = rates.square, rates.side, rates.gate
    per_position = lstm_training_flops(size.embedding_dim, size.hidden_dim)
    executed_positions = real_tokens / (1 - padding)
    seconds = harness.median(epoch_seconds)
    useful = per_position * real_tokens / seconds
    executed = per_position * executed_positions / seconds
    gate_rows = size.batch_size
    section.text(
        f"Compute efficiency of ours' training step on the long-tailed corpus: "
        f"24·H·(D+H) FLOPs per direction per position (D={size.embedding_dim}, "
        f"H={size.hidden_dim}, 2 directions: {per_position:,} FLOPs per token; see "
        f"`benchmarks/flops.py`). The peak is the best of three runs of back-to-back float32 "
        f"{square}×{square} matmuls in this run; the second reference is one LSTM step's gate "
        f"matmul alone, [{gate_rows}, {size.embedding_dim + size.hidden_dim}] × "
        f"[{size.embedding_dim + size.hidden_dim}, {4 * size.hidden_dim}].",
        "",
    )
    section.table(
        ["quantity", "GFLOP/s", "share of the matmul peak"],
        [
            [f"matmul peak ({square}³, float32)", peak / 1e9, 1.0],
            ["one LSTM step's gate matmul alone, same shape", step / 1e9, step / peak],
            ["LSTM training, useful (real tokens)", useful / 1e9, useful / peak],
            [
                f"LSTM training, executed (with {padding:.1%} padding)",
                executed / 1e9,
                executed / peak,
            ],
        ],
    )
    return harness.Goal(
        "compute efficiency: LSTM training FLOP/s / matmul peak",
        useful / peak * 100,
        60.0,
        unit="%",
        note=f"{useful / 1e9:.1f} of {peak / 1e9:.1f} GFLOP/s; the step's gate "
        f"matmul alone reaches {step / peak:.0%}",
    )
