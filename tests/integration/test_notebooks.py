"""Every notebook executes top to bottom on tiny settings (NLP_LSTM_TINY=1)."""

from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("NLP_LSTM_TINY", "1")
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        f"{path.name} was committed with outputs; strip them"
    )
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    outputs = "".join(
        out.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "Traceback" not in outputs
    expected = {
        "01_text_classification.ipynb": ("positive", "negative"),
        "02_translation.ipynb": ("greedy:", "beam 4:"),
        "03_text_generation.ipynb": ("temperature 1.5",),
        "04_tuning.ipynb": ("retrained best:",),
        "05_forecasting.ipynb": ("next hours of load:",),
    }[path.name]
    assert any(word in outputs for word in expected)
