"""Classification training speed: nlp_lstm against the Keras example and PyTorch, plus serving,
compute efficiency and peak memory.

Every system trains the same model size (embedding, one bidirectional LSTM layer, the final
states of both directions, dropout, a softmax layer) with Adam, gradient clipping and the same
batch size, on the same token ids (nlp_lstm's stages tokenize the texts once; the peers get the
ids for free). Each system runs in a process of its own, and epochs alternate between them
(ours, Keras, PyTorch, ours, Keras, PyTorch, ...), so all share the machine's state alike.
Throughput counts real (non-padding) tokens; the first epoch of each system includes graph
tracing and is not counted.
"""

import dataclasses
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from benchmarks import corpora, flops, harness, workers
from benchmarks.peers import keras_example, torch_lstm

REPO = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Size:
    embedding_dim: int
    hidden_dim: int
    batch_size: int
    epochs: int  # the first is a warm-up and not timed
    synthetic: dict  # examples per split
    serving_calls: int
    dropout: float = 0.2
    learning_rate: float = 2e-3
    clipnorm: float = 1.0


FULL = Size(
    embedding_dim=128,
    hidden_dim=128,
    batch_size=64,
    epochs=4,
    synthetic={"train": 8000, "validation": 1000, "test": 1000},
    serving_calls=400,
)
QUICK = Size(
    embedding_dim=32,
    hidden_dim=32,
    batch_size=32,
    epochs=2,
    synthetic={"train": 600, "validation": 100, "test": 100},
    serving_calls=60,
)


def pipeline_config(data, size, name, **train):
    """The nlp_lstm classification config the benchmark trains (word stages, no truncation)."""
    return {
        "name": name,
        "task": "classification",
        "seed": 1337,
        "steps": ["train", "export"],
        "data": data,
        "stages": [
            {"type": "text_normalizer", "form": "NFKC", "lowercase": True},
            {"type": "unicode_script_tokenizer"},
            {"type": "vocabulary", "max_size": 20000, "min_frequency": 1},
            {"type": "sequence_packer", "sequence_length": "p100"},
        ],
        "model": {
            "type": "lstm_text_classifier",
            "embedding_dim": size.embedding_dim,
            "hidden_dim": size.hidden_dim,
            "num_layers": 1,
            "bidirectional": True,
            "pooling": "last",
            "dropout": size.dropout,
        },
        "train": {
            "batch_size": size.batch_size,
            "epochs": size.epochs,
            "learning_rate": size.learning_rate,
            "clipnorm": size.clipnorm,
            "verbose": 0,
            **train,
        },
        "export": {"verify": False},
    }


