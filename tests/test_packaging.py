"""Packaging promises: pinned TF/TF-Text, the CI command is the README's, sample data is learnable,
and the wheel ships the presets and the sample data but not the generator scripts."""

import configparser
import doctest
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ROOT / "nlp_lstm" / "presets"


def test_tensorflow_and_text_pinned_to_same_minor():
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    requires = parser["options"]["install_requires"]
    tf = re.search(r"^tensorflow~=(\d+\.\d+)\.", requires, re.M)
    text = re.search(r"^tensorflow-text~=(\d+\.\d+)\.", requires, re.M)
    assert tf and text and tf.group(1) == text.group(1) == "2.21"
    for name in ("keras", "keras-tuner", "tensorboard", "datasets", "click"):
        assert re.search(rf"^{name}\b", requires, re.M), name


def test_every_package_the_code_imports_is_declared():
    """Each third-party module imported anywhere in nlp_lstm comes from a distribution named in
    install_requires or an extra, not only as a dependency of one (pandas through datasets)."""
    import ast
    import sys
    from importlib import metadata

    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    declared = parser["options"]["install_requires"] + "".join(
        parser["options.extras_require"].values()
    )
    names = {
        re.split(r"[<>=~!\[;]", line.strip())[0].lower()
        for line in declared.splitlines()
        if line.strip()
    }
    modules = set()
    for path in (ROOT / "nlp_lstm").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
    modules -= set(sys.stdlib_module_names) | {"nlp_lstm"}
    distributions = metadata.packages_distributions()
    undeclared = {
        module: distributions.get(module)
        for module in modules
        if not {d.lower() for d in distributions.get(module, [module])} & names
    }
    assert not undeclared, f"imported but not declared in setup.cfg: {undeclared}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.+?)\n```", readme)
    ci_command = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci_command in commands
    assert any(
        c.startswith(
            "python3 -m venv .venv && .venv/bin/pip install . && "
            ".venv/bin/nlp-lstm run quickstart_classify"
        )
        for c in commands
    )


def test_sample_set_is_balanced_and_shipped():
    from nlp_lstm.data.splitting import SAMPLES_DIR

    rows = (SAMPLES_DIR / "sentiment.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "text\tlabel"
    labels = [row.rsplit("\t", 1)[1] for row in rows[1:]]
    assert len(labels) >= 2000
    assert abs(labels.count("positive") - labels.count("negative")) <= len(labels) * 0.05
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    assert "samples/*.tsv" in parser["options.package_data"]["nlp_lstm"]


def test_mr_data_splits_80_10_10(shared_data):
    from nlp_lstm.config.loading import load_config
    from nlp_lstm.data.texts import read_dataset

    config = load_config(ROOT / "pipelines" / "mr_bilstm.yaml", data_dir=str(shared_data))
    data = read_dataset(config)
    counts = data.counts()
    assert sum(counts.values()) == 10662
    assert counts == {"train": 8530, "validation": 1066, "test": 1066}
    for split in data.splits.values():
        assert abs(split["label"].mean() - 0.5) < 0.01
    assert read_dataset(config).fingerprint == data.fingerprint


@pytest.mark.parametrize("script", ["make_sentiment", "make_play", "make_phrasebook"])
def test_sample_files_regenerate_byte_for_byte(script):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "samples" / f"{script}.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_presets_find_shipped_pipelines_and_search_spaces():
    from nlp_lstm import presets
    from nlp_lstm.errors import ConfigError

    path = presets.find_pipeline("quickstart_classify")
    assert path.is_file() and path.parent == PRESETS / "pipelines"
    search = presets.find_search_space("lstm_small")
    assert search == PRESETS / "configs" / "search" / "lstm_small.yaml"
    assert {"quickstart_classify", "quickstart_generate", "quickstart_translate"} <= set(
        presets.pipeline_names()
    )
    with pytest.raises(
        ConfigError, match=r"Did you mean 'quickstart_classify'\?.*quickstart_generate"
    ):
        presets.find_pipeline("quickstart_clasify")
    clone_path = ROOT / "pipelines" / "quickstart_classify.yaml"
    assert presets.resolve_pipeline(clone_path) == clone_path  # a file wins over a name
    assert presets.resolve_pipeline("quickstart_classify") == path
    with pytest.raises(ConfigError, match=r"File 'nope\.yaml' does not exist.*quickstart_classify"):
        presets.resolve_pipeline("nope.yaml")
    result = doctest.testmod(presets, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed


@pytest.mark.parametrize("name", sorted(p.stem for p in (PRESETS / "pipelines").glob("*.yaml")))
def test_every_shipped_pipeline_loads_and_has_a_description(name, tmp_path):
    from nlp_lstm import presets
    from nlp_lstm.config.loading import load_config

    config = load_config(presets.find_pipeline(name), data_dir=str(tmp_path))  # reads no data
    assert config.name == name
    assert presets.describe_pipeline(presets.find_pipeline(name))


def test_clone_keeps_top_level_pipelines_and_configs():
    for name in ("pipelines", "configs"):
        link = ROOT / name
        assert link.is_symlink() and link.readlink() == Path("nlp_lstm", "presets", name)
    assert (ROOT / "pipelines" / "quickstart_classify.yaml").is_file()


def test_package_data_and_discovery_declared():
    from setuptools import find_namespace_packages

    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    data = parser["options.package_data"]["nlp_lstm"].split()
    assert {
        "presets/pipelines/*.yaml",
        "presets/configs/**/*.yaml",
        "samples/*.tsv",
        "samples/*.txt",
    } <= set(data)
    find = parser["options.packages.find"]
    packages = find_namespace_packages(
        str(ROOT), include=find["include"].split(), exclude=find["exclude"].split()
    )
    assert "nlp_lstm.presets" in packages and "nlp_lstm.presets.configs.search" in packages
    assert all(p == "nlp_lstm" or p.startswith("nlp_lstm.") for p in packages)
    assert not list((ROOT / "nlp_lstm" / "samples").glob("make_*.py"))  # they live in tools/


@pytest.mark.slow
def test_wheel_ships_presets_and_samples_but_no_generators(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = tmp_path.glob("nlp_lstm-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {str(p.relative_to(ROOT)) for p in PRESETS.rglob("*.yaml")}
    shipped |= {f"nlp_lstm/samples/{n}" for n in ("sentiment.tsv", "play.txt", "phrasebook.tsv")}
    assert shipped <= names, shipped - names
    assert "nlp_lstm/presets/__init__.py" in names
    assert not [n for n in names if Path(n).name.startswith("make_") or n.startswith("tools/")]
    assert not [
        n for n in names if n.startswith(("tests/", "benchmarks/", "pipelines/", "configs/"))
    ]
