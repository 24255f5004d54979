"""The layout of the code: imports point one way, and no module outgrows a read.

A circle of imports means two modules own one thing between them; a module of
many hundred lines owns several. Both are checked on the source text, with
:mod:`ast`, so that the check needs no import of the code it judges.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "gradest"
BENCHMARKS = ROOT / "benchmarks"
# "At most about 400 lines": what one reading takes in (docstrings included).
MAX_LINES = 400


def _module_name(path: Path, root: Path, package: str | None) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(([package] if package else []) + parts)


def import_graph(root: Path, package: str | None = None) -> dict[str, set[str]]:
    """Module -> the modules of `root` it imports at module level.

    `package` is the package `root` is (relative imports resolve against it);
    None for a folder of scripts importing each other by plain name. Imports
    inside functions are deferred on purpose and do not count.
    """
    modules = {_module_name(p, root, package): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")[: None if is_package else -1]
                    base = base[: len(base) - node.level + 1]
                    parent = ".".join(base + ([node.module] if node.module else []))
                else:
                    parent = node.module
                # `from . import x` imports the submodule x where there is one.
                subs = {f"{parent}.{a.name}" for a in node.names} & modules.keys()
                targets.update(subs if len(subs) == len(node.names)
                               else subs | {parent})
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of `graph` (as the modules along it), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node, path):
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (circle := visit(target, path)):
                return circle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (circle := visit(node, [])):
            return circle
    return None


def test_find_circle_finds_one():
    # The check itself: a circle three modules long, and a tree without one.
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_import_graph_reads_relative_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .sub import thing\n")
    (package / "sub" / "__init__.py").write_text("from .. import other\n")
    (package / "sub" / "thing.py").write_text("def f():\n    from .. import other\n")
    (package / "other.py").write_text("from .sub import thing\n")
    graph = import_graph(package, "pkg")
    assert graph == {"pkg": {"pkg.sub.thing"}, "pkg.sub": {"pkg.other"},
                     "pkg.sub.thing": set(), "pkg.other": {"pkg.sub.thing"}}


@pytest.mark.parametrize("root, package", [(SOURCE, "gradest"),
                                           (BENCHMARKS, None)],
                         ids=["src", "benchmarks"])
def test_no_import_circle(root, package):
    graph = import_graph(root, package)
    assert len(graph) > 5
    assert find_circle(graph) is None


def test_benchmark_cases_import_only_the_measuring_helpers():
    graph = import_graph(BENCHMARKS)
    for module, targets in graph.items():
        if module not in {"run", "_measure"}:
            assert targets <= {"_measure"}, module
    assert graph["_measure"] == set()


@pytest.mark.parametrize("path", sorted(SOURCE.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(SOURCE)))
def test_module_size(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines"


@pytest.mark.parametrize("path", sorted(SOURCE.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(SOURCE)))
def test_module_says_what_it_owns(path):
    if path.name == "_version.py":
        return
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring and len(docstring.split()) >= 4, path