class Ours:
    """nlp_lstm: the pipeline's own tf.data input (length buckets, right padding) and model.

    Args:
        raw_config: dict. The pipeline config (`pipeline_config`).
        ids_path: str. Where to write the train and test token ids for the peers.
    """

    name = "nlp_lstm (tf.data length buckets, right padding)"

    def __init__(self, raw_config, ids_path):
        import keras

        from nlp_lstm.config.loading import config_from_dict
        from nlp_lstm.data import inputs
        from nlp_lstm.pipeline import build_pipeline
        from nlp_lstm.training import fit as training

        self.task = build_pipeline(config_from_dict(raw_config)).task
        keras.utils.set_random_seed(self.task.config.seed)
        self.task.read()
        self.task.adapt()
        self.model = self.task.build_model()
        self.counter = inputs.PaddingCounter()
        self.dataset = self.task.datasets("train", True, self.counter)
        self.model.compile(
            optimizer=training.build_optimizer(self.task.config.train, self.task.steps_per_epoch()),
            **self.task.compile_arguments(),
        )
        corpora.save_ids(ids_path, {split: self._ids(split) for split in ("train", "test")})

    def _ids(self, split):
        from nlp_lstm.data import inputs

        pairs = list(
            inputs.trimmed_ids(
                self.task.data.to_tf(split), self.task.preprocessor
            ).as_numpy_iterator()
        )
        return [ids for ids, _ in pairs], [label for _, label in pairs]

    def fit_epoch(self):
        self.counter.reset()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            self.model.fit(self.dataset, epochs=1, verbose=0, shuffle=False)
        return time.perf_counter() - start

    def accuracy(self):
        truth, probabilities = self.task.predict_split("test")
        return float(np.mean(np.argmax(probabilities, -1) == truth))

    def count_params(self):
        return int(self.model.count_params())

    def padding_share(self):
        return self.counter.share()

    def steps_per_epoch(self):
        return self.task.steps_per_epoch()

    def _gradient_step(self):
        """A tf.function (ids, labels) -> the gradients of the training loss (no update)."""
        import keras
        import tensorflow as tf

        @tf.function
        def gradients(ids, labels):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(
                    keras.losses.sparse_categorical_crossentropy(
                        labels, self.model(ids, training=True)
                    )
                )
            return tape.gradient(loss, self.model.trainable_variables)

        return gradients

    def step_profile(self, batch_size, length):
        """Milliseconds for one batch of `batch_size` texts of `length` real tokens: the
        forward pass, and the forward and backward passes (gradients, no optimizer update)."""
        import keras
        import tensorflow as tf

        rng = np.random.default_rng(0)
        ids = tf.constant(rng.integers(2, self.vocabulary_size(), (batch_size, length)), tf.int64)
        labels = tf.constant(rng.integers(0, 2, batch_size), tf.int64)
        forward = tf.function(
            lambda: tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(labels, self.model(ids, training=True))
            )
        )
        backward = self._gradient_step()
        return (
            harness.best_ms(lambda: forward().numpy()),
            harness.best_ms(
                lambda: [
                    t.numpy()
                    for t in tf.nest.flatten(backward(ids, labels), expand_composites=True)
                ]
            ),
        )

    def recurrent_kernels(self):
        """The recurrent op types in the traced training step: `CudnnRNNV3` where the cuDNN
        kernel runs, a `While` loop where the generic kernel does (Keras falls back silently)."""
        ids, labels = next(iter(self.dataset))
        graph = self._gradient_step().get_concrete_function(ids, labels).graph.as_graph_def()
        ops = {node.op for node in graph.node}
        ops.update(node.op for function in graph.library.function for node in function.node_def)
        return sorted(op for op in ops if op.startswith("CudnnRNN") or op.endswith("While"))

    def tokenize_seconds(self):
        """Seconds for one pass of the train texts through the preprocessor (what the cache
        saves)."""
        from nlp_lstm.data import inputs

        start = time.perf_counter()
        for _ in inputs.trimmed_ids(self.task.data.to_tf("train"), self.task.preprocessor):
            pass
        return time.perf_counter() - start

    def vocabulary_size(self):
        return self.task.preprocessor.vocabulary.vocabulary_size

    def test_texts(self):
        return list(self.task.data.splits["test"]["text"])

    def export(self, run_dir):
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        self.task.export(run_dir)
        return str(Path(run_dir) / "export")


PEERS = {
    "keras": (
        "benchmarks.peers.keras_example:KerasExampleClassifier",
        keras_example.KerasExampleClassifier.name,
    ),
    "torch": (
        "benchmarks.peers.torch_lstm:TorchPackedClassifier",
        torch_lstm.TorchPackedClassifier.name,
    ),
}


def peer_arguments(ours, ids_path, size):
    """The constructor arguments of a classification peer: ours' sizes and token ids."""
    return dict(
        ids_path=str(ids_path),
        vocabulary_size=ours.call("vocabulary_size"),
        num_classes=2,
        embedding_dim=size.embedding_dim,
        hidden_dim=size.hidden_dim,
        dropout=size.dropout,
        batch_size=size.batch_size,
        learning_rate=size.learning_rate,
        clipnorm=size.clipnorm,
    )


