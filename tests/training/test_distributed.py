"""Fast checks of tf.distribute support: which strategy a config means, the shards, the flags."""

import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from nlp_lstm.cli import main
from nlp_lstm.data import inputs
from nlp_lstm.errors import ConfigError
from nlp_lstm.runs import workers
from nlp_lstm.training import distribution as distributed

CLUSTER = json.dumps(
    {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 1}}
)


@pytest.mark.parametrize(
    "distribution, environ, gpus, expected",
    [
        ("auto", {}, 0, "one_device"),
        ("auto", {}, 1, "one_device"),
        ("auto", {}, 2, "mirrored"),
        ("auto", {"TF_CONFIG": CLUSTER}, 0, "multi_worker"),
        ("one_device", {"TF_CONFIG": CLUSTER}, 0, "one_device"),
        ("mirrored", {}, 0, "mirrored"),  # one replica on the CPU
        ("multi_worker", {"TF_CONFIG": CLUSTER}, 0, "multi_worker"),
    ],
)
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
    """The length-bucketed, seeded batch sequence every worker builds (ids carry example
    indices)."""
    examples = tf.data.Dataset.from_tensor_slices(
        tf.ragged.constant([[i + 1] * n for i, n in enumerate(lengths)], dtype=tf.int64)
    )
    examples = examples.map(lambda ids: (ids, tf.constant(0, tf.int64)))
    packer = type("Packer", (), {"pad_value": 0, "padding_side": "right"})()
    return inputs.batched(
        examples, packer, batch_size, boundaries, shuffle_buffer=len(lengths), seed=seed
    )


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
            shard = distributed.shard_batches(
                _epoch_batches(lengths, boundaries, 4, seed=5), 2, index, steps
            )
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


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--workers", "0"], r"Invalid value for '--workers'"),
        (
            ["--workers", "2", "--set", "train.distribution=one_device"],
            r"train\.distribution is one_device.*auto or multi_worker",
        ),
        (["--set", "train.distribution=multi_worker"], r"train\.distribution is multi_worker"),
    ],
)
def test_bad_flags_exit_2_with_one_line(tiny_corpus, tmp_path, monkeypatch, args, pattern):
    from tests.testing import write_pipeline

    monkeypatch.delenv("TF_CONFIG", raising=False)
    pipeline = write_pipeline(tmp_path, tiny_corpus)
    result = CliRunner().invoke(
        main, ["run", str(pipeline), "--run-dir", str(tmp_path / "r"), *args]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert re.search(pattern, result.output), result.output


def test_stateful_batches_cannot_be_sharded():
    from nlp_lstm import presets
    from nlp_lstm.config.loading import load_config

    with pytest.raises(ConfigError, match=r"train\.distribution.*stateful_batches"):
        load_config(
            presets.find_pipeline("quickstart_generate"),
            ["data.stateful_batches=true", "train.distribution=multi_worker"],
        )


def test_ema_is_rejected_under_the_distributed_loop():
    from nlp_lstm import presets
    from nlp_lstm.config.loading import load_config

    with pytest.raises(ConfigError, match=r"train\.ema_momentum.*one_device"):
        load_config(
            presets.find_pipeline("quickstart_forecast"),
            ["train.ema_momentum=0.9", "train.distribution=mirrored"],
        )
    load_config(presets.find_pipeline("quickstart_forecast"), ["train.ema_momentum=0.9"])


def test_seeds_and_tune_reject_a_distribution_they_cannot_honour(tiny_corpus, tmp_path):
    from tests.testing import write_pipeline

    pipeline = write_pipeline(tmp_path, tiny_corpus)
    for command in (["run", str(pipeline), "--seeds", "2"], ["tune", str(pipeline)]):
        result = CliRunner().invoke(main, [*command, "--set", "train.distribution=mirrored"])
        assert result.exit_code == 2, result.output
        assert "cannot honour train.distribution=mirrored" in result.output


# Run in a fresh process: the CPU is split into two logical devices before TensorFlow starts.
CLIP_SCRIPT = r"""
import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras
import numpy as np

from nlp_lstm.training import custom_loop as distributed_fit
from nlp_lstm.training import fit as training
from nlp_lstm.config import TrainConfig

train = TrainConfig(optimizer="sgd", learning_rate=0.5, clipnorm=float(sys.argv[1]))
rng = np.random.RandomState(0)
x = rng.randint(1, 12, size=(8, 6)).astype("int64")  # repeated ids: sparse embedding gradients
y = rng.randint(0, 3, size=(8,)).astype("int64")


def model():
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((6,), dtype="int64"), keras.layers.Embedding(12, 8),
                             keras.layers.LSTM(8), keras.layers.Dense(3, activation="softmax")])


def one_process():
    net = model()
    net.compile(optimizer=training.build_optimizer(train, 1),
                loss="sparse_categorical_crossentropy")
    loss = float(net.train_on_batch(x, y))
    return net.get_weights(), loss


strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
halves = strategy.experimental_distribute_values_from_function(
    lambda context: (x[4 * context.replica_id_in_sync_group:][:4],
                     y[4 * context.replica_id_in_sync_group:][:4]))


def loop():
    with strategy.scope():
        net = model()
    loss_fn = distributed_fit.compile_for_loop(net, train, 1, "sparse_categorical_crossentropy",
                                               strategy)
    step = distributed_fit.build_train_step(net, loss_fn, train, strategy)
    loss, examples = step(halves)
    return net.get_weights(), float(loss), float(examples)


def keras_clip_per_replica():
    # What Keras' optimizer does under a strategy: clip each replica's share, then sum.
    with strategy.scope():
        net = model()
        net.compile(optimizer=training.build_optimizer(train, 1),
                    loss="sparse_categorical_crossentropy")
        net.optimizer.build(net.trainable_variables)

    def replica(xs, ys):
        with tf.GradientTape() as tape:
            loss = keras.losses.SparseCategoricalCrossentropy()(ys, net(xs, training=True))
        grads = tape.gradient(loss, net.trainable_variables)
        net.optimizer.apply_gradients(zip(grads, net.trainable_variables))

    tf.function(lambda batch: strategy.run(replica, args=batch))(halves)
    return net.get_weights()


reference, reference_loss = one_process()
weights, loss, examples = loop()
per_replica = keras_clip_per_replica()
diff = lambda a, b: max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))  # noqa: E731
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "loop": diff(weights, reference),
                  "per_replica": diff(per_replica, reference),
                  "moved": diff(weights, model().get_weights()), "loss": loss,
                  "reference_loss": reference_loss, "examples": examples}))
"""


@pytest.mark.parametrize("clipnorm", [1e-3, 1e3])
def test_two_replicas_clip_the_summed_gradient_as_one_process(tmp_path, clipnorm):
    """One SGD step over two replicas (two logical CPUs) gives the weights and the loss of one
    process on the global batch, with a clip that bites (1e-3) and one that does not (1e3); Keras'
    own per-replica clip gives other weights when it bites."""
    import subprocess
    import sys

    script = tmp_path / "clip.py"
    script.write_text(CLIP_SCRIPT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    done = subprocess.run(
        [sys.executable, str(script), str(clipnorm)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["examples"] == 8
    assert result["moved"] > 1e-4  # the step changed the weights
    assert result["loop"] < 1e-6, result
    assert result["loss"] == pytest.approx(result["reference_loss"], rel=1e-5)
    if clipnorm < 1:
        assert result["per_replica"] > 0.1 * result["moved"], result


def test_a_launcher_marks_a_running_run_failed_but_never_a_finished_one(tmp_path):
    from nlp_lstm import artifacts
    from nlp_lstm.errors import TrainingError
    from nlp_lstm.runs import rundir

    error = TrainingError("Worker 1 of 2 was killed by SIGKILL; the other workers were stopped.")
    running, finished = tmp_path / "running", tmp_path / "finished"
    for path, status in ((running, "running"), (finished, "finished")):
        path.mkdir()
        artifacts.atomic_write_json(path / "manifest.json", {"status": status, "steps_done": []})
    assert rundir.mark_failed(running, error) is True
    manifest = artifacts.read_json(running / "manifest.json")
    assert manifest["status"] == "failed" and manifest["end_time"]
    assert manifest["error"] == f"TrainingError: {error}"
    assert rundir.mark_failed(finished, error) is False
    assert artifacts.read_json(finished / "manifest.json")["status"] == "finished"
    assert rundir.mark_failed(tmp_path / "absent", error) is False
    assert not (tmp_path / "absent").exists()
    with rundir.RunDirLock(running):  # held by this process: re-entrant, so it still writes
        assert rundir.mark_failed(running, error) is True


def test_the_loop_logs_what_model_fit_logs_on_one_replica(tmp_path):
    """Forecasting's compile arguments (loss mse, metrics mse and mae, early stopping on val_mse)
    and a weight penalty (`model.losses`): the loop on one replica logs the same names and
    values as `model.fit`."""
    import keras

    from nlp_lstm.config.loading import TrainConfig
    from nlp_lstm.training import custom_loop as distributed_fit
    from nlp_lstm.training import fit as training

    train = TrainConfig(
        batch_size=8,
        epochs=3,
        learning_rate=0.01,
        monitor="val_mse",
        early_stopping_patience=1,
        verbose=0,
    )
    rng = np.random.RandomState(0)
    x = rng.normal(size=(32, 6, 2)).astype("float32")
    y = (0.5 * x[:, -3:, :1] + 0.1).astype("float32")
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)

    def model():
        keras.utils.set_random_seed(1)
        return keras.Sequential(
            [
                keras.Input((6, 2)),
                keras.layers.LSTM(4),
                keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.01)),
                keras.layers.Reshape((3, 1)),
            ]
        )

    compiled = {"loss": "mse", "metrics": ["mse", "mae"]}
    fitted = training.fit(model(), batches, batches, train, str(tmp_path / "fit"), 4, **compiled)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        net = model()
    looped = distributed_fit.fit(
        net, batches, batches, train, str(tmp_path / "loop"), 4, strategy, **compiled
    )
    assert (
        sorted(looped.history)
        == sorted(fitted.history)
        == ["loss", "mae", "mse", "val_loss", "val_mae", "val_mse"]
    )
    for name, values in fitted.history.items():
        np.testing.assert_allclose(looped.history[name], values, rtol=1e-5, err_msg=name)
    assert fitted.history["loss"][0] > fitted.history["mse"][0]  # the penalty is in the loss


MASKED_LOSS_SCRIPT = r"""
import json

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np

from nlp_lstm.models.losses import MaskedSequenceLoss

# Replica 0 gets 4 real tokens, replica 1 gets 8: unequal shares of the batch's 12.
targets = np.array([[1, 2, 0, 0], [3, 0, 0, 0], [1, 2, 3, 4], [2, 3, 4, 0]], np.int64)
logits = np.random.RandomState(0).normal(size=(4, 4, 6)).astype("float32")
loss = MaskedSequenceLoss(label_smoothing=0.1, pad_id=0)
whole = float(loss(targets, logits))
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
halves = strategy.experimental_distribute_values_from_function(
    lambda context: (targets[2 * context.replica_id_in_sync_group:][:2],
                     logits[2 * context.replica_id_in_sync_group:][:2]))
summed = tf.function(lambda batch: strategy.reduce(
    tf.distribute.ReduceOp.SUM, strategy.run(loss, args=batch), axis=None))(halves)
print(json.dumps({"whole": whole, "replicas": float(summed)}))
"""


def test_the_masked_loss_on_two_replicas_is_the_mean_per_token_of_the_whole_batch(tmp_path):
    """Two replicas with 4 and 8 real tokens: their losses sum to one process's mean per real
    token of the batch (not the mean of the two replicas' means)."""
    import subprocess
    import sys

    script = tmp_path / "masked.py"
    script.write_text(MASKED_LOSS_SCRIPT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == pytest.approx(result["whole"], rel=1e-6), result


SLURM_TWO_NODES = {
    "SLURM_PROCID": "1",
    "SLURM_STEP_NUM_TASKS": "2",
    "SLURM_STEP_NODELIST": "node[07-08]",
    "SLURM_STEP_TASKS_PER_NODE": "1(x2)",
}


@pytest.mark.parametrize("gpus, visible", [("", None), ("0,1,2,3", "0,1,2,3")])
def test_slurm_tasks_get_one_worker_each(monkeypatch, gpus, visible):
    """One task per node: worker i is the node of SLURM_PROCID i at the port base; a GPU node's
    task keeps all of its node's GPUs, and a CPU node (no GPU visible) gets no device variable."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", gpus)
    config = json.loads(
        workers.slurm_tf_config(23456, dict(SLURM_TWO_NODES, CUDA_VISIBLE_DEVICES=gpus))
    )
    assert config == {
        "cluster": {"worker": ["node07:23456", "node08:23456"]},
        "task": {"type": "worker", "index": 1},
    }
    assert os.environ["CUDA_VISIBLE_DEVICES"] == (visible if visible is not None else gpus)


def test_two_slurm_tasks_on_a_gpu_node_split_its_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    environ = dict(
        SLURM_TWO_NODES,
        SLURM_STEP_NODELIST="gpu01",
        SLURM_STEP_TASKS_PER_NODE="2",
        CUDA_VISIBLE_DEVICES="0,1,2,3",
    )
    config = json.loads(workers.slurm_tf_config(9000, environ))
    assert config["cluster"] == {"worker": ["gpu01:9000", "gpu01:9001"]}
    assert config["task"]["index"] == 1
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2,3"


def test_slurm_without_its_variables_or_with_a_bad_count_names_them():
    with pytest.raises(ConfigError, match=r"SLURM_PROCID, SLURM_STEP_NUM_TASKS.*not set.*srun"):
        workers.slurm_tf_config(9000, {"CUDA_VISIBLE_DEVICES": ""})
    with pytest.raises(
        ConfigError,
        match=r"Requested 2 tasks but only 3 were assigned\. "
        r"Received: SLURM_PROCID='1'",
    ):
        workers.slurm_tf_config(
            9000,
            dict(
                SLURM_TWO_NODES,
                SLURM_STEP_TASKS_PER_NODE="3",
                SLURM_STEP_NODELIST="n1",
                CUDA_VISIBLE_DEVICES="",
            ),
        )


def test_cluster_flag_conflicts_exit_2(tiny_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}}')
    result = CliRunner().invoke(main, ["run", "quickstart_classify", "--cluster", "slurm"])
    assert result.exit_code == 2 and "TF_CONFIG is already set" in result.output
    result = CliRunner().invoke(
        main, ["run", "quickstart_classify", "--cluster", "slurm", "--workers", "2"]
    )
    assert result.exit_code == 2 and "--cluster and --workers exclude each other" in result.output
