"""Fast checks of tf.distribute support: which strategy a config means, the shards, the flags."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from nlp_lstm import distributed, inputs
from nlp_lstm.cli import main
from nlp_lstm.errors import ConfigError

CLUSTER = json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                      "task": {"type": "worker", "index": 1}})


@pytest.mark.parametrize("distribution, environ, gpus, expected", [
    ("auto", {}, 0, "one_device"),
    ("auto", {}, 1, "one_device"),
    ("auto", {}, 2, "mirrored"),
    ("auto", {"TF_CONFIG": CLUSTER}, 0, "multi_worker"),
    ("one_device", {"TF_CONFIG": CLUSTER}, 0, "one_device"),
    ("mirrored", {}, 0, "mirrored"),  # one replica on the CPU
    ("multi_worker", {"TF_CONFIG": CLUSTER}, 0, "multi_worker"),
])
def test_resolve(distribution, environ, gpus, expected):
    assert distributed.resolve(distribution, environ, num_gpus=gpus) == expected


def test_multi_worker_without_a_cluster_names_the_key():
    with pytest.raises(ConfigError, match=r"train\.distribution is multi_worker.*--workers N"):
        distributed.resolve("multi_worker", {}, num_gpus=0)


def test_global_batch_must_split_over_the_replicas():
    assert distributed.per_replica_batch(32, 2) == 16
    with pytest.raises(ConfigError, match=r"multiple of the 3 replicas.*batch_size=32.*30 or 33"):
        distributed.per_replica_batch(32, 3)


def _epoch_batches(lengths, boundaries, batch_size, seed):
    """The length-bucketed, seeded batch sequence every worker builds (ids carry example indices)."""
    examples = tf.data.Dataset.from_tensor_slices(
        tf.ragged.constant([[i + 1] * n for i, n in enumerate(lengths)], dtype=tf.int64))
    examples = examples.map(lambda ids: (ids, tf.constant(0, tf.int64)))
    packer = type("Packer", (), {"pad_value": 0, "padding_side": "right"})()
    return inputs.batched(examples, packer, batch_size, boundaries, shuffle_buffer=len(lengths),
                          seed=seed)


def test_two_workers_never_see_the_same_example_in_an_epoch():
    lengths = np.random.RandomState(0).randint(1, 12, size=101)
    boundaries = inputs.length_boundaries(lengths, 3)
    total = inputs.batches_per_epoch(lengths, boundaries, 4)
    steps = distributed.steps_per_epoch(total, 2)
    seen_by_epoch = []
    for epoch in range(2):
        inputs.training_epoch().assign(epoch)
        seen = []
        for index in range(2):
            shard = distributed.shard_batches(_epoch_batches(lengths, boundaries, 4, seed=5), 2,
                                              index, steps)
            batches = [ids.numpy() for ids, _ in shard]
            assert len(batches) == steps  # equal step counts, or the collectives would hang
            seen.append({int(v) for ids in batches for v in ids.ravel() if v})
        assert not seen[0] & seen[1]
        # At most one batch per worker is left out of an epoch.
        assert len(seen[0] | seen[1]) >= len(lengths) - 2 * 4
        seen_by_epoch.append(seen[0])
    assert seen_by_epoch[0] != seen_by_epoch[1]  # a different split every epoch
    inputs.training_epoch().assign(0)


def test_too_few_batches_for_the_replicas():
    with pytest.raises(Exception, match="fewer than the 2 replicas"):
        distributed.steps_per_epoch(1, 2)


@pytest.mark.parametrize("args, pattern", [
    (["--workers", "0"], r"Invalid value for '--workers'"),
    (["--workers", "2", "--set", "train.distribution=one_device"],
     r"train\.distribution is one_device.*auto or multi_worker"),
    (["--set", "train.distribution=multi_worker"], r"train\.distribution is multi_worker"),
])
def test_bad_flags_exit_2_with_one_line(tiny_corpus, tmp_path, monkeypatch, args, pattern):
    from tests.testing import write_pipeline
    monkeypatch.delenv("TF_CONFIG", raising=False)
    pipeline = write_pipeline(tmp_path, tiny_corpus)
    result = CliRunner().invoke(main, ["run", str(pipeline), "--run-dir", str(tmp_path / "r"),
                                       *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert re.search(pattern, result.output), result.output


def test_stateful_batches_cannot_be_sharded():
    from nlp_lstm import presets
    from nlp_lstm.config import load_config
    with pytest.raises(ConfigError, match=r"train\.distribution.*stateful_batches"):
        load_config(presets.find_pipeline("quickstart_generate"),
                    ["data.stateful_batches=true", "train.distribution=multi_worker"])


def test_seeds_and_tune_reject_a_distribution_they_cannot_honour(tiny_corpus, tmp_path):
    from tests.testing import write_pipeline
    pipeline = write_pipeline(tmp_path, tiny_corpus)
    for command in (["run", str(pipeline), "--seeds", "2"], ["tune", str(pipeline)]):
        result = CliRunner().invoke(main, [*command, "--set", "train.distribution=mirrored"])
        assert result.exit_code == 2, result.output
        assert "cannot honour train.distribution=mirrored" in result.output
