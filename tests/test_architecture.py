"""Architecture rules checked on the source: imports, registrations and docstrings."""

import ast
import inspect
from pathlib import Path

import keras
import pytest

import nlp_lstm
from nlp_lstm.stages import STAGES

PACKAGE = Path(nlp_lstm.__file__).resolve().parent
MODULES = sorted(PACKAGE.rglob("*.py"))


def rel(path):
    return path.relative_to(PACKAGE).as_posix()


def imported_modules(nodes):
    """Top-level names of the modules that import statements among `nodes` import."""
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def module_level_nodes(tree):
    """Statements that run at import: the module body, including inside if/try/with blocks,
    but not inside functions or classes' methods."""
    out = []
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        out.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return out


def roots(names):
    return {name.split(".")[0] for name in names}


def parse(path):
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_modules_found():
    assert PACKAGE / "cli" / "base.py" in MODULES
    assert PACKAGE / "stages" / "tokenizers.py" in MODULES


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_only_cli_imports_click(path):
    tree = parse(path)
    uses_click = "click" in roots(imported_modules(ast.walk(tree)))
    assert not uses_click or rel(path).startswith("cli/"), f"{rel(path)} imports click"
    if rel(path) == "cli/base.py":
        assert uses_click


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_tensorflow_text_imported_at_module_level_only_in_tokenizers(path):
    tree = parse(path)
    at_module_level = "tensorflow_text" in roots(imported_modules(module_level_nodes(tree)))
    assert at_module_level == (rel(path) == "stages/tokenizers.py"), (
        f"{rel(path)} imports tensorflow_text at module level"
    )


def test_module_level_walker_skips_function_bodies():
    tree = ast.parse(
        "import a\ntry:\n    import b\nexcept ImportError:\n    pass\n"
        "def f():\n    import c\nclass K:\n    import d\n    def m(self):\n"
        "        import e\n"
    )
    assert imported_modules(module_level_nodes(tree)) == {"a", "b", "d"}
    assert imported_modules(ast.walk(tree)) == {"a", "b", "c", "d", "e"}


STAGE_NAMES = STAGES.names()


def test_registry_holds_every_stage():
    assert {
        "character_tokenizer",
        "sequence_packer",
        "text_normalizer",
        "unicode_script_tokenizer",
        "vocabulary",
        "whitespace_tokenizer",
        "wordpiece_tokenizer",
    } <= set(STAGE_NAMES)
    import nlp_lstm.stages as stages

    for name in STAGE_NAMES:
        assert STAGES.get(name).__name__ in stages.__all__, "exported from nlp_lstm.stages"


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_stage_is_keras_serializable(name):
    cls = STAGES.get(name)
    assert cls.registry_name == name
    assert keras.saving.get_registered_object(f"nlp_lstm>{cls.__name__}") is cls
    assert keras.saving.get_registered_name(cls) == f"nlp_lstm>{cls.__name__}"


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_stage_docstring_has_an_example(name):
    cls = STAGES.get(name)
    doc = inspect.getdoc(cls)
    assert doc, f"{cls.__name__} has no docstring"
    assert "Example:" in doc, f"{cls.__name__} docstring has no Example: block"
    assert f"nlp_lstm.stages.{cls.__name__}" in doc, "the example uses the public path"


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_stage_config_keys_are_constructor_arguments(name):
    cls = STAGES.get(name)
    params = inspect.signature(cls.__init__).parameters
    for key in cls.config_keys:
        assert key in params, f"{cls.__name__}.config_keys lists {key!r}, not an argument"


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports(path):
    """Modules of nlp_lstm that `path` imports anywhere (module level or inside functions)."""
    known = {module_name(p) for p in MODULES}
    out = set()
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in out if m in known}


def import_graph():
    """Module -> the package modules it imports; a package's __init__ and its own submodules do
    not count as depending on each other (the __init__ only hands names on)."""
    graph = {}
    for path in MODULES:
        name = module_name(path)
        graph[name] = {
            t
            for t in package_imports(path)
            if t != name and not t.startswith(name + ".") and not name.startswith(t + ".")
        }
    return graph


def find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return trail[trail.index(target) :] + [target]
            if target not in state:
                found = visit(target, trail + [target])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_package():
    assert find_cycle(import_graph()) is None


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_no_module_over_500_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 500, f"{rel(path)} has {lines} lines; split it"


def test_runner_reaches_tasks_only_through_the_registry():
    imported = import_graph()["nlp_lstm.pipeline"]
    assert "nlp_lstm.tasks" in imported
    assert not {m for m in imported if m.startswith("nlp_lstm.tasks.")}, imported
    graph = import_graph()
    for module in (m for m in graph if m.startswith("nlp_lstm.tasks.")):
        assert not {m for m in graph[module] if m in ("nlp_lstm.pipeline", "nlp_lstm.cli")}


def test_every_task_module_is_registered():
    from nlp_lstm.tasks import TASKS

    folders = {p.parent.name for p in (PACKAGE / "tasks").glob("*/task.py")}
    assert set(TASKS.names()) == folders
    for name in TASKS.names():
        assert TASKS.get(name).__module__ == f"nlp_lstm.tasks.{name}.task"


def _task_name_literals(path, names):
    """(line, literal) of each string constant in `path` that is exactly a task's name."""
    return [
        (node.lineno, node.value)
        for node in ast.walk(parse(path))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
    ]


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_no_module_outside_tasks_names_a_task(path):
    """A task's facts live in its folder: other modules ask the task through TASKS, so adding a
    task is one folder and never an edit of a table elsewhere."""
    from nlp_lstm.tasks import TASKS

    if rel(path).startswith(("tasks/", "presets/")):
        pytest.skip("a task's own folder and the shipped pipelines name tasks")
    found = _task_name_literals(path, set(TASKS.names()))
    assert not found, f"{rel(path)} names tasks by string literals: {found}"


def test_the_task_literal_check_finds_a_literal(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('KIND = "translation"\n"""a docstring about translation"""\n')
    assert _task_name_literals(module, {"translation"}) == [(1, "translation")]
