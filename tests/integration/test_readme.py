"""The README's Python API examples run as doctests against the three trained quickstarts."""

import doctest
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _examples():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [block for block in blocks if block.lstrip().startswith(">>>")]


def test_the_readme_has_api_examples():
    assert any("nlp_lstm.load(" in block for block in _examples())


@pytest.mark.slow
def test_readme_api_examples(tmp_path, monkeypatch, classifier_run, translator_run, generator_run):
    runs = tmp_path / "runs"
    runs.mkdir()
    for name, run in (
        ("quickstart_classify", classifier_run),
        ("quickstart_translate", translator_run),
        ("quickstart_generate", generator_run),
    ):
        (runs / name).symlink_to(run, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    parser, runner = (
        doctest.DocTestParser(),
        doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE),
    )
    for index, block in enumerate(_examples()):
        runner.run(parser.get_doctest(block, {}, f"README[{index}]", str(README), 0))
    result = runner.summarize(verbose=False)
    assert result.attempted > 10 and result.failed == 0


def _block(language, marker):
    blocks = re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return next(block for block in blocks if marker in block)


def test_the_kubernetes_example_gives_each_pod_its_tf_config():
    """The indexed Job's shell line, run by sh as the pod would with JOB_COMPLETION_INDEX=1 (the
    `nlp-lstm run` it starts replaced by a print of TF_CONFIG), gives pod 1 valid TF_CONFIG."""
    import json
    import subprocess
    import sys

    import yaml

    job = yaml.safe_load(_block("yaml", "kind: Job"))
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["sh", "-c"]
    line = container["args"][0]
    assert "&& nlp-lstm run " in line
    shown = (
        line.split("&& nlp-lstm run ")[0]
        + f"&& {sys.executable} -c 'import os; print(os.environ[\"TF_CONFIG\"])'"
    )
    out = subprocess.run(
        ["sh", "-c", shown],
        env={"JOB_COMPLETION_INDEX": "1", "PATH": "/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out) == {
        "cluster": {"worker": ["trainer-0.trainer:12345", "trainer-1.trainer:12345"]},
        "task": {"type": "worker", "index": 1},
    }
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2


def test_the_slurm_example_runs_the_cluster_flag():
    script = _block("bash", "#SBATCH")
    assert "srun nlp-lstm run " in script and "--cluster slurm" in script
