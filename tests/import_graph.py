"""The import graph of the integration and of the satellite, for the import-circle checks in
tests/test_packaging.py (issues #26, #28): a module that needs another's behaviour takes a narrow
interface (a Protocol) instead of importing it back.

Every import counts, also those under ``if TYPE_CHECKING:`` and inside functions (a circle hidden
that way is still one module knowing the other's insides). ``from package import name`` counts as
an import of the submodule when ``name`` is one, else of the package's ``__init__``. The imports
are read with ast (no import-graph library is installed); the cycle is found by the standard
library's graphlib.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HACS = ROOT / "custom_components" / "realtime_voice"
PACKAGE = "custom_components.realtime_voice"
# its link/ is a symlink to the integration's core/link: walked too
SATELLITE = ROOT / "satellite" / "realtime_voice_satellite"
SATELLITE_PACKAGE = "realtime_voice_satellite"


def module_name(path: Path, top: Path = HACS, package: str = PACKAGE) -> str:
    parts = list(path.relative_to(top).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def imports_in(source: str, name: str, *, package: bool, modules: set[str]) -> set[str]:
    """The integration's modules that the module ``name`` (``source``) imports."""
    here = name.split(".")
    if not package:
        here.pop()
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = here[: len(here) - node.level + 1]
                module = ".".join([*base, *([module] if module else [])])
            for alias in node.names:
                if f"{module}.{alias.name}" in modules:
                    found.add(f"{module}.{alias.name}")
                elif module in modules:
                    found.add(module)
    return found - {name}


def import_graph(top: Path = HACS, package: str = PACKAGE) -> dict[str, set[str]]:
    paths = {
        module_name(path, top, package): path for path in top.rglob("*.py", recurse_symlinks=True)
    }
    return {
        name: imports_in(
            path.read_text(), name, package=path.name == "__init__.py", modules=set(paths)
        )
        for name, path in paths.items()
    }


def check(graph: dict[str, set[str]], package: str = PACKAGE) -> None:
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        cycle = " -> ".join(name.removeprefix(package + ".") for name in err.args[1])
        pytest.fail(f"import circle: {cycle}")
