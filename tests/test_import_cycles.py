"""No import circle among the integration's modules (issue #26), nor among the satellite's (issue
#28): a module that needs another's behaviour takes a narrow interface (a Protocol) instead of
importing it back.

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


def test_the_integration_has_no_import_circle() -> None:
    graph = import_graph()
    assert len(graph) > 40  # the walk found the integration
    check(graph)


def test_the_satellite_has_no_import_circle() -> None:
    graph = import_graph(SATELLITE, SATELLITE_PACKAGE)
    assert len(graph) > 50  # the walk found the satellite, its link too
    assert f"{SATELLITE_PACKAGE}.link.protocol" in graph
    check(graph, SATELLITE_PACKAGE)


def test_the_running_agent_imports_neither_its_setup_nor_its_commands() -> None:
    """The running agent apart from setting up (setup/: --setup, --doctor, devices) and from the
    command line (commands/, cli.py): those use the agent, never the other way round."""
    graph = import_graph(SATELLITE, SATELLITE_PACKAGE)
    outside = (
        f"{SATELLITE_PACKAGE}.setup",
        f"{SATELLITE_PACKAGE}.commands",
        f"{SATELLITE_PACKAGE}.cli",
    )
    offenders = [
        f"{name} imports {imported}"
        for name, imports in graph.items()
        if name.startswith(f"{SATELLITE_PACKAGE}.agent")
        for imported in imports
        if imported.startswith(outside)
    ]
    assert offenders == []


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
