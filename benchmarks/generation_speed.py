"""Characters per second for 400 generated characters: the exported SavedModel (states carried in
the graph) against the naive loop of the Keras character-LSTM example (a fixed window of the last
characters re-run through the model with `model.predict` for every new character).

    python benchmarks/generation_speed.py RUN_DIR [--tokens 400] [--window 40] [--repeats 2]

Both use the same trained model from RUN_DIR (a generation run); runs alternate A B A B and the
medians and their ratio are printed.
"""

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def exported_rate(model, tokens, seed):
    import tensorflow as tf
    start = time.perf_counter()
    out = model.signatures["generate"](
        prompt=tf.constant(["ROMEO:"]), max_new_tokens=tf.constant(tokens),
        temperature=tf.constant(0.8), top_k=tf.constant(0), top_p=tf.constant(1.0),
        seed=tf.constant(seed, tf.int64))
    elapsed = time.perf_counter() - start
    assert out["token_ids"].shape[1] == tokens
    return tokens / elapsed


def naive_rate(keras_model, prompt_ids, tokens, window, seed):
    import numpy as np
    rng = np.random.RandomState(seed)
    ids = list(prompt_ids)
    start = time.perf_counter()
    for _ in range(tokens):
        context = np.asarray(ids[-window:], dtype=np.int64)[None, :]
        logits = keras_model.predict(context, verbose=0)[0, -1] / 0.8
        probs = np.exp(logits - logits.max())
        ids.append(int(rng.choice(len(probs), p=probs / probs.sum())))
    return tokens / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--window", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import keras
    import tensorflow as tf
    from nlp_lstm.export import load_export
    from nlp_lstm.pipeline import load_run
    exported = load_export(args.run_dir)
    pipeline = load_run(args.run_dir, with_data=False)
    x = tf.constant(["ROMEO:"])
    for stage in pipeline.stages:
        x = stage(x)
    prompt_ids = x.numpy()[0].tolist()
    keras_model = pipeline.model
    exported_rate(exported, 8, 0)  # trace and warm up both paths once
    naive_rate(keras_model, prompt_ids, 2, args.window, 0)
    fast, slow = [], []
    for repeat in range(args.repeats):
        fast.append(exported_rate(exported, args.tokens, repeat))
        slow.append(naive_rate(keras_model, prompt_ids, args.tokens, args.window, repeat))
    fast_median, slow_median = statistics.median(fast), statistics.median(slow)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, TF {tf.__version__}, "
          f"Keras {keras.__version__}")
    print(f"run: {Path(args.run_dir).resolve()}")
    print("| method | characters per second (median) | runs |")
    print("|---|---|---|")
    print(f"| exported SavedModel, states carried in the graph | {fast_median:.1f} | "
          f"{', '.join(f'{v:.1f}' for v in fast)} |")
    print(f"| naive window of {args.window} re-run per character (`model.predict`) | "
          f"{slow_median:.1f} | {', '.join(f'{v:.1f}' for v in slow)} |")
    print(f"| ratio | {fast_median / slow_median:.1f}x | |")


if __name__ == "__main__":
    main()