def compare_training(context, section, corpus_name, ours, ids_path, size):
    """Trains ours (a Worker) and each peer for `size.epochs` alternating epochs, each system in
    a process of its own; adds the table. Returns (tokens/s medians, test accuracies, ours'
    timed epoch seconds, real tokens per epoch, ours' padding share)."""
    ours.wait_ready()  # it writes the ids the peers read
    splits = corpora.load_ids(ids_path)
    train_ids, test_labels = splits["train"][0], splits["test"][1]
    real_tokens = int(sum(len(s) for s in train_ids))
    maxlen = max(len(s) for s in train_ids)
    common = peer_arguments(ours, ids_path, size)
    systems, names = {"ours": ours}, {"ours": Ours.name}
    peers = {"keras": dict(common, maxlen=maxlen)}
    if torch_lstm.available():
        peers["torch"] = common
    else:
        section.text(f"*{torch_lstm.MISSING}*", "")
    try:
        for key, kwargs in peers.items():
            systems[key] = workers.Worker(PEERS[key][0], kwargs)
            names[key] = PEERS[key][1]
        padding = {"keras": 1 - real_tokens / (len(train_ids) * maxlen), "torch": 0.0}
        seconds = alternate_epochs(context, systems, size.epochs)
        padding["ours"] = ours.call("padding_share")
        accuracy = {name: system.call("accuracy") for name, system in systems.items()}
        params = {name: system.call("count_params") for name, system in systems.items()}
    finally:
        for name, system in systems.items():
            if name != "ours":
                system.close()
    rates = {
        name: harness.median([real_tokens / s for s in values[1:]])
        for name, values in seconds.items()
    }
    section.text(
        f"**{corpus_name}**: {len(train_ids):,} training texts, {real_tokens:,} real "
        f"tokens per epoch, longest {maxlen}; test accuracy after {size.epochs} epochs "
        f"on {len(test_labels):,} texts. Tokens/s is the median over epochs "
        f"2–{size.epochs}.",
        "",
    )
    section.table(
        [
            "system",
            "parameters",
            "real tokens/s",
            "ours / system",
            "padding computed",
            "test accuracy",
            "epoch seconds",
        ],
        [
            [
                names[name],
                params[name],
                rates[name],
                rates["ours"] / rates[name],
                f"{padding[name]:.1%}",
                accuracy[name],
                ", ".join(f"{s:.2f}" for s in seconds[name]),
            ]
            for name in systems
        ],
    )
    return rates, accuracy, seconds["ours"][1:], real_tokens, padding["ours"]


def step_profile(section, ours, ids_path, size, matmuls):
    """Ours against PyTorch on one batch of the corpus' mean length: where the time goes."""
    ours.wait_ready()  # it writes the ids
    splits = corpora.load_ids(ids_path)
    length = max(int(round(np.mean([len(s) for s in splits["train"][0]]))), 1)
    common = peer_arguments(ours, ids_path, size)
    with workers.Worker(PEERS["torch"][0], common) as torch_peer:
        timings = {
            "ours": ours.call("step_profile", size.batch_size, length),
            "torch": torch_peer.call("step_profile", size.batch_size, length),
        }
    gate = matmuls.gate
    forward_flops = flops.lstm_training_flops(size.embedding_dim, size.hidden_dim) / 3
    floor = forward_flops * size.batch_size * length / gate * 1000
    rows = [
        [name, forward, total, total - forward, (total - forward) / forward]
        for name, (forward, total) in (("ours", timings["ours"]), ("PyTorch", timings["torch"]))
    ]
    rows.append(
        [
            "gate matmuls alone at this shape (FLOP count / measured rate)",
            floor,
            3 * floor,
            2 * floor,
            2.0,
        ]
    )
    section.text(
        f"**Profile** of one training batch, {size.batch_size} texts of {length} real "
        f"tokens (the mean length), best of 3 rounds of 10, each system in its own "
        f"process: the forward pass, then forward and backward (gradients, no "
        f"optimizer step). The last row is the floor that the gate matmuls alone set at "
        f"{gate / 1e9:.0f} GFLOP/s ({gate / matmuls.square:.0%} of the square-matmul "
        f"peak), the rate this run measured for their shape.",
        "",
    )
    section.table(
        [
            "system",
            "forward (ms)",
            "forward + backward (ms)",
            "backward (ms)",
            "backward / forward",
        ],
        rows,
    )


def alternate_epochs(context, systems, epochs):
    """Runs one epoch of each system in turn, `epochs` rounds; returns {name: [seconds]}."""
    seconds = {name: [] for name in systems}
    for epoch in range(epochs):
        for name, system in systems.items():
            seconds[name].append(system.call("fit_epoch"))
        context.log(
            f"  epoch {epoch + 1}: " + ", ".join(f"{n} {s[-1]:.1f} s" for n, s in seconds.items())
        )
    return seconds


LEVERS = [  # (name, train overrides)
    ("one batch padded to its longest row (`train.bucketing: false`)", {"bucketing": False}),
    ("8 length buckets (the default)", {}),
    ("16 length buckets (`train.num_buckets: 16`)", {"num_buckets": 16}),
    (
        "16 buckets, token budget of 8,192 per batch (`train.batch_tokens: 8192`)",
        {"num_buckets": 16, "batch_tokens": 8192},
    ),
    ("8 buckets, `train.precision: mixed_bfloat16`", {"precision": "mixed_bfloat16"}),
]


