"""Translation decoding speed: the exported SavedModel against the TensorFlow NMT tutorial's
Python step loop, greedy and beam 4, in batches of 64 raw sentences.

One model is trained briefly and exported; decoding speed per step does not depend on how long
it trained. Ours is the SavedModel (raw strings in, the decoding loop in the graph); the peer
(`benchmarks.peers.python_decoding`) reloads the same trained Keras model and calls its decoder
eagerly from Python once per output step. Both decode the same sources with the same
`max_length`, strings in and strings out, in rounds that alternate A B A B after a warm-up round;
sentences per second are the medians of the measured rounds. The greedy and beam translations of
the two are compared string by string, as a check that they do the same work.
"""

from pathlib import Path

import tensorflow as tf

from benchmarks import flops, harness
from benchmarks.peers import python_decoding
from nlp_lstm.config.loading import load_config
from nlp_lstm.export.saved_model import load_export
from nlp_lstm.pipeline import Pipeline, load_run
from nlp_lstm.tasks.translation.task import TranslationTask

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
BATCH_SIZE = 64
BEAM_SIZE = 4
# Full mode: all 1,000 test2016 sources; quick mode: two batches.
NUM_SOURCES = 1000
QUICK_SOURCES = 128
# Full mode trains one epoch on the first 8,000 Multi30k pairs in batches of 32 (about a minute
# here; all 29,000 would take 200-320 s): enough updates for translations that depend on the
# source, where 4,000 pairs in batches of 64 gave one sentence for every input.
TRAIN_PAIRS = 8000
QUICK_TRAIN_PAIRS = 512
BRIEF_TRAINING = [
    "steps=[train, export]",
    "train.epochs=1",
    "train.batch_size=32",
    "train.verbose=0",
    "export.verify=false",
]


class BrieflyTrainedTranslation(TranslationTask):
    """The translation task, training on only the first `train_pairs` pairs of the train
    split. The stages still adapt on all of it, so the vocabularies, and with them the output
    layer that dominates a decoding step, have the size the full pipeline gives them.

    Args:
        config: PipelineConfig with task: translation.
        preprocessor: Preprocessor. The source side, as `TranslationTask.from_config` builds it.
        target_preprocessor: Preprocessor. The target side (the same object when shared).
        train_pairs: int. Pairs kept for training once the stages are adapted.

    Example:
        task = BrieflyTrainedTranslation.from_config(config, train_pairs=512)
        Pipeline(config, task).run(run_dir, overwrite=True)
    """

    def __init__(self, config, preprocessor, target_preprocessor=None, train_pairs=None):
        super().__init__(config, preprocessor, target_preprocessor)
        self.train_pairs = train_pairs

    @classmethod
    def from_config(cls, config, train_pairs=None):
        task = super().from_config(config)
        task.train_pairs = train_pairs
        return task

    def adapt(self):
        super().adapt()
        self.data.splits["train"] = {
            side: texts[: self.train_pairs] for side, texts in self.data.splits["train"].items()
        }


def trained_config(context):
    """(config, training pairs, what it trains in words) for this invocation."""
    if context.quick:
        overrides = BRIEF_TRAINING + ["model.embedding_dim=32", "model.hidden_dim=64"]
        return (
            load_config(PIPELINES / "quickstart_translate.yaml", overrides),
            QUICK_TRAIN_PAIRS,
            "quick mode: the phrasebook quickstart (English → Spanish) with a tiny model",
        )
    if context.data_path("multi30k") is None:
        return (
            load_config(PIPELINES / "quickstart_translate.yaml", BRIEF_TRAINING),
            TRAIN_PAIRS,
            "**Multi30k is absent from the data root**, so the phrasebook "
            "quickstart (English → Spanish) stands in",
        )
    return (
        load_config(PIPELINES / "multi30k_de_en.yaml", BRIEF_TRAINING, data_dir=context.data_dir),
        TRAIN_PAIRS,
        "the Multi30k German → English model of `pipelines/multi30k_de_en.yaml`",
    )


def translate_all(translate, sources):
    """Translations of `sources`, `BATCH_SIZE` at a time, through `translate(batch)`."""
    out = []
    for begin in range(0, len(sources), BATCH_SIZE):
        out.extend(translate(sources[begin : begin + BATCH_SIZE]))
    return out


def export_translators(exported, max_length):
    """{beam size: translate(batch)} through the SavedModel's signatures. Greedy uses
    `translate_greedy`: `translate_with_options` at beam 1 is a beam of one with the length
    penalty, which keeps a hypothesis alive past the first end token while a longer one could
    still score higher, so it does more work than greedy decoding and may pick another output."""
    greedy = exported.signatures["translate_greedy"]
    beam = exported.signatures["translate_with_options"]
    length = tf.constant(max_length, tf.int32)

    def strings(result):
        return [text.decode("utf-8") for text in result["translation"].numpy()]

    return {
        1: lambda batch: strings(greedy(text=tf.constant(batch), max_length=length)),
        BEAM_SIZE: lambda batch: strings(
            beam(text=tf.constant(batch), beam_size=tf.constant(BEAM_SIZE), max_length=length)
        ),
    }


