"""One source for each constant, and no import cycle between the integration's modules."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import custom_components.realtime_voice as integration
from custom_components.realtime_voice import const

PACKAGE = Path(integration.__file__).parent
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_manifest_zeroconf_type_is_the_link_protocols() -> None:
    manifest = json.loads((PACKAGE / "manifest.json").read_text())
    assert manifest["zeroconf"] == [const.ZEROCONF_TYPE]


def test_each_constant_is_written_once() -> None:
    """Ports, the zeroconf type, the default endpoint, models and voices are each spelled out in one
    module; every other module imports them."""
    literals = {
        const.DEFAULT_PORT: "core/link/protocol.py",
        const.ZEROCONF_TYPE: "core/link/protocol.py",
        const.DEFAULT_URL: "core/realtime/settings.py",
        const.DEFAULT_MODEL: "core/realtime/registry.py",
        const.DEFAULT_LEGACY_MODEL: "core/realtime/registry.py",
    }
    for value, home in literals.items():
        where = sorted(
            {
                str(path.relative_to(PACKAGE))
                for path in SOURCES
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Constant) and node.value == value
            }
        )
        assert where == [home], f"{value!r} spelled out in {where}"


def _name(path: Path) -> str:
    """``path``'s module name inside the integration ("" for the integration's own __init__)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The integration's modules that ``path`` imports, also inside functions (a lazy import that
    closes a cycle is still a cycle), but not under ``if TYPE_CHECKING:``."""
    name = _name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    package = [part for part in package if part]
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only or not (isinstance(node, ast.ImportFrom) and node.level):
            continue
        base = package[: len(package) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
        # from .x import y: y may be a submodule (only it is imported, after x) or a name of x
        submodules = {f"{target}.{a.name}".lstrip(".") for a in node.names}
        if submodules <= modules:
            found |= submodules
        else:
            found.add(target)
    return found & modules


def test_no_import_cycle() -> None:
    modules = {_name(p): p for p in SOURCES}
    graph = {name: _imports(path, set(modules)) for name, path in modules.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                todo.extend(graph.get(current, ()))
        return False

    cycles = sorted(
        (a, b) for a, targets in graph.items() for b in targets if a < b and reaches(b, a)
    )
    assert ("config_flow", "options_flow") not in cycles
    assert cycles == [], cycles
