"""The package's layout as the README describes it: every module listed, imports pointing down."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "messaging"


def layout_order() -> list[str]:
    """Module names in the order the README's Layout section lists them, routes last."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Layout") :]
    block = section[section.index("```") + 3 : section.index("```", section.index("```") + 3)]
    modules = re.findall(r"^  ([a-z_]+)\.py", block, flags=re.MULTILINE)
    return [*modules, "routes"]


def package_modules() -> dict[str, Path]:
    """Every module of the package by the name it has in the layout (routes count as one)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "routes":
            found.setdefault("routes", []).append(path)
        elif path.name != "__init__.py":
            found[path.stem] = [path]
    return found


def imported_modules(path: Path) -> set[str]:
    """The package modules a file imports, by their layout name."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("messaging"):
            parts = node.module.split(".")
            if len(parts) == 1:
                names.update(alias.name for alias in node.names)
            else:
                names.add(parts[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "messaging" and len(parts) > 1:
                    names.add(parts[1])
    return names


def test_readme_lists_every_module_once():
    order = layout_order()
    assert len(order) == len(set(order))
    assert sorted(order) == sorted(package_modules())


def test_imports_point_down_the_layout():
    order = layout_order()
    rank = {name: index for index, name in enumerate(order)}
    for name, paths in package_modules().items():
        for path in paths:
            for imported in imported_modules(path) - {name}:
                assert rank[imported] < rank[name], (
                    f"{path.name} imports {imported}, listed below it"
                )


def test_every_module_says_what_it_owns_in_its_first_line():
    for path in PACKAGE.rglob("*.py"):
        docstring = ast.get_docstring(ast.parse(path.read_text()))
        assert docstring and docstring.strip(), f"{path} has no docstring"