def compare(translators, sources, repeats):
    """Alternates the contenders' full passes over `sources`; returns ({name: sentences per second
    of the measured rounds}, {name: translations of the last round})."""
    outputs = {}

    def measure(name):
        def one_round(index):
            # The warm-up round decodes one batch: enough to load and build everything once.
            part = sources[:BATCH_SIZE] if index == 0 else sources
            with harness.Stopwatch() as watch:
                outputs[name] = translate_all(translators[name], part)
            return len(part) / watch.seconds

        return one_round

    rates = harness.alternate({name: measure(name) for name in translators}, repeats)
    return rates, outputs


def decode_step_flops(model, rows, source_length):
    """FLOPs of one `decode_step` for `rows` hypotheses: the decoder LSTM gates, Luong attention
    (query projection, scores, context), the attentional layer and the output layer; 2 per
    multiply-add, elementwise work left out."""
    e, h, v = model.embedding_dim, model.hidden_dim, model.target_vocabulary_size
    per_row = 4 * h * (e + h) + h * h + 2 * source_length * h + 2 * h * h + h * v
    return 2 * rows * per_row


def profile(translators, peer, model, sources, max_length, matmul_peak):
    """Where a batch's time goes, for ours and the peer: (rows for the table, notes)."""
    batch = sources[:BATCH_SIZE]
    source_ids = peer.source_ids(batch)
    encode = tf.function(model.encode)
    encoder_outputs, source_mask, states = encode(source_ids)

    @tf.function
    def steps_alone(tokens, states, encoder_outputs, source_mask, count):
        # Steps chained in one graph loop, so the time is the model's, not a Python call's.
        logits = tf.zeros([tf.shape(tokens)[0], model.target_vocabulary_size])
        for _ in tf.range(count):
            logits, states, _ = model.decode_step(tokens, states, encoder_outputs, source_mask)
        return logits

    def best_of(function, *args):
        """Seconds of one call, the best of 3 after a warm-up call."""
        return harness.best_ms(lambda: function(*args), repeats=1) / 1000

    encode_s = best_of(lambda ids: [t.numpy() for t in tf.nest.flatten(encode(ids))], source_ids)
    eager_encode_s = best_of(
        lambda ids: [t.numpy() for t in tf.nest.flatten(model.encode(ids))], source_ids
    )
    rows = []
    for beam_size in (1, BEAM_SIZE):
        name = "greedy" if beam_size == 1 else f"beam {beam_size}"
        ours_s = best_of(translators[beam_size], batch)
        peer_s = best_of(
            lambda texts, beam_size=beam_size: peer.translate(texts, beam_size, max_length), batch
        )
        steps = peer.last_steps
        n = BATCH_SIZE * beam_size
        repeat = lambda t, beam_size=beam_size: tf.repeat(t, beam_size, axis=0)  # noqa: E731
        chained = 20
        alone_s = (
            best_of(
                lambda n=n, repeat=repeat, chained=chained: steps_alone(
                    tf.ones([n], tf.int64),
                    [repeat(x) for x in states],
                    repeat(encoder_outputs),
                    repeat(source_mask),
                    tf.constant(chained),
                ).numpy()
            )
            / chained
        )
        flops = decode_step_flops(model, n, int(source_ids.shape[1]))
        ours_step = (ours_s - encode_s) / max(steps, 1)
        peer_step = (peer_s - eager_encode_s) / max(steps, 1)
        rows.append(
            [
                name,
                steps,
                ours_s * 1000,
                peer_s * 1000,
                encode_s * 1000,
                ours_step * 1000,
                peer_step * 1000,
                alone_s * 1000,
                flops / alone_s / 1e9,
                f"{flops / alone_s / matmul_peak:.0%}",
                peer_step / alone_s,
            ]
        )
    return rows


def train_and_export(context):
    """(config, the trained task, its RunResult, what it trains in words)."""
    config, train_pairs, trained = trained_config(context)
    context.log(f"translation: training {config.name} briefly and exporting it")
    task = BrieflyTrainedTranslation.from_config(config, train_pairs)
    result = Pipeline(config, task).run(
        run_dir=Path(context.work_dir) / "translation", overwrite=True
    )
    return config, task, result, trained


