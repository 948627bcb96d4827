"""Test helpers: one per component type (`run_stage_test`, `run_model_test`, `run_task_test`,
after keras-hub's test_case.py), tiny runs of the shipped quickstarts (`tiny_run`), an export
called in a fresh process (`call_export_in_fresh_process`), and tiny data and config writers."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import tensorflow as tf

POSITIVE = [
    "a gorgeous witty film",
    "great acting and a moving story",
    "i loved every minute",
    "brilliant , funny and warm",
    "the best movie this year",
    "wonderful score and cast",
]
NEGATIVE = [
    "a dull lifeless film",
    "terrible acting and a boring story",
    "i hated every minute",
    "clumsy , flat and cold",
    "the worst movie this year",
    "awful script and cast",
]


def write_tiny_tsv(path, repeats=4):
    """Writes a small balanced TSV (text, label) that a tiny model can learn."""
    rows = []
    for i in range(repeats):
        rows += [(f"{t} {'!' * i}".strip(), "positive") for t in POSITIVE]
        rows += [(f"{t} {'.' * i}".strip(), "negative") for t in NEGATIVE]
    path = Path(path)
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    return path


def write_pipeline(directory, data_path, extra=""):
    """Writes a tiny classification pipeline YAML for `data_path`; returns its path."""
    path = Path(directory) / "tiny.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        name: tiny
        task: classification
        seed: 7
        data: {{source: files, path: {data_path}}}
        stages:
          - {{type: text_normalizer}}
          - {{type: whitespace_tokenizer}}
          - {{type: vocabulary, max_size: 100}}
          - {{type: sequence_packer, sequence_length: 16}}
        model: {{type: lstm_text_classifier, embedding_dim: 8, hidden_dim: 8, dropout: 0.0}}
        train: {{batch_size: 8, epochs: 2, learning_rate: 0.01, verbose: 0, num_buckets: 2}}
        export: {{verify: true}}
        """)
        + textwrap.dedent(extra),
        encoding="utf-8",
    )
    return path


def forbid_memory_maps(monkeypatch):
    """Makes building a `datasets.Dataset` or memory-mapping a file raise (streamed reads must
    do neither)."""
    import datasets
    import pyarrow as pa

    def forbidden(*args, **kwargs):
        raise AssertionError("a memory-mapped table was built")

    monkeypatch.setattr(pa, "memory_map", forbidden)
    monkeypatch.setattr(datasets.Dataset, "__init__", forbidden)
    monkeypatch.setattr(datasets, "load_dataset", forbidden)


def to_python(value):
    """Tensors, ragged tensors, arrays and tuples of them as nested Python lists and scalars."""
    if isinstance(value, dict):
        return {key: to_python(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [to_python(item) for item in value]
    if isinstance(value, tf.RaggedTensor):
        return value.to_list()
    if hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


def assert_same(got, expected, where="output", rtol=1e-5, atol=1e-6):
    """Asserts two nested outputs are equal: floats within `rtol`/`atol`, everything else
    exactly; a failure names the position (`where[1][0]`) and both values."""
    got, expected = to_python(got), to_python(expected)
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), f"{where}: {got!r}"
        for key in expected:
            assert_same(got[key], expected[key], f"{where}[{key!r}]", rtol, atol)
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), (
            f"{where}: got {got!r}, expected {expected!r}"
        )
        for index, (item, wanted) in enumerate(zip(got, expected)):
            assert_same(item, wanted, f"{where}[{index}]", rtol, atol)
    elif isinstance(expected, float) or isinstance(got, float):
        assert abs(got - expected) <= atol + rtol * abs(expected), (
            f"{where}: got {got!r}, expected {expected!r}"
        )
    else:
        assert got == expected, f"{where}: got {got!r}, expected {expected!r}"


def _examples_tensor(examples):
    """All examples as one tensor: dense when they share a shape, else ragged."""
    shapes = {np.shape(example) for example in examples}
    return tf.constant(examples) if len(shapes) == 1 else tf.ragged.constant(examples)


def _batch_rows(batch):
    """The rows of a batched stage output (a tensor, ragged tensor or tuple of them)."""
    if isinstance(batch, (tuple, list)):
        return [list(row) for row in zip(*(_batch_rows(part) for part in batch))]
    return to_python(batch)


