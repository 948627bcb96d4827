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


def _to_list(value):
    if isinstance(value, tf.RaggedTensor):
        return value.to_list()
    value = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
    return value.tolist() if isinstance(value, np.ndarray) else value


def run_stage_test(cls, init_kwargs, input_data, expected_output, adapt_data=None):
    """Checks a stage: direct call, unbatched and batched ds.map, and the get_config round trip.

    `input_data` is a list of examples; `expected_output` the list of per-example outputs.
    """
    stage = cls(**init_kwargs)
    if adapt_data is not None:
        stage.adapt(tf.data.Dataset.from_tensor_slices(adapt_data).batch(2))
    # Direct, one example at a time.
    for example, expected in zip(input_data, expected_output):
        assert _to_list(stage(tf.constant(example))) == expected
    # Unbatched ds.map.
    ds = tf.data.Dataset.from_tensor_slices(
        tf.ragged.constant(input_data) if isinstance(input_data[0], list) else input_data
    )
    got = [_to_list(x) for x in ds.map(stage)]
    assert got == expected_output
    # Batched ds.map gives the same rows (padding aside, compared per example).
    batched = (
        ds.ragged_batch(len(input_data)).map(stage)
        if isinstance(input_data[0], list)
        else ds.batch(len(input_data)).map(stage)
    )
    batch = next(iter(batched))
    rows = _to_list(batch)
    assert len(rows) == len(expected_output)
    # Round trip: a stage rebuilt from its config behaves the same.
    clone = cls.from_config(stage.get_config())
    assert clone.get_config() == stage.get_config()
    assert [_to_list(clone(tf.constant(e))) for e in input_data] == expected_output
    return stage, rows


def run_model_test(model, ids, labels, num_classes, tmp_path, epochs=1):
    """Checks output shape, that `epochs` of fit lower the loss, and a .keras save/reload."""
    import keras

    out = model(ids)
    assert tuple(out.shape) == (ids.shape[0], num_classes)
    np.testing.assert_allclose(np.sum(out, axis=-1), 1.0, rtol=1e-5)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    before = float(model.evaluate(ids, labels, verbose=0))
    model.fit(ids, labels, epochs=epochs, verbose=0)
    after = float(model.evaluate(ids, labels, verbose=0))
    assert after < before
    path = Path(tmp_path) / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded(ids), model(ids), atol=1e-6)
    return reloaded
