"""One direction of flow: ingest -> store -> assistant core -> interfaces -> ui.py; nothing imports upward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# a module of each layer may import only from the layers listed for it (and the outside world)
ALLOWED = {
    "ingest": {"ingest"},
    "store": {"ingest", "store"},
    "assistant": {"ingest", "store", "assistant", "prompts", "corpus"},
    "assistant.interfaces": {"ingest", "store", "assistant", "assistant.interfaces", "prompts", "corpus"},
}
OURS = ("ingest", "store", "assistant", "prompts", "corpus", "ui")


def _layer(module: str) -> str:
    return "assistant.interfaces" if module.startswith("assistant.interfaces") else module.split(".")[0]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {n for n in names if n.split(".")[0] in OURS}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in ("ingest", "store", "assistant"):
        for path in sorted((ROOT / package).rglob("*.py")):
            found.append((".".join(path.relative_to(ROOT).with_suffix("").parts), path))
    return found


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_no_module_imports_a_layer_above_its_own(module: str, path: Path):
    allowed = ALLOWED[_layer(module)]
    upward = sorted(n for n in _imports(path) if _layer(n) not in allowed)
    assert not upward, f"{module} imports {upward} from a layer above it"


def test_the_checker_sees_an_upward_import(tmp_path: Path):
    bad = tmp_path / "bad.py"
    bad.write_text("from assistant.interfaces.cli import app\nimport ui\nfrom store.collection import Collection\n")
    assert _imports(bad) == {"assistant.interfaces.cli", "assistant.interfaces.cli.app", "ui", "store.collection",
                             "store.collection.Collection"}
    assert {_layer(n) for n in _imports(bad)} - ALLOWED["assistant"] == {"assistant.interfaces", "ui"}