def _unpad(row, expected, stage):
    """`row` of a dense batch without the padding the stage added to reach the batch's longest
    row; checks that what is cut off is the stage's `pad_value` on its `padding_side`."""
    if not isinstance(row, list) or not isinstance(expected, list) or len(row) <= len(expected):
        return row
    if not hasattr(stage, "pad_value"):
        return row  # no padding stage: the length difference is a real mismatch
    extra = len(row) - len(expected)
    left = getattr(stage, "padding_side", "right") == "left"
    padding, kept = (
        (row[:extra], row[extra:]) if left else (row[len(expected) :], row[: len(expected)])
    )
    assert padding == [stage.pad_value] * extra, f"padding {padding!r} is not pad_value"
    return kept


def run_stage_test(cls, init_kwargs, input_data, expected_output, adapt_data=None, batched=True):
    """Checks a stage on each example: direct calls, unbatched and batched `ds.map`, and the
    `get_config` (and Keras serialization) round trip.

    Args:
        cls: the stage class.
        init_kwargs: dict. Constructor arguments.
        input_data: list. The examples, one stage input each (a string, a token or id list, a
            numeric row, a timestamp, a whole series); examples of different lengths are batched
            as one ragged tensor.
        expected_output: list. The stage's output for each example alone (a tuple for a stage
            that returns several tensors). Floats are compared within 1e-5.
        adapt_data: list or None. Examples to `adapt` on (in batches of 2) before the checks.
        batched: bool. Also call the stage on a batch of all the examples, directly and in
            `ds.batch(...).map`, and compare each row with its example's output (padding a
            dense batch adds, up to its longest row, is checked and cut off).

    Returns:
        (stage, rows): the adapted stage and the rows of its batched `ds.map` output (None
        when not `batched`).
    """
    import keras

    assert len(input_data) == len(expected_output), "one expected output per example"
    stage = cls(**init_kwargs)
    if adapt_data is not None:
        stage.adapt(tf.data.Dataset.from_tensor_slices(_examples_tensor(adapt_data)).batch(2))
    examples = _examples_tensor(input_data)

    def check_each(call, label):
        for index, expected in enumerate(expected_output):
            assert_same(call(examples[index]), expected, f"{label}, example {index}")

    check_each(stage, "direct call")
    dataset = tf.data.Dataset.from_tensor_slices(examples)
    got = list(dataset.map(stage))
    assert len(got) == len(expected_output)
    for index, (out, expected) in enumerate(zip(got, expected_output)):
        assert_same(out, expected, f"unbatched ds.map, example {index}")
    rows = None
    if batched:
        direct = _batch_rows(stage(examples))
        rows = _batch_rows(next(iter(dataset.batch(len(input_data)).map(stage))))
        for label, batch in (("direct batched call", direct), ("batched ds.map", rows)):
            assert len(batch) == len(expected_output), f"{label}: {len(batch)} rows"
            for index, (row, expected) in enumerate(zip(batch, expected_output)):
                assert_same(
                    _unpad(row, to_python(expected), stage), expected, f"{label}, row {index}"
                )
    config = stage.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config
    check_each(clone, "from_config clone")
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(stage))
    assert type(revived) is cls and revived.get_config() == config
    return stage, rows


def run_model_test(
    cls,
    init_kwargs,
    input_data,
    expected_output_shape,
    targets,
    loss,
    learning_rate=0.01,
    steps=1,
    run_eagerly=True,
):
    """Checks a model: its output shape, that `steps` fit steps on one fixed batch lower the
    loss, the `get_config` round trip, and a `.keras` save and reload with the same outputs.

    Args:
        cls: the model class.
        init_kwargs: dict. Constructor arguments (use dropout 0: the loss is compared in
            inference mode before and after the steps).
        input_data: array or tuple of arrays. One batch of model inputs.
        expected_output_shape: tuple. The shape of `cls(**init_kwargs)(input_data)`.
        targets: array. The targets of `input_data` for `loss`.
        loss: str or keras.losses.Loss. The training objective.
        learning_rate: float. Adam's learning rate.
        steps: int. Optimizer steps, each on the whole batch (more than one: mark the test slow).
        run_eagerly: bool. Fit and evaluate eagerly: tracing the train and test functions takes
            seconds per model, and training in a graph is what every task run does.

    Returns:
        The reloaded model.
    """
    import tempfile

    import keras

    model = cls(**init_kwargs)
    output = model(input_data)
    assert tuple(output.shape) == tuple(expected_output_shape)
    assert np.all(np.isfinite(np.asarray(output))), "non-finite outputs"
    batch_size = len(targets)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate), loss=loss, run_eagerly=run_eagerly
    )
    before = float(model.evaluate(input_data, targets, batch_size=batch_size, verbose=0))
    model.fit(input_data, targets, batch_size=batch_size, epochs=steps, shuffle=False, verbose=0)
    after = float(model.evaluate(input_data, targets, batch_size=batch_size, verbose=0))
    assert np.isfinite(after) and after < before, f"loss {before} -> {after}"
    config = model.get_config()
    assert cls.from_config(config).get_config() == config
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        reloaded = keras.saving.load_model(path)
    assert type(reloaded) is cls and reloaded.get_config() == config
    np.testing.assert_allclose(reloaded(input_data), model(input_data), rtol=1e-5, atol=1e-6)
    return reloaded