def run(context):
    section = harness.Section(
        title="Translation decoding: exported SavedModel against the Python step loop"
    )
    config, task, result, trained = train_and_export(context)
    exported = load_export(result.run_dir)
    peer = python_decoding.PythonStepDecoder(load_run(result.run_dir, with_data=False).task)
    sources = task.data.splits["test"]["source"][: QUICK_SOURCES if context.quick else NUM_SOURCES]
    max_length = int(exported.default_max_length.numpy())
    ours = export_translators(exported, max_length)
    rows, rounds = [], []
    for beam_size in (1, BEAM_SIZE):
        name = "greedy" if beam_size == 1 else f"beam {beam_size}"
        context.log(
            f"translation: {name}, {len(sources)} sentences, measured rounds: {context.repeats}"
        )
        translators = {
            "ours": ours[beam_size],
            "peer": lambda batch, beam=beam_size: peer.translate(batch, beam, max_length),
        }
        rates, outputs = compare(translators, sources, context.repeats)
        ours_rate, peer_rate = harness.median(rates["ours"]), harness.median(rates["peer"])
        same = sum(a == b for a, b in zip(outputs["ours"], outputs["peer"])) / len(sources)
        words = sum(len(text.split()) for text in outputs["ours"]) / len(sources)
        rows.append(
            [
                name,
                ours_rate,
                peer_rate,
                ours_rate / peer_rate,
                f"{same:.1%}",
                words,
                len(set(outputs["ours"])),
            ]
        )
        rounds.append(
            f"{name}: ours "
            + ", ".join(map(harness.fmt, rates["ours"]))
            + "; peer "
            + ", ".join(map(harness.fmt, rates["peer"]))
        )
    timings = result.manifest["timings_s"]
    section.text(
        f"Model: {trained}: {harness.describe_model(config.model)}, "
        f"{result.manifest['num_parameters']:,} parameters. Its stages adapt on all "
        f"{result.manifest['data']['counts']['train']:,} training pairs, as in the full pipeline "
        f"(vocabularies of {task.preprocessor.vocabulary.vocabulary_size:,} source and "
        f"{task.target_preprocessor.vocabulary.vocabulary_size:,} target ids; "
        f"{timings['read_and_adapt']:.0f} s), then it trains for one epoch on the first "
        f"{len(task.data.splits['train']['source']):,} in batches of "
        f"{config.train.batch_size} ({timings['train']:.0f} s) and is exported "
        f"({timings['export']:.0f} s). The time per decoding step does not depend on how long "
        f"the model trained; the number of steps a batch takes (until every row has ended) "
        f"does, hence the mean output length.",
        "",
        f"The first {len(sources):,} test sources as raw strings, batches of {BATCH_SIZE}, at most "
        f"{max_length} output tokens for both systems; {context.repeats} measured "
        f"round{'s' if context.repeats != 1 else ''} per contender after one warm-up batch, "
        f"alternating. **Ours**: the SavedModel's `translate_greedy` and "
        f"`translate_with_options` signatures. **Peer**: the same trained Keras model, `encode` "
        f"once per batch, then `decode_step` called eagerly from a Python loop once per output "
        f"step (argmax, or a NumPy beam search with the same GNMT length penalty "
        f"{config.evaluate.length_penalty}). Identical outputs: share of the sentences whose two "
        f"translations are the same string.",
        "",
    )
    section.table(
        [
            "decoding",
            "ours (sentences/s, median)",
            "peer (sentences/s, median)",
            "ratio",
            "identical outputs",
            "mean words per translation (ours)",
            "distinct translations (ours)",
        ],
        rows,
    )
    section.text("Rounds (sentences/s): " + "; ".join(rounds) + ".", "")
    peak = flops.matmul_rate(*(3 * [512 if context.quick else 2048]))
    section.text(
        f"**Profile** of one batch (the first {BATCH_SIZE} sources), best of 3: the encoder "
        f"alone (in a tf.function), then the time per decoder step of each system, taking off "
        f"the encoder and dividing by the steps the batch needed; the last columns time "
        f"`decode_step` of the model alone, 20 steps chained in one tf.function loop "
        f"(FLOPs counted as in "
        f"`decode_step_flops`, against a {peak / 1e9:.0f} GFLOP/s float32 matmul peak measured "
        f"in this run). The last column, the peer's step over the model's step alone, is "
        f"about the most a decoding loop with no overhead at all could reach against the peer.",
        "",
    )
    section.table(
        [
            "decoding",
            "steps",
            "ours batch (ms)",
            "peer batch (ms)",
            "encoder alone (ms)",
            "ours per step (ms)",
            "peer per step (ms)",
            "model step alone (ms)",
            "model step GFLOP/s",
            "of peak",
            "peer step ÷ model step alone",
        ],
        profile(ours, peer, task.model, sources, max_length, peak),
    )
    note = "quick mode: tiny model" if context.quick else ""
    section.goals = [
        harness.Goal(
            f"translation decoding, {row[0]}, batch {BATCH_SIZE}: export / Python step loop",
            row[3],
            5.0,
            note=note,
        )
        for row in rows
    ]
    return section