def levers(context, section, data, ids_path, size, matmuls):
    """Ours alone under each input or precision setting, epochs alternating between them."""
    epochs = 2 if context.quick else 3
    splits = corpora.load_ids(ids_path)
    real_tokens = int(sum(len(s) for s in splits["train"][0]))
    systems = {}
    try:
        for index, (name, overrides) in enumerate(LEVERS):
            context.log(f"  lever: {name}")
            systems[name] = workers.Worker(
                "benchmarks.classification:Ours",
                {
                    "raw_config": pipeline_config(data, size, f"bench-lever-{index}", **overrides),
                    "ids_path": str(Path(context.work_dir) / f"lever_{index}_ids.npz"),
                },
            )
        seconds = alternate_epochs(context, systems, epochs)
        rows = []
        for name, system in systems.items():
            rate = harness.median([real_tokens / s for s in seconds[name][1:]])
            rows.append(
                [
                    name,
                    system.call("steps_per_epoch"),
                    rate,
                    f"{system.call('padding_share'):.1%}",
                    system.call("accuracy"),
                    ", ".join(f"{s:.2f}" for s in seconds[name]),
                ]
            )
        tokenize = systems[LEVERS[1][0]].call("tokenize_seconds")
    finally:
        for system in systems.values():
            system.close()
    default_rate = rows[1][2]
    per_token = flops.lstm_training_flops(size.embedding_dim, size.hidden_dim)
    for row in rows:
        row[3:3] = [row[2] / default_rate, f"{row[2] * per_token / matmuls.square:.1%}"]
    section.text(
        f"**Levers**, measured on the long-tailed corpus with the same model: ours "
        f"alone under each setting, epochs alternating between the settings, tokens/s "
        f"the median over epochs 2–{epochs}, test accuracy after {epochs} epochs.",
        "",
    )
    section.table(
        [
            "setting",
            "batches per epoch",
            "real tokens/s",
            "vs default",
            "useful FLOP/s of the matmul peak",
            "padding computed",
            "test accuracy",
            "epoch seconds",
        ],
        rows,
    )
    section.text(
        f"Tokenizing the train split (normalize, split, look up ids, in the graph) "
        f"takes {tokenize:.2f} s; the input pipeline caches the ids after the first "
        f"epoch, so later epochs skip it (an epoch of the default setting took "
        f"{harness.median(seconds[LEVERS[1][0]][1:]):.2f} s).",
        "",
    )


def serving(context, section, export_dir, texts, size):
    """Batch-1 latency and batch-256 throughput of an exported classifier, loaded here."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the ops the export needs)

    classify = tf.saved_model.load(export_dir).signatures["serving_default"]
    for text in texts[:10]:
        classify(text=tf.constant([text]))
    latencies = []
    for index in range(size.serving_calls):
        text = tf.constant([texts[index % len(texts)]])
        start = time.perf_counter()
        classify(text=text)["label"].numpy()
        latencies.append((time.perf_counter() - start) * 1000)
    batch = tf.constant([texts[i % len(texts)] for i in range(256)])
    classify(text=batch)
    rates = []
    for _ in range(max(context.repeats, 2)):
        start = time.perf_counter()
        classify(text=batch)["label"].numpy()
        rates.append(256 / (time.perf_counter() - start))
    p50, p99 = harness.percentile(latencies, 50), harness.percentile(latencies, 99)
    section.text(
        "The exported classifier of the long-tailed run (raw strings in, labels out; "
        "tokenization inside the graph), one caller, texts from its test split:",
        "",
    )
    section.table(
        ["batch", "calls", "p50 latency (ms)", "p99 latency (ms)", "texts/s (median)"],
        [
            [1, size.serving_calls, p50, p99, 1000 / p50],
            [256, len(rates), 256000 / harness.median(rates), None, harness.median(rates)],
        ],
    )
    return p50, p99


def peak_memory(context, section):
    """Runs the MR pipeline (or, without a data root, the quickstart for one epoch) in a child
    process and reads that child's peak resident set size from the kernel."""
    if context.data_path("mr_polarity"):
        label = "the MR pipeline (`nlp-lstm run pipelines/mr_bilstm.yaml`)"
        args = [
            "pipelines/mr_bilstm.yaml",
            "--data-dir",
            str(context.data_dir),
            "--set",
            "train.verbose=0",
        ]
    else:
        label = "the classification quickstart, one epoch (no data root: MR not available)"
        args = [
            "pipelines/quickstart_classify.yaml",
            "--set",
            "train.epochs=1",
            "--set",
            "train.verbose=0",
            "--set",
            "steps=[train]",
        ]
    run_dir = Path(context.work_dir) / "peak-memory-run"
    command = [
        sys.executable,
        "-m",
        "nlp_lstm.cli",
        "run",
        *args,
        "--run-dir",
        str(run_dir),
        "--overwrite",
    ]
    start = time.perf_counter()
    child = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    output = child.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if child.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({child.returncode}):\n{output[-3000:]}")
    rss = usage.ru_maxrss / 1024
    accuracy = next(
        (
            line.split("accuracy=")[1].split()[0].rstrip(",")
            for line in output.splitlines()
            if line.startswith("test:") and "accuracy=" in line
        ),
        None,
    )
    section.text(
        f"Peak resident memory of {label}, the whole child process (TensorFlow "
        f"included), from `wait4`:",
        "",
    )
    section.table(
        ["run", "peak RSS (MiB)", "wall time (s)", "test accuracy"],
        [[" ".join(args[:1]), rss, wall, accuracy]],
    )
    return rss


