"""SavedModel export of a task's serving module: raw inputs in, preprocessing inside the graph.

The export is portable: every LSTM is switched to the generic kernel before tracing, so no
`CudnnRNNV3` op (GPU-only) enters the graph, and the saved graph is scanned to prove it.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

import tensorflow as tf

from nlp_lstm.errors import ExportError
from nlp_lstm.models.cudnn import _lstm_layers

GPU_ONLY_OPS = ("CudnnRNNV3", "CudnnRNN", "CudnnRNNV2", "CudnnRNNBackprop", "CudnnRNNBackpropV3")
# What an export says of itself (task, signatures, labels, defaults). TF Serving ignores
# assets.extra/, and the file travels with the export when it is copied without its run.
METADATA_FILE = Path("assets.extra") / "nlp_lstm.json"


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


def save_portable(model, make_module, signatures, export_dir, verify=None, metadata=None):
    """Saves `make_module()` with every LSTM on the generic kernel, checks the graph for GPU-only
    ops, writes `metadata` (JSON) into assets.extra/, runs `verify(tmp_dir, module)`, then moves
    the export into place atomically."""
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
            raise ExportError(
                f"The exported graph contains GPU-only ops {found}; it would not "
                f"serve on a CPU-only machine. This is a bug in nlp_lstm's export."
            )
        summary = {"signature": ", ".join(named), "gpu_only_ops": found, "path": str(export_dir)}
        (tmp / METADATA_FILE).parent.mkdir(parents=True, exist_ok=True)
        (tmp / METADATA_FILE).write_text(
            json.dumps(
                {**(metadata or {}), "signatures": sorted(named)},
                indent=1,
                ensure_ascii=False,
                allow_nan=False,
            ),
            encoding="utf-8",
        )
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


def export_path(path):
    """The SavedModel directory of `path`: an export itself, or a run directory's export/."""
    path = Path(path)
    if (path / "export" / "saved_model.pb").is_file():
        path = path / "export"
    if not (path / "saved_model.pb").is_file():
        raise ExportError(
            f"{path} is neither a SavedModel nor a run directory with export/. "
            f"Run `nlp-lstm export RUN_DIR` first."
        )
    return path


def read_metadata(path):
    """What the export at `path` says of itself ({} for an export written without it)."""
    file = export_path(path) / METADATA_FILE
    if not file.is_file():
        return {}
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ExportError(
            f"{file} is not readable JSON ({err}). Re-export with `nlp-lstm export RUN_DIR`."
        ) from err


def load_export(path):
    """Loads an exported SavedModel (registers the tensorflow-text ops first)."""
    import tensorflow_text  # noqa: F401  (registers the ops the graph uses)

    return tf.saved_model.load(str(export_path(path)))
