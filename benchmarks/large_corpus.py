"""Corpora larger than memory: a synthetic corpus of `--size-gb` GB is read through Arrow or in
blocks (data.streaming=always), its vocabulary learned from a seeded sample, its token ids cached
on disk, and a small LSTM trained for `--steps` steps in an order drawn from the whole file; then
the same model on a small in-memory corpus of the same generator.

`--task` picks the corpus and the model: classification (a TSV of texts and labels, a BiLSTM
classifier), translation (a TSV of source and target sentences, an LSTM encoder-decoder with
attention) or generation (running text, an LSTM language model over words).

Each run is a child process (`--child`) that reports its peak RSS (getrusage, and the parent's
RUSAGE_CHILDREN over it and its own children), the peaks of its RssAnon and RssFile (sampled
every 0.25 s from /proc/self/status, with the phase each peak was in), the time from its start
to the first training step, and tokens/s over the timed training steps (the real, unpadded
tokens of the batches: classification's texts, translation's source sentences, generation's
windows).

    python -m benchmarks.large_corpus --dir /tmp/large-corpus --size-gb 2 --steps 2000
    python -m benchmarks.large_corpus --task translation --dir /tmp/large-pairs --size-gb 2
    python -m benchmarks.large_corpus --task generation --dir /tmp/large-text --size-gb 2

The directory holds the corpus, the datasets cache (Arrow) and the run directories; it must not
be inside the project.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.corpora import _word

NUM_PHRASES = 200_000
PHRASE_WORDS = (2, 7)
NUM_CUES = 24
FILLER_VOCABULARY = 20_000

SPLITS = "split_fractions: {{train: 0.998, validation: 0.001, test: 0.001}}"
TRAIN = (
    "train: {{batch_size: 64, epochs: {epochs}, learning_rate: 0.002, verbose: 0, "
    "shuffle_buffer: 10000{buckets}}}\n"
)
BUCKETS = ", num_buckets: 4"
WORDS = "  - {{type: whitespace_tokenizer}}\n  - {{type: vocabulary, max_size: 20000}}\n"
# A decoder's or a language model's softmax costs in proportion to the vocabulary, so their
# large and small runs take a size both corpora fill (the small one has about 17,000 words):
# the same model on both.
OUTPUT_WORDS = WORDS.replace("20000", "16000")
PIPELINES = {
    "classification": (
        "name: large-corpus\ntask: classification\nseed: 1337\n"
        "data: {{source: files, path: {path}, streaming: {streaming}, " + SPLITS + "}}\n"
        "stages:\n" + WORDS + "  - {{type: sequence_packer, sequence_length: 64}}\n"
        "model: {{type: lstm_text_classifier, embedding_dim: 64, hidden_dim: 64, dropout: 0.0}}\n"
        + TRAIN.replace("{buckets}", BUCKETS)
    ),
    "translation": (
        "name: large-corpus-translation\ntask: translation\nseed: 1337\n"
        "data: {{source: files, path: {path}, streaming: {streaming}, source_column: source, "
        "target_column: target, max_source_tokens: 64, max_target_tokens: 64, " + SPLITS + "}}\n"
        "stages:\n"
        + OUTPUT_WORDS
        + "model: {{type: lstm_seq2seq, embedding_dim: 64, hidden_dim: 64, encoder_layers: 1, "
        "decoder_layers: 1, attention: luong, dropout: 0.0}}\n"
        + TRAIN.replace("{buckets}", BUCKETS)
    ),
    "generation": (
        "name: large-corpus-generation\ntask: generation\nseed: 1337\n"
        "data: {{source: files, path: {path}, streaming: {streaming}, window_length: 64, "
        "stateful_batches: false, " + SPLITS + "}}\n"
        "stages:\n"
        + OUTPUT_WORDS
        + "model: {{type: lstm_causal_lm, embedding_dim: 64, hidden_dim: 64, num_layers: 1, "
        "dropout: 0.0}}\n" + TRAIN.replace("{buckets}", "")
    ),
}
SUFFIX = {"classification": ".tsv", "translation": ".tsv", "generation": ".txt"}


def write_corpus(path, size_bytes, seed, task="classification"):
    """A corpus of about `size_bytes` for `task`, from a fixed pool of phrases of Zipf-distributed
    filler words (so that writing 2 GB takes about a minute). classification: a TSV (text,
    label), each line 3-8 phrases and a cue word, 90% of the cues from the line's class;
    translation: a TSV (source, target) of 1-3 phrases and their word-by-word "translation"
    (each word marked, the order reversed); generation: lines of 3-8 phrases."""
    rng = np.random.default_rng(seed)
    phrases = []
    for _ in range(NUM_PHRASES):
        n = rng.integers(*PHRASE_WORDS)
        phrases.append(
            " ".join("w" + _word(int(i)) for i in (rng.zipf(1.3, n) - 1) % FILLER_VOCABULARY)
        )
    cues = [
        [f"neg{_word(i)}" for i in range(NUM_CUES)],
        [f"pos{_word(i)}" for i in range(NUM_CUES)],
    ]
    written, lines = 0, 0
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(
            {
                "classification": "text\tlabel\n",
                "translation": "source\ttarget\n",
                "generation": "",
            }[task]
        )
        while written < size_bytes:
            n = 100_000
            labels = rng.integers(0, 2, n)
            counts = rng.integers(*((1, 4) if task == "translation" else (3, 9)), n)
            picks = rng.integers(0, NUM_PHRASES, counts.sum())
            cue_class = np.where(rng.random(n) < 0.9, labels, 1 - labels)
            cue_ids = rng.integers(0, NUM_CUES, n)
            rows, start = [], 0
            if task != "classification":
                rows = _rows(task, phrases, picks, counts)
            for i in range(n if task == "classification" else 0):
                parts = [phrases[j] for j in picks[start : start + counts[i]]]
                start += counts[i]
                parts.insert(int(cue_ids[i]) % len(parts), cues[cue_class[i]][cue_ids[i]])
                rows.append(f"{' '.join(parts)}\t{'positive' if labels[i] else 'negative'}\n")
            block = "".join(rows)
            handle.write(block)
            written += len(block)
            lines += n
    return lines


def _rows(task, phrases, picks, counts):
    """The lines of a translation or generation block (see `write_corpus`)."""
    rows, start = [], 0
    for count in counts:
        words = " ".join(phrases[j] for j in picks[start : start + count])
        start += count
        if task == "translation":
            target = " ".join("x" + word for word in reversed(words.split()))
            rows.append(f"{words}\t{target}\n")
        else:
            rows.append(words + "\n")
    return rows


class StepTimer:
    """A Keras callback: the time of the first training step, the summed duration of the
    training steps after the first `warmup` ones, and a stop after `steps` steps."""

    def __init__(self, steps, warmup=20):
        import keras

        class Callback(keras.callbacks.Callback):
            def on_train_batch_begin(inner, batch, logs=None):
                self.begin = time.perf_counter()
                if self.first_step is None:
                    self.first_step = time.time()

            def on_train_batch_end(inner, batch, logs=None):
                self.done += 1
                if self.done > warmup:
                    self.seconds += time.perf_counter() - self.begin
                    self.timed += 1
                if self.done >= steps:
                    inner.model.stop_training = True

        self.callback = Callback()
        self.first_step, self.done, self.timed, self.seconds, self.begin = None, 0, 0, 0.0, 0.0


class MemorySampler:
    """The largest RssAnon and RssFile of /proc/self/status, sampled every `interval` seconds by
    a thread (the kernel keeps only the peak of their sum, VmHWM), and the phase each was in."""

    def __init__(self, interval=0.25):
        import threading

        self.peaks = {"RssAnon": (0, None), "RssFile": (0, None)}
        self.phase, self.interval = "start", interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped.wait(self.interval):
            self.sample()

    def sample(self):
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key in self.peaks and int(value.split()[0]) > self.peaks[key][0]:
                    self.peaks[key] = (int(value.split()[0]), self.phase)

    def stop(self):
        self.stopped.set()
        self.thread.join()
        self.sample()
        return {
            f"peak_{key.lower()}_gib": round(kib / 2**20, 3) for key, (kib, _) in self.peaks.items()
        } | {f"peak_{key.lower()}_phase": phase for key, (_, phase) in self.peaks.items()}


def child(args):
    """One run in this process; prints one JSON line of figures."""
    started = time.time()
    memory = MemorySampler()
    from nlp_lstm.config.loading import load_config
    from nlp_lstm.pipeline import build_pipeline
    from nlp_lstm.training.trainers import Trainer

    run_dir = Path(args.dir) / f"run-{args.child}"
    yaml_path = Path(args.dir) / f"{args.child}.yaml"
    yaml_path.write_text(
        PIPELINES[args.task].format(path=args.corpus, streaming=args.streaming, epochs=args.epochs),
        encoding="utf-8",
    )
    config = load_config(yaml_path)
    task = build_pipeline(config).task
    run_dir.mkdir(parents=True, exist_ok=True)
    memory.phase = "read"
    task.read()
    read_done = time.time()
    memory.phase = "adapt"
    task.adapt()
    adapt_done = time.time()
    memory.phase = "train (token ids, steps)"
    task.build_model()
    timer = StepTimer(args.steps)
    Trainer(task).train(run_dir, extra_callbacks=[timer.callback])
    batch = config.train.batch_size
    if args.task == "generation":  # every step is batch windows of window_length tokens
        lengths = None
        tokens_per_step = float(config.data.window_length * batch)
    else:
        # Real tokens per step: the mean train (translation: source) length times the batch size
        # (batches are bucketed by length, so a step's rows are of similar length; partial
        # batches are few).
        lengths = task.train_lengths()
        tokens_per_step = float(np.mean(lengths)) * batch
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peaks = memory.stop()
    print(
        "RESULT "
        + json.dumps(
            {
                "run": args.child,
                "streamed": bool(getattr(task.data, "streamed", False)),
                "task": args.task,
                "tokens_per_step": tokens_per_step,
                "train_examples": None if lengths is None else int(len(lengths)),
                "counts": task.data.counts(),
                "vocabulary_size": task.preprocessor.vocabulary.vocabulary_size,
                "target_vocabulary_size": task.target_preprocessor.vocabulary.vocabulary_size
                if args.task == "translation"
                else None,
                "read_s": round(read_done - started, 1),
                "adapt_s": round(adapt_done - read_done, 1),
                "start_to_first_step_s": round(timer.first_step - started, 1),
                "steps": timer.done,
                "timed_steps": timer.timed,
                "tokens_per_s": round(tokens_per_step * timer.timed / timer.seconds),
                "peak_rss_gib_self": round(usage.ru_maxrss / 2**20, 3),
                **peaks,
            }
        ),
        flush=True,
    )


def run_child(args, name, corpus, streaming, epochs):
    command = [
        sys.executable,
        "-m",
        "benchmarks.large_corpus",
        "--child",
        name,
        "--dir",
        args.dir,
        "--corpus",
        str(corpus),
        "--streaming",
        streaming,
        "--steps",
        str(args.steps),
        "--epochs",
        str(epochs),
        "--task",
        args.task,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.time()
    output = subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_DATASETS_CACHE": str(Path(args.dir) / "hf")},
    )
    result = json.loads(
        [line for line in output.stdout.splitlines() if line.startswith("RESULT ")][-1][
            len("RESULT ") :
        ]
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result["peak_rss_gib_children"] = round(max(after, before) / 2**20, 3)
    result["wall_s"] = round(time.time() - started, 1)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True, help="work directory (outside the project)")
    parser.add_argument("--task", choices=sorted(PIPELINES), default="classification")
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--small-lines", type=int, default=50_000)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--child"), parser.add_argument("--corpus")
    parser.add_argument("--streaming", default="always")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    if args.child:
        return child(args)
    work = Path(args.dir).resolve()
    if Path(__file__).resolve().parents[1] in [work, *work.parents]:
        sys.exit(f"--dir {work} is inside the project; give a directory such as /tmp/large-corpus.")
    work.mkdir(parents=True, exist_ok=True)
    results = {"size_gb": args.size_gb, "steps": args.steps}
    suffix = SUFFIX[args.task]
    large, small = work / f"large{suffix}", work / f"small{suffix}"
    if not large.exists() or large.stat().st_size < args.size_gb * 1e9:
        started = time.time()
        results["large_lines"] = write_corpus(
            large, int(args.size_gb * 1e9), seed=1, task=args.task
        )
        results["write_large_s"] = round(time.time() - started, 1)
    results["large_bytes"] = large.stat().st_size
    if not small.exists():
        rng_lines = write_corpus(small, args.small_lines * 60, seed=2, task=args.task)
        results["small_lines"] = rng_lines
    results["large"] = run_child(args, "large", large, "always", 1)
    print(json.dumps(results["large"]), flush=True)
    # The small corpus repeats its epochs until the same number of steps.
    results["small"] = run_child(args, "small", small, "never", 40)
    ratio = results["large"]["tokens_per_s"] / results["small"]["tokens_per_s"]
    results["tokens_per_s_ratio_large_over_small"] = round(ratio, 3)
    print(json.dumps(results, indent=1))
    (work / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