def run(context):
    size = QUICK if context.quick else FULL
    section = harness.Section("Classification: training speed, compute efficiency, serving, memory")
    work = Path(context.work_dir) / "classification"
    paths, _ = corpora.write_long_tailed(work / "long_tailed", size.synthetic)
    runs = [
        (
            "long_tailed",
            "long-tailed synthetic corpus (lognormal lengths, median 40, max 400)",
            corpora.long_tailed_data_config(paths),
        )
    ]
    if context.data_path("mr_polarity"):
        runs.append(
            (
                "mr",
                "MR sentence polarity (data root, 80/10/10 split)",
                corpora.mr_data_config(context.data_dir),
            )
        )
    else:
        section.text("*MR was not run: no data root with `mr_polarity/` was given.*", "")
    matmuls = flops.matmul_rates(context, size)
    goals = []
    for key, title, data in runs:
        context.log(f"classification: {title}")
        ids_path = work / f"{key}_ids.npz"
        with workers.Worker(
            "benchmarks.classification:Ours",
            {"raw_config": pipeline_config(data, size, f"bench-{key}"), "ids_path": str(ids_path)},
        ) as ours:
            rates, accuracy, ours_seconds, real_tokens, padding = compare_training(
                context, section, title, ours, ids_path, size
            )
            if "torch" in rates:
                step_profile(section, ours, ids_path, size, matmuls)
            if key == "long_tailed":
                kernels = ours.call("recurrent_kernels")
                cudnn = any("Cudnn" in op for op in kernels)
                section.text(
                    f"Recurrent ops in ours' traced training step: "
                    f"{', '.join(f'`{op}`' for op in kernels)} ("
                    f"{'the cuDNN kernel' if cudnn else 'the generic loop: no GPU'}).",
                    "",
                )
                export_dir = ours.call("export", str(work / "serving-run"))
                texts = ours.call("test_texts")
                efficiency = (padding, ours_seconds, real_tokens)
        if key == "long_tailed":
            levers(context, section, data, ids_path, size, matmuls)
        label = {"long_tailed": "long-tailed corpus", "mr": "MR"}[key]
        if key == "long_tailed":
            goals.append(
                _ratio_goal(
                    f"classification training, {label}: ours / Keras example",
                    rates,
                    accuracy,
                    "keras",
                    3.0,
                )
            )
        goals.append(
            _ratio_goal(
                f"classification training, {label}: ours / PyTorch packed",
                rates,
                accuracy,
                "torch",
                1.5,
            )
        )
    goals.append(flops.efficiency(context, section, *efficiency, size, matmuls))
    p50, p99 = serving(context, section, export_dir, texts, size)
    goals.append(
        harness.Goal(
            "serving: exported classifier, batch 1, p50 latency",
            p50,
            5.0,
            unit=" ms",
            higher_is_better=False,
            note=f"p99 {p99:.2f} ms",
        )
    )
    goals.append(
        harness.Goal(
            "peak RSS of the MR training run", peak_memory(context, section), None, unit=" MiB"
        )
    )
    section.goals = goals
    return section


def _ratio_goal(name, rates, accuracy, peer, target):
    if peer not in rates:
        return harness.Goal(name, None, target, note="PyTorch is not installed")
    note = f"test accuracy {accuracy['ours']:.3f} vs {accuracy[peer]:.3f}"
    if accuracy["ours"] < accuracy[peer]:
        note += " (ours lower)"
    return harness.Goal(name, rates["ours"] / rates[peer], target, note=note)
