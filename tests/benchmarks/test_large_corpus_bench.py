"""The large-corpus benchmark's generators and pipelines: each task's corpus has the shape its
reader expects, and each pipeline validates (the benchmark itself runs for many minutes)."""

import csv

import pytest

from benchmarks import large_corpus
from nlp_lstm.config.loading import load_config


@pytest.mark.parametrize("task", ["classification", "generation", "translation"])
def test_each_task_gets_its_corpus_and_a_valid_pipeline(tmp_path, task):
    path = tmp_path / f"corpus{large_corpus.SUFFIX[task]}"
    lines = large_corpus.write_corpus(path, 50_000, seed=3, task=task)
    assert path.stat().st_size >= 50_000
    text = path.read_text(encoding="utf-8")
    if task == "generation":
        assert lines == text.count("\n") and "\t" not in text
    else:
        rows = list(csv.reader(text.splitlines(), delimiter="\t"))
        assert rows[0] == (["text", "label"] if task == "classification" else ["source", "target"])
        assert len(rows) == lines + 1 and all(len(row) == 2 and all(row) for row in rows[1:])
    if task == "translation":
        source, target = rows[1]
        assert target.split() == ["x" + word for word in reversed(source.split())]
    yaml = tmp_path / "pipeline.yaml"
    yaml.write_text(
        large_corpus.PIPELINES[task].format(path=path, streaming="always", epochs=1),
        encoding="utf-8",
    )
    config = load_config(yaml)
    assert config.task == task and config.data.path == str(path)
