"""The code's shape: no import circles, and imports at the top of their module (pyproject.toml has the layers)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = {"edgelab": REPO / "harness" / "edgelab", "edgelab_operator": REPO / "operator" / "edgelab_operator"}
EDGEAPP = SOURCES["edgelab"] / "edgeapp"  # the store's own app, baked into its image: not the harness
MAX_INNER_IMPORTS = 5  # each with a comment saying why it cannot be at the top


@pytest.mark.parametrize("package", sorted(SOURCES))
def test_no_module_imports_itself_through_others(package: str) -> None:
    graph = grimp.build_graph(package)
    circles = sorted({tuple(sorted((a, b))) for a in graph.modules for b in graph.find_modules_directly_imported_by(a)
                      if graph.chain_exists(importer=b, imported=a)})
    assert circles == []


def _inner_imports() -> list[str]:
    found = []
    for root in SOURCES.values():
        for f in sorted(root.rglob("*.py")):
            if f.is_relative_to(EDGEAPP):
                continue
            for fn in ast.walk(ast.parse(f.read_text())):
                if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    found += [f"{f.relative_to(REPO)}:{n.lineno}" for n in ast.walk(fn)
                              if isinstance(n, ast.Import | ast.ImportFrom)]
    return found


def test_imports_inside_functions_are_few() -> None:
    assert len(_inner_imports()) <= MAX_INNER_IMPORTS, _inner_imports()


def test_no_private_name_is_used_across_modules() -> None:
    """A leading underscore means "this module's own": no other module imports it or reaches for it."""
    ours = {"edgelab", "edgelab_operator"}
    found = []
    for root in SOURCES.values():
        for f in sorted(root.rglob("*.py")):
            if f.is_relative_to(EDGEAPP):
                continue
            tree = ast.parse(f.read_text())
            modules = set()
            for n in ast.walk(tree):
                if isinstance(n, ast.ImportFrom) and (n.level or (n.module or "").split(".")[0] in ours):
                    found += [f"{f.relative_to(REPO)}:{n.lineno} imports {a.name}" for a in n.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
                    modules |= {a.asname or a.name for a in n.names}
            found += [f"{f.relative_to(REPO)}:{n.lineno} uses {n.value.id}.{n.attr}" for n in ast.walk(tree)
                      if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in modules
                      and n.attr.startswith("_") and not n.attr.startswith("__")]
    assert found == []
