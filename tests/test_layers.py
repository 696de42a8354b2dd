"""The package's layers: folders whose imports all point down, and no import cycle.

    scenario → sim → result → runs → analysis → cli, lab

Every import counts, those inside functions and those for type checking only included: a
layer that needs an upper one, even lazily, is a cycle in the design. ``carnet/__init__.py`` is
the public face, which may name anything (lazily); ``errors`` and ``_version`` sit under every
layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import carnet

PACKAGE = Path(carnet.__file__).parent
#: Each module's layer, by the first part of its name under ``carnet``.
LAYERS = {
    "_version": 0,
    "errors": 0,
    "scenario": 1,
    "sim": 2,
    "result": 3,
    "runs": 4,
    "analysis": 5,
    "cli": 6,
    "lab": 6,
    "__main__": 7,
}


def module_name(path: Path) -> str:
    parts = ["carnet", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every carnet module that ``path`` imports, anywhere in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("carnet")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if not base.startswith("carnet"):
                continue
            for alias in node.names:  # `from carnet.cli import audit` imports a module
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES} - {name}


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports(path) for name, path in MODULES.items()}


def layer(name: str) -> int:
    return 8 if name == "carnet" else LAYERS[name.split(".")[1]]


def test_every_module_is_in_a_layer() -> None:
    for name in MODULES:
        if name != "carnet":
            assert name.split(".")[1] in LAYERS, f"{name} is in no layer"


def test_imports_point_down() -> None:
    upward = [
        f"{name} ({layer(name)}) imports {target} ({layer(target)})"
        for name, targets in sorted(GRAPH.items())
        if name != "carnet"
        for target in sorted(targets)
        if target == "carnet" or layer(target) > layer(name)
    ]
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def test_no_import_cycle() -> None:
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " → ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        path.append(node)
        for target in sorted(GRAPH[node]):
            visit(target)
        path.pop()
        done.add(node)

    for name in sorted(GRAPH):
        visit(name)


def test_the_check_sees_a_cycle() -> None:
    """The graph is real: the CLI imports the library, and the layer of a cycle is caught."""
    assert "carnet.runs.local" in GRAPH["carnet.cli.app"] or any(
        t.startswith("carnet.runs") for t in GRAPH["carnet.cli.app"]
    )
    assert layer("carnet.cli.app") > layer("carnet.sim.day") > layer("carnet.scenario.schema")
