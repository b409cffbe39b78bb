"""The shape of the code: commands on top, packages below, imports only downwards."""

from __future__ import annotations

import ast

from .conftest import REPO

PACKAGE = REPO / "tsr"
COMMANDS = {"train", "sweep", "bench", "evaluate", "predict", "export", "report", "compare"}
# what each package may import from tsr (besides itself); commands may import anything
BASE = {"tsr.errors"}
ALLOWED: dict[str, set[str]] = {
    "tsr": set(),  # tsr/__init__.py
    "tsr.errors": set(),
    "tsr.cli": BASE | {"tsr.config", "tsr.io"},  # the command-line check composes configs
    "tsr.config": BASE,
    "tsr.io": BASE,
    "tsr.metrics": BASE,
    "tsr.data": BASE | {"tsr.config", "tsr.io"},
    "tsr.models": BASE | {"tsr.config"},
    "tsr.tensorboard": BASE | {"tsr.config", "tsr.io", "tsr.metrics"},
    "tsr.reporting": BASE | {"tsr.io", "tsr.config"},
    "tsr.inference": BASE
    | {"tsr.config", "tsr.io", "tsr.data", "tsr.models", "tsr.tensorboard", "tsr.reporting"}
    | {"tsr.metrics"},
}
# training loads distillation teachers with inference's one safe checkpoint loader
ALLOWED["tsr.training"] = (
    BASE
    | {"tsr.config", "tsr.io", "tsr.data", "tsr.models", "tsr.tensorboard", "tsr.metrics"}
    | {"tsr.inference"}
)
ALLOWED["tsr.sweeps"] = ALLOWED["tsr.training"] | {"tsr.training"}
ALLOWED["tsr.benchmarks"] = ALLOWED["tsr.training"] | {"tsr.training"}


def _unit(module: str) -> str:
    """tsr.data.gtsrb -> tsr.data; tsr.train -> tsr.train."""
    return ".".join(module.split(".")[:2])


def _imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        unit = _unit(module)
        found.setdefault(unit, set()).update(
            _unit(n) for n in names if n.split(".")[0] == "tsr" and _unit(n) != unit
        )
    return found


def test_the_package_root_holds_only_commands_and_their_contract() -> None:
    loose = {p.stem for p in PACKAGE.glob("*.py")} - COMMANDS - {"__init__", "cli", "errors"}
    assert not loose, f"library modules at the package root: {sorted(loose)}"


def test_imports_go_only_downwards() -> None:
    wrong = []
    for unit, imported in _imports().items():
        if unit.removeprefix("tsr.") in COMMANDS:
            continue
        assert unit in ALLOWED, f"new package {unit}: give it a place in ALLOWED"
        wrong += [f"{unit} imports {name}" for name in sorted(imported - ALLOWED[unit])]
    assert not wrong, wrong


def test_no_library_code_imports_a_command() -> None:
    commands = {f"tsr.{name}" for name in COMMANDS}
    importers = [
        unit
        for unit, imported in _imports().items()
        if unit not in commands and imported & commands
    ]
    assert not importers, importers
