"""SavedModel export: raw strings in, labels and probabilities out, preprocessing inside the graph.

The export is portable: every LSTM is switched to the generic kernel before tracing, so no
`CudnnRNNV3` op (GPU-only) enters the graph, and the saved graph is scanned to prove it.
"""

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from nlp_lstm.errors import ExportError
from nlp_lstm.models.cudnn import _lstm_layers

GPU_ONLY_OPS = ("CudnnRNNV3", "CudnnRNN", "CudnnRNNV2", "CudnnRNNBackprop", "CudnnRNNBackpropV3")


class ClassifierServing(tf.Module):
    """The serving module: stages -> model -> {label, label_id, probabilities}."""

    def __init__(self, stages, model, label_names):
        super().__init__(name="nlp_lstm_classifier")
        self.stages = list(stages)
        self.model = model
        self.label_names = tf.constant(label_names, dtype=tf.string)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def classify(self, text):
        x = text
        for stage in self.stages:
            x = stage(x)
        probabilities = tf.cast(self.model(x, training=False), tf.float32)
        label_id = tf.argmax(probabilities, axis=-1)
        return {"label": tf.gather(self.label_names, label_id), "label_id": label_id,
                "probabilities": probabilities}


def graph_ops(export_dir):
    """Every op type in a SavedModel (graph and function library)."""
    from tensorflow.core.protobuf import saved_model_pb2
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(export_dir) / "saved_model.pb").read_bytes())
    ops = set()
    for meta_graph in proto.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def export_classifier(stages, model, label_names, export_dir, signature="serving_default",
                      verify_texts=None):
    """Writes the classifier SavedModel to `export_dir` atomically; returns a summary of checks."""
    def verify(tmp, module):
        return {"max_abs_difference": verify_export(tmp, module, verify_texts, signature)}
    return save_portable(model, lambda: ClassifierServing(stages, model, label_names),
                         lambda module: {signature: module.classify}, export_dir,
                         verify if verify_texts else None)


def save_portable(model, make_module, signatures, export_dir, verify=None):
    """Saves `make_module()` with every LSTM on the generic kernel, checks the graph for GPU-only
    ops, runs `verify(tmp_dir, module)`, then moves the export into place atomically."""
    export_dir = Path(export_dir)
    layers = _lstm_layers(model)
    previous = [layer.use_cudnn for layer in layers]
    for layer in layers:
        layer.use_cudnn = False
    module = make_module()
    tmp = Path(tempfile.mkdtemp(dir=export_dir.parent, prefix=f".{export_dir.name}.tmp-"))
    try:
        named = signatures(module)
        tf.saved_model.save(module, str(tmp), signatures=named)
        found = sorted(graph_ops(tmp) & set(GPU_ONLY_OPS))
        if found:
            raise ExportError(f"The exported graph contains GPU-only ops {found}; it would not "
                              f"serve on a CPU-only machine. This is a bug in nlp_lstm's export.")
        summary = {"signature": ", ".join(named), "gpu_only_ops": found, "path": str(export_dir)}
        if verify is not None:
            summary.update(verify(tmp, module))
        old = export_dir.with_name(f".{export_dir.name}.old")
        if export_dir.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(export_dir, old)
        os.replace(tmp, export_dir)
        if old.exists():
            shutil.rmtree(old)
        return summary
    finally:
        for layer, value in zip(layers, previous):
            layer.use_cudnn = value
        if tmp.exists():
            shutil.rmtree(tmp)


def verify_export(export_dir, module, texts, signature):
    """Reloads the SavedModel and checks its probabilities match the in-memory model."""
    loaded = tf.saved_model.load(str(export_dir))
    text = tf.constant(texts)
    got = loaded.signatures[signature](text=text)["probabilities"].numpy()
    expected = module.classify(text)["probabilities"].numpy()
    difference = float(np.max(np.abs(got - expected))) if got.size else 0.0
    if not np.isfinite(got).all() or difference > 1e-4:
        raise ExportError(f"The reloaded SavedModel disagrees with the trained model (max abs "
                          f"difference {difference:.2e}). The export is not trustworthy.")
    return difference


def load_export(path):
    """Loads an exported SavedModel (registers the tensorflow-text ops first)."""
    import tensorflow_text  # noqa: F401  (registers the ops the graph uses)
    path = Path(path)
    if (path / "export" / "saved_model.pb").is_file():
        path = path / "export"
    if not (path / "saved_model.pb").is_file():
        raise ExportError(f"{path} is neither a SavedModel nor a run directory with export/. "
                          f"Run `nlp-lstm export RUN_DIR` first.")
    return tf.saved_model.load(str(path))
