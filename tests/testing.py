"""Test helpers: one per component type, plus tiny data and config writers."""

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
