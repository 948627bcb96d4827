"""Generation speed: the exported SavedModel against the Keras character-LSTM example's naive loop,
400 characters at batch 1.

One character model is trained briefly and exported; generation speed does not depend on how
long it trained. Ours is the SavedModel's `generate` signature (the LSTM states carried from one
character to the next inside the graph); the peer (`benchmarks.peers.naive_generation`) reloads
the same trained Keras model and re-runs the window of the last 40 characters with
`model.predict` for every new character. Both start from the same 40-character prompt and sample
at temperature 0.8, in rounds that alternate A B A B after a warm-up round.
"""

from pathlib import Path

import tensorflow as tf

from benchmarks import harness
from benchmarks.peers import naive_generation
from nlp_lstm.config.loading import load_config
from nlp_lstm.export.saved_model import load_export
from nlp_lstm.pipeline import build_pipeline, load_run

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
NEW_CHARACTERS = 400
# Quick mode: the naive loop makes one `model.predict` call per character, so it generates
# fewer of them; characters per second are computed the same way.
QUICK_PEER_CHARACTERS = 40
WARMUP_CHARACTERS = 8
WINDOW = 40  # the Keras example's window, and the prompt length
TEMPERATURE = 0.8
# Full mode trains on the first 300,000 characters for one epoch (about half a minute here).
TRAIN_CHARACTERS = 300_000
BRIEF_TRAINING = [
    "steps=[train, export]",
    "train.epochs=1",
    "train.verbose=0",
    "export.verify=false",
]


def trained_config(context):
    """(config, what it trains, in words) for this invocation."""
    if context.quick:
        overrides = BRIEF_TRAINING + [
            "data.max_examples=20000",
            "model.embedding_dim=32",
            "model.hidden_dim=64",
        ]
        return (
            load_config(PIPELINES / "quickstart_generate.yaml", overrides),
            "quick mode: the play sample of the generation quickstart with a tiny model, one "
            "epoch on its first 20,000 characters",
        )
    overrides = BRIEF_TRAINING + [f"data.max_examples={TRAIN_CHARACTERS}"]
    if context.data_path("tinyshakespeare", "input.txt") is None:
        return (
            load_config(
                PIPELINES / "shakespeare_char.yaml",
                overrides + ["data.source=sample", "data.sample=play", "data.path=null"],
            ),
            "**tiny-shakespeare is absent from the data root**, so the model of "
            "`pipelines/shakespeare_char.yaml` trains on the play sample shipped in the "
            "package instead, for one epoch",
        )
    return (
        load_config(PIPELINES / "shakespeare_char.yaml", overrides, data_dir=context.data_dir),
        f"the tiny-shakespeare model of `pipelines/shakespeare_char.yaml`, trained for one "
        f"epoch on the first {TRAIN_CHARACTERS:,} characters",
    )


def train_and_export(context):
    """(config, the trained task, its RunResult, what it trains in words)."""
    config, trained = trained_config(context)
    context.log(f"generation: training {config.name} briefly and exporting it")
    pipeline = build_pipeline(config)
    result = pipeline.run(run_dir=Path(context.work_dir) / "generation", overwrite=True)
    return config, pipeline.task, result, trained


def compare(generate, peer, prompt, peer_characters, repeats):
    """Alternates the two generators; returns {name: characters per second of the measured
    rounds}. The warm-up round generates a few characters: enough to build everything once."""

    def ours(index):
        characters = WARMUP_CHARACTERS if index == 0 else NEW_CHARACTERS
        with harness.Stopwatch() as watch:
            out = generate(
                prompt=tf.constant([prompt]),
                max_new_tokens=tf.constant(characters),
                temperature=tf.constant(TEMPERATURE),
                top_k=tf.constant(0),
                top_p=tf.constant(1.0),
                seed=tf.constant(index, tf.int64),
            )
            out["text"].numpy()
        return characters / watch.seconds

    def naive(index):
        characters = WARMUP_CHARACTERS if index == 0 else peer_characters
        with harness.Stopwatch() as watch:
            peer.generate(prompt, characters, TEMPERATURE, seed=index)
        return characters / watch.seconds

    return harness.alternate({"ours": ours, "peer": naive}, repeats)


def run(context):
    section = harness.Section(title="Generation: exported SavedModel against the naive window loop")
    peer_characters = QUICK_PEER_CHARACTERS if context.quick else NEW_CHARACTERS
    config, task, result, trained = train_and_export(context)
    # The Keras example seeds with a window-long slice of the text; the validation split's
    # start is text the model did not train on.
    prompt = task.data.splits["validation"][:WINDOW]
    generate = load_export(result.run_dir).signatures["generate"]
    peer = naive_generation.NaiveWindowGenerator(
        load_run(result.run_dir, with_data=False).task, WINDOW
    )
    context.log(
        f"generation: {NEW_CHARACTERS} (ours) and {peer_characters} (peer) "
        f"characters, measured rounds: {context.repeats}"
    )
    rates = compare(generate, peer, prompt, peer_characters, context.repeats)
    ours_rate, peer_rate = harness.median(rates["ours"]), harness.median(rates["peer"])
    timings = result.manifest["timings_s"]
    counts = result.manifest["data"]["counts"]
    section.text(
        f"Model: {trained}: {harness.describe_model(config.model)}, "
        f"{result.manifest['num_parameters']:,} parameters, a vocabulary of "
        f"{task.preprocessor.vocabulary.vocabulary_size} ids (training {timings['train']:.0f} s, "
        f"export {timings['export']:.0f} s; train/validation characters "
        f"{counts['train']:,}/{counts['validation']:,}). Generation speed does not depend on how "
        f"long the model trained.",
        "",
        f"Batch 1, temperature {TEMPERATURE}, the first {WINDOW} validation characters as the "
        f"prompt, a new seed each round; {context.repeats} measured "
        f"round{'s' if context.repeats != 1 else ''} per contender after a warm-up round of "
        f"{WARMUP_CHARACTERS} characters, alternating. **Ours**: the SavedModel's `generate` "
        f"signature, {NEW_CHARACTERS} characters per round. **Peer**: the same trained Keras "
        f"model, the last {WINDOW} characters re-run with `model.predict` for every new "
        f"character and sampled in NumPy, {peer_characters} characters per round"
        + (
            " (fewer in quick mode; characters per second are computed the same way)."
            if peer_characters != NEW_CHARACTERS
            else "."
        ),
        "",
    )
    section.table(
        [
            "generation (batch 1)",
            "ours (characters/s, median)",
            "peer (characters/s, median)",
            "ratio",
        ],
        [[f"{NEW_CHARACTERS} characters", ours_rate, peer_rate, ours_rate / peer_rate]],
    )
    section.text(
        "Rounds (characters/s): ours "
        + ", ".join(map(harness.fmt, rates["ours"]))
        + "; peer "
        + ", ".join(map(harness.fmt, rates["peer"]))
        + ".",
        "",
    )
    section.goals = [
        harness.Goal(
            "generation, 400 characters: export / naive window loop",
            ours_rate / peer_rate,
            150.0,
            note="quick mode: tiny model" if context.quick else "",
        )
    ]
    return section
