"""The layering rules, read from the source: imports run down (app -> fusion -> perception -> native),
the modules import without circles, and only app/gui imports Qt."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = {"native": 0, "perception": 1, "fusion": 2, "app": 3}
QT_PACKAGES = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {}
    for top in LAYERS:
        for path in sorted((REPO / top).rglob("*.py")):
            out[_module_name(path)] = path
    return out


MODULES = _modules()


def _imports(path: Path, module: str, top_level_only: bool) -> list[tuple[str, int]]:
    """(imported module, line) for every import; relative imports resolved; `from a import b` gives
    a.b when that is a module, else a."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # also imports under module-level if/try (not inside functions)
        stack, nodes = list(tree.body), []
        while stack:
            n = stack.pop()
            nodes.append(n)
            if isinstance(n, (ast.If, ast.Try)):
                if isinstance(n, ast.If) and _is_type_checking(n.test):
                    continue
                stack.extend(n.body + n.orelse + getattr(n, "finalbody", []))
                for h in getattr(n, "handlers", []):
                    stack.extend(h.body)
    out = []
    for n in nodes:
        if isinstance(n, ast.Import):
            out += [(a.name, n.lineno) for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                pkg = module.split(".") if is_pkg else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - (n.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            for a in n.names:
                sub = f"{base}.{a.name}" if base else a.name
                out.append((sub if sub in MODULES else base, n.lineno))
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def test_imports_run_down_the_layers():
    upward = []
    for module, path in MODULES.items():
        layer = LAYERS[module.split(".")[0]]
        for target, line in _imports(path, module, top_level_only=False):
            top = target.split(".")[0]
            if top in LAYERS and LAYERS[top] > layer:
                upward.append(f"{path.relative_to(REPO)}:{line}: {module} imports {target} (up a layer)")
    assert not upward, "\n".join(upward)


def test_qt_is_imported_only_in_app_gui():
    found = []
    for module, path in MODULES.items():
        if module.startswith("app.gui"):
            continue
        for target, line in _imports(path, module, top_level_only=False):
            if target.split(".")[0] in QT_PACKAGES:
                found.append(f"{path.relative_to(REPO)}:{line}: {module} imports {target}")
    assert not found, "\n".join(found)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _package_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def test_no_import_circles():
    """No two modules depend on each other, not even through an import deferred into a function (that
    only hides the circle from the interpreter). A package's __init__ importing its own submodules is how
    a package exposes them, so parent-package edges are left out."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, _ in _imports(path, module, top_level_only=False):
            if (
                target in MODULES
                and target != module
                and target not in _package_parents(module)
                and module not in _package_parents(target)
            ):
                graph[module].add(target)
    cycles = _cycles(graph)
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize(
    "graph,expected",
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_circle_finder_finds_circles(graph, expected):
    assert _cycles(graph) == expected


def test_the_layer_rule_catches_an_upward_import(tmp_path):
    """The checker itself: a perception module importing fusion is reported."""
    path = REPO / "perception" / "stream" / "types.py"
    fake = tmp_path / "types.py"
    fake.write_text(path.read_text() + "\nfrom fusion.spec import load_spec\n")
    targets = [t for t, _ in _imports(fake, "perception.stream.types", top_level_only=False)]
    assert "fusion.spec" in targets
