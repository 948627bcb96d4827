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
def test_readme_api_examples(tmp_path, monkeypatch, classifier_run, translator_run,
                             generator_run):
    runs = tmp_path / "runs"
    runs.mkdir()
    for name, run in (("quickstart_classify", classifier_run),
                      ("quickstart_translate", translator_run),
                      ("quickstart_generate", generator_run)):
        (runs / name).symlink_to(run, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for index, block in enumerate(_examples()):
        runner.run(parser.get_doctest(block, {}, f"README[{index}]", str(README), 0))
    result = runner.summarize(verbose=False)
    assert result.attempted > 10 and result.failed == 0
