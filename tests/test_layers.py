"""The engine's packages import only those below them, and never the web framework or the service.

record < allocate < rules < decide < tell < policy; errors and limits (the root's leaves) may be imported by
all; api (the root's front door) by none of them.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"
LAYERS = ("record", "allocate", "rules", "decide", "tell", "policy")
LEAVES = {"errors", "limits", ""}  # "" is the root package itself (its __version__)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every import of the engine in a module: the first part under the root, or a
    foreign top-level module."""
    package = path.parent.relative_to(ENGINE).parts
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(package)[:len(package) - (node.level - 1)] if node.level > 1 else list(package)
            parts = base + (node.module.split(".") if node.module else [])
            if not parts and node.names:
                parts = [node.names[0].name]
            found.append((node.lineno, parts[0] if parts else ""))
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, "!" + node.module.split(".")[0]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, "!" + alias.name.split(".")[0]) for alias in node.names]
    return found


MODULES = sorted(p for p in ENGINE.rglob("*.py") if p.parent.name in LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ENGINE)))
def test_a_package_imports_only_those_below_it(path):
    own = LAYERS.index(path.parent.name)
    for line, target in imports(path):
        where = f"{path.relative_to(ENGINE)}:{line} imports {target}"
        assert target not in ("!fastapi", "!starlette", "!uvicorn", "!rules_service", "!rules_cli"), where
        if target.startswith("!") or target in LEAVES or target == "__version__":
            continue
        assert target != "api", where
        assert target in LAYERS and LAYERS.index(target) <= own, where


def test_every_module_of_the_engine_sits_in_a_package_but_the_roots():
    assert sorted(p.name for p in ENGINE.glob("*.py")) == ["__init__.py", "api.py", "errors.py", "limits.py"]
