"""No import circle among the integration's modules (issue #26): a module that needs another's
behaviour takes a narrow interface (a Protocol) instead of importing it back.

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

HACS = Path(__file__).resolve().parents[1] / "custom_components" / "realtime_voice"
PACKAGE = "custom_components.realtime_voice"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(HACS).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


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


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in HACS.rglob("*.py")}
    return {
        name: imports_in(
            path.read_text(), name, package=path.name == "__init__.py", modules=set(paths)
        )
        for name, path in paths.items()
    }


def check(graph: dict[str, set[str]]) -> None:
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        cycle = " -> ".join(name.removeprefix(PACKAGE + ".") for name in err.args[1])
        pytest.fail(f"import circle: {cycle}")


def test_the_integration_has_no_import_circle() -> None:
    graph = import_graph()
    assert len(graph) > 40  # the walk found the integration
    check(graph)


def test_an_import_back_under_type_checking_is_a_circle() -> None:
    """The check itself, on the circle issue #26 started from."""
    graph = import_graph()
    announcer = f"{PACKAGE}.announcer"
    source = (
        "from typing import TYPE_CHECKING\n"
        "from .core.conversation import brain\n"
        "if TYPE_CHECKING:\n"
        "    from .session_manager import SessionManager\n"
    )
    graph[announcer] = imports_in(source, announcer, package=False, modules=set(graph))
    assert graph[announcer] == {
        f"{PACKAGE}.core.conversation.brain",
        f"{PACKAGE}.session_manager",
    }
    with pytest.raises(pytest.fail.Exception, match=r"import circle: .*announcer"):
        check(graph)
