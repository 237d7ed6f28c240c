"""The package's layers in the data's order: a module imports only from its own subpackage or the ones below it."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "equinet"
LAYERS = ("core", "data", "features", "models", "training", "inference", "evaluation", "workflow", "cli")


def layer(module: str) -> int:
    """A dotted module's layer: the index of its subpackage (equinet itself, the API, stands above them all)."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else len(LAYERS)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every equinet import in a file, at its top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "equinet":
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "equinet" else [node.module]
            found += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "equinet"]
    return found


def test_every_import_points_down() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for line, name in imports(path):
            if layer(name) > layer(module) and module not in ("equinet.__init__", "equinet.__main__"):
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    assert not upward, "\n".join(upward)


def test_the_top_level_holds_only_the_subpackages() -> None:
    top = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert top == {"__init__.py", "__main__.py", *LAYERS}
    assert all((PACKAGE / name / "__init__.py").is_file() for name in LAYERS)


def test_the_tests_mirror_the_layers() -> None:
    """tests/<layer>/ holds a layer's tests; the project-wide ones (layers, wheel, safety) stand at the top."""
    folders = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders <= set(LAYERS) and {"core", "data", "features", "training", "evaluation"} <= folders


def test_the_layer_test_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("from equinet.cli.tables import print_json\n\ndef f():\n    from equinet.training import rundir\n")
    assert [layer(name) for _, name in imports(bad)] == [8, 4]
    assert layer("equinet.core.labels") < layer("equinet.data.store") < layer("equinet.cli.commands")
