"""The SavedModel serves raw strings in a fresh process that imports only TF (and TF-Text's ops)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from nlp_lstm import build_pipeline, load, load_config
from nlp_lstm.export.saved_model import GPU_ONLY_OPS, graph_ops
from tests.testing import call_export_in_fresh_process, write_pipeline

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
    served = call_export_in_fresh_process(
        exported.run_dir / "export", [("serving_default", {"text": TEXTS})]
    )
    (out,) = served["outputs"]
    probabilities = np.asarray(out["probabilities"])
    assert probabilities.shape == (len(TEXTS), 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # Each label is the most probable class's name, as nlp_lstm.load predicts in this process.
    predictor = load(exported.run_dir)
    labels = predictor.labels
    assert out["label"] == [labels[i] for i in probabilities.argmax(axis=1)]
    assert out["label_id"] == probabilities.argmax(axis=1).tolist()
    local = predictor.predict(TEXTS)
    assert out["label"] == [row["label"] for row in local]
    np.testing.assert_allclose(
        probabilities, [[row["probabilities"][name] for name in labels] for row in local], atol=1e-5
    )


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