# -- tasks -------------------------------------------------------------------------------------

# Task -> (shipped quickstart pipeline, overrides that make it tiny: a few dozen training
# examples in one batch, one epoch, small layers). `tiny_run` applies these first.
TINY_RUNS = {
    "classification": (
        "quickstart_classify",
        [
            "data.max_examples=64",
            "train.batch_size=64",
            "train.bucketing=false",
            "model.embedding_dim=8",
            "model.hidden_dim=8",
        ],
    ),
    "translation": (
        "quickstart_translate",
        [
            "data.max_examples=48",
            "train.batch_size=64",
            "train.num_buckets=1",
            "model.embedding_dim=8",
            "model.hidden_dim=16",
            "evaluate.splits=[validation]",
            "evaluate.beam_size=2",
        ],
    ),
    "generation": (
        "quickstart_generate",
        [
            "data.max_examples=2000",
            "data.window_length=32",
            "train.batch_size=64",
            "model.embedding_dim=8",
            "model.hidden_dim=16",
        ],
    ),
    "forecasting": (
        "quickstart_forecast",
        [
            "stages.1.input_length=24",
            "stages.1.horizon=6",
            "train.batch_size=4096",
            "model.units=8",
            "model.segment_length=6",
        ],
    ),
}
TINY_COMMON = ["train.epochs=1", "train.verbose=0"]


def tiny_pipeline(task_name, *overrides):
    """The Pipeline (built, not run) of the task's shipped quickstart made tiny: `TINY_RUNS`,
    then `overrides` ("key=value" strings, as `--set` takes them)."""
    from nlp_lstm import presets
    from nlp_lstm.config.loading import load_config
    from nlp_lstm.pipeline import build_pipeline

    name, tiny = TINY_RUNS[task_name]
    config = load_config(presets.find_pipeline(name), [*TINY_COMMON, *tiny, *overrides])
    assert config.task == task_name, f"{name} runs task {config.task!r}"
    return build_pipeline(config)


def tiny_run(task_name, run_dir, *overrides):
    """Runs `tiny_pipeline(task_name, *overrides)` in `run_dir`.

    Returns:
        (pipeline, result): the Pipeline, whose task keeps the trained model in memory, and the
        RunResult (run_dir, metrics, manifest).
    """
    pipeline = tiny_pipeline(task_name, *overrides)
    return pipeline, pipeline.run(run_dir=Path(run_dir))


# Runs in a new Python process: loads an export with TensorFlow and TF-Text's op kernels only,
# calls its signatures on the inputs read from stdin and prints their outputs as JSON. The
# tensorflow_text package's own __init__ imports Keras (for its Keras layers), so its op
# libraries are loaded directly; importing keras or nlp_lstm would fail.
FRESH_PROCESS_SCRIPT = """
import glob, importlib.util, json, os, sys
text_ops = os.path.join(
    importlib.util.find_spec("tensorflow_text").submodule_search_locations[0], "python", "ops"
)
for name in ("keras", "tf_keras", "nlp_lstm", "tensorflow_text"):
    sys.modules[name] = None
import tensorflow as tf
for library in sorted(glob.glob(os.path.join(text_ops, "_*.so"))):
    tf.load_op_library(library)

def plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value

request = json.loads(sys.stdin.read())
loaded = tf.saved_model.load(request["export_dir"])
outputs = []
for name, feeds in request["calls"]:
    tensors = {key: tf.constant(value, tf.as_dtype(dtype)) for key, (value, dtype) in feeds.items()}
    result = loaded.signatures[name](**tensors)
    outputs.append({key: plain(tensor.numpy().tolist()) for key, tensor in result.items()})
imported = sorted(m for m in sys.modules if m.split(".")[0] in ("keras", "nlp_lstm"))
print(json.dumps({"signatures": sorted(loaded.signatures), "outputs": outputs,
                  "imported": [m for m in imported if sys.modules[m] is not None]}))
"""


