"""The layout keeps the architecture visible: no import circles, no module
past 500 lines, every package installed, and the README's map of the folders
matching the tree. Each test reads the code as text (the standard library's
``ast``), so a circle hidden behind a lazy import inside a function counts too."""

from __future__ import annotations

import ast
import importlib
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Repository folder -> the package name it is installed as (pyproject.toml's package-dir).
PACKAGE_ROOTS = {"diagnose": "diagnose", "checks": "diagnose.checks", "reports": "diagnose.reports"}
MAX_LINES = 500


def modules() -> dict[str, Path]:
    """Every module of the installed package, by its dotted name."""
    out: dict[str, Path] = {}
    for folder, dotted in PACKAGE_ROOTS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([dotted, *parts])] = path
    return out


def packages() -> set[str]:
    return {name for name, path in modules().items() if path.name == "__init__.py"}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules *name* imports, anywhere in its body (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle_between_modules():
    cycle = find_cycle(graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def _top_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):  # module level, including under if/try
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def test_every_import_of_the_project_resolves():
    """A lazy import inside a function runs only when that path runs: check
    them all here, so a moved module cannot leave one pointing nowhere."""
    known = modules()
    broken = []
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                broken += [f"{name}: import {a.name}" for a in node.names
                           if a.name.startswith("diagnose.") and a.name not in known]
            elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("diagnose"):
                if node.module not in known:
                    broken.append(f"{name}: from {node.module}")
                    continue
                defined = _top_names(known[node.module])
                broken += [f"{name}: from {node.module} import {a.name}" for a in node.names
                           if f"{node.module}.{a.name}" not in known and a.name not in defined]
    assert not broken, "imports that point nowhere:\n" + "\n".join(broken)


def test_every_module_imports_alone_in_any_order():
    names = sorted(n for n in modules() if not n.endswith("__main__"))  # __main__ runs the CLI
    random.Random(len(names)).shuffle(names)
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    for order in (names, list(reversed(names))):
        done = subprocess.run([sys.executable, "-c", code, *order], capture_output=True, text=True,
                              cwd=ROOT, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_is_at_most_500_lines(name):
    path = modules()[name]
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, (f"{path.relative_to(ROOT)} has {n} lines: split it along probe / parsers / "
                            f"judge (see README, How it works)")


def test_pyproject_installs_every_package():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # folders of data only (no Python in them), installed for the code to read
    data_only = {name for name, folder in project["tool"]["setuptools"].get("package-dir", {}).items()
                 if not any((ROOT / folder).glob("*.py"))}
    listed = set(project["tool"]["setuptools"]["packages"]) - data_only
    assert listed == packages(), (f"pyproject.toml [tool.setuptools] packages: add {sorted(packages() - listed)}, "
                                  f"drop {sorted(listed - packages())}")


def readme_map() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    block = text[text.index("<!-- map -->"):text.index("<!-- /map -->")]
    out = {}
    for line in block.splitlines():
        line = line.strip()
        if line.endswith("/") or "/ " in line:
            folder, _, what = line.partition(" ")
            if folder.endswith("/"):
                out[folder] = what.strip()
    return out


def tree_folders() -> set[str]:
    """Every package folder, plus the other top-level folders a newcomer opens."""
    out = set()
    for folder in PACKAGE_ROOTS:
        for init in (ROOT / folder).rglob("__init__.py"):
            out.add(str(init.parent.relative_to(ROOT)) + "/")
    for extra in ("reports/templates", "tests", "tests/rigs", "tests/data", "bench", "docs", "scripts"):
        if (ROOT / extra).is_dir():
            out.add(extra + "/")
    return out


def test_readme_map_matches_the_tree():
    documented = readme_map()
    real = tree_folders()
    assert set(documented) == real, (f"README's map (between <!-- map --> and <!-- /map -->): "
                                     f"add {sorted(real - set(documented))}, drop {sorted(set(documented) - real)}")
    assert all(documented.values()), "every folder in the README's map says what it holds"


def test_every_check_lives_in_its_own_package():
    from diagnose.registry import BUILTINS

    for name, target in BUILTINS.items():
        module = target.split(":")[0]
        assert module.startswith("diagnose.checks.") and module.count(".") == 3, (name, target)
        assert importlib.util.find_spec(module) is not None, (name, target)
