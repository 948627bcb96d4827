"""The SavedModel serves raw strings in a fresh process that imports only TF and TF-Text."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nlp_lstm import build_pipeline, load_config
from nlp_lstm.export.saved_model import GPU_ONLY_OPS, graph_ops
from tests.testing import write_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEXTS = ["a gorgeous witty film", "", "x" * 100_000, "naïve café — 東京 🙂 \u0301", "awful script"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_corpus):
    root = tmp_path_factory.mktemp("export")
    result = build_pipeline(load_config(write_pipeline(root, tiny_corpus))).run(
        run_dir=root / "run"
    )
    return result


def test_fresh_process_serves_strings(exported):
    export_dir = exported.run_dir / "export"
    script = textwrap.dedent(f"""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # registers the TF-Text ops the graph uses
        model = tf.saved_model.load({str(export_dir)!r})
        out = model.signatures["serving_default"](text=tf.constant(json.loads(sys.stdin.read())))
        print(json.dumps({{"labels": [b.decode() for b in out["label"].numpy()],
                          "probabilities": out["probabilities"].numpy().tolist(),
                          "nlp_lstm_imported": any(m.startswith("nlp_lstm") for m in sys.modules)}}))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(TEXTS),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not served["nlp_lstm_imported"]
    assert len(served["labels"]) == len(TEXTS)
    assert set(served["labels"]) <= {"negative", "positive"}
    probabilities = np.asarray(served["probabilities"])
    assert probabilities.shape == (len(TEXTS), 2) and np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    import tensorflow as tf

    from nlp_lstm.export.saved_model import load_export

    local = load_export(exported.run_dir).signatures["serving_default"](text=tf.constant(TEXTS))
    np.testing.assert_allclose(local["probabilities"].numpy(), probabilities, atol=1e-5)


def test_export_has_no_gpu_only_ops(exported):
    ops = graph_ops(exported.run_dir / "export")
    assert not ops & set(GPU_ONLY_OPS)
    assert any(op.startswith("CaseFold") or op == "UnicodeTranscode" for op in ops)


def test_saved_model_cli_lists_the_signature(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.path.exists(cli):
        pytest.skip("saved_model_cli is not installed next to this Python")
    proc = subprocess.run(
        [cli, "show", "--dir", str(exported.run_dir / "export"), "--all"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "signature_def['serving_default']" in proc.stdout
    assert "inputs['text']" in proc.stdout and "outputs['label']" in proc.stdout