def _feed(value):
    """(nested list, dtype name) of one signature input, for JSON."""
    array = np.asarray(value)
    dtype = "string" if array.dtype.kind in "USO" else array.dtype.name
    return (array.tolist(), dtype)


def _plain_outputs(result):
    """A signature's outputs as JSON-ready lists (bytes decoded), as the fresh process prints."""
    return json.loads(
        json.dumps(
            {key: to_python(tensor) for key, tensor in result.items()},
            default=lambda b: b.decode("utf-8", errors="replace"),
        )
    )


def call_export_in_fresh_process(export_dir, calls, timeout=300):
    """Calls an export's signatures in a new Python process that imports only TensorFlow (and
    loads TF-Text's op kernels): not nlp_lstm, not keras.

    Args:
        export_dir: str or Path. The SavedModel directory.
        calls: list of (signature name, {input name: array-like}).
        timeout: float. Seconds the process may take.

    Returns:
        dict: "signatures" (the export's signature names), "outputs" (one dict of output name ->
        nested lists per call, bytes decoded as UTF-8) and "imported" (keras or nlp_lstm
        modules the process imported: none).
    """
    request = {
        "export_dir": str(export_dir),
        "calls": [(name, {key: _feed(v) for key, v in feeds.items()}) for name, feeds in calls],
    }
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_SCRIPT],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    assert served["imported"] == [], served["imported"]
    return served


def run_task_test(task_name, run_dir, probes, *overrides):
    """Checks a task from reading to a reloaded export: a tiny run (`tiny_pipeline`: one epoch
    of one batch or a few, then the export; no evaluate step), its export reloaded in a fresh
    process (`call_export_in_fresh_process`) and called on raw inputs, and the same calls in
    this process through `nlp_lstm.load` (which must give the task's predictor), whose outputs
    must be equal; the first call's also equal the trained model's (the export's module).

    Args:
        task_name: str. A name in TASKS.
        run_dir: str or Path. Where the run goes (must not hold a run).
        probes: callable. task -> list of (signature name, {input name: raw array-like}).
        overrides: str. More "key=value" overrides after the tiny ones.

    Returns:
        (pipeline, result, served): the Pipeline, the RunResult and what the fresh process
        returned.
    """
    import nlp_lstm

    pipeline = tiny_pipeline(task_name, "steps=[train,export]", *overrides)
    task = pipeline.task
    # Keep the module the export wraps around the trained model: its main signature is traced
    # already (by the export's verification), where a new module would trace it again.
    modules, make_module = [], task.serving_module
    task.serving_module = lambda: modules.append(make_module()) or modules[-1]
    result = pipeline.run(run_dir=Path(run_dir))
    assert result.manifest["status"] == "finished"
    assert result.manifest["steps_done"] == ["train", "export"]
    functions = task.signatures(modules[0] if modules else make_module())
    calls = probes(task)
    assert calls and {name for name, _ in calls} <= set(functions)
    served = call_export_in_fresh_process(result.run_dir / "export", calls)
    assert set(served["signatures"]) == set(functions)
    predictor = nlp_lstm.load(result.run_dir)
    assert predictor.task == task_name
    for index, ((name, feeds), got) in enumerate(zip(calls, served["outputs"])):
        tensors = {key: tf.constant(value) for key, value in feeds.items()}
        expected = _plain_outputs(predictor.signature(name)(**tensors))
        assert_same(got, expected, f"call {index} ({name})", rtol=1e-4, atol=1e-5)
        if index == 0:
            trained = _plain_outputs(functions[name](**tensors))
            assert_same(got, trained, f"call 0 ({name}), trained model", rtol=1e-4, atol=1e-5)
    return pipeline, result, served
