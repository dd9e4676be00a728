"""The Pi install (`pip install .[satellite]`) must ship every subpackage of the HA-free core."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "custom_components" / "realtime_voice" / "core"


def test_every_core_subpackage_is_packaged() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    on_disk = {
        "realtime_voice_core" + "".join(f".{p}" for p in init.parent.relative_to(CORE).parts)
        for init in CORE.rglob("__init__.py")
    }
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_core_never_imports_homeassistant_or_the_integration() -> None:
    offenders = []
    for source in CORE.rglob("*.py"):
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module:
                    names = [node.module]
                elif node.level > len(source.relative_to(CORE).parent.parts) + 1:
                    names = ["<relative import leaving core/>"]
            offenders += [
                f"{source.relative_to(ROOT)}:{node.lineno} {n}"
                for n in names
                if n.startswith(("homeassistant", "custom_components", "<relative"))
            ]
    assert offenders == []


def test_core_imports_without_homeassistant() -> None:
    """Import the core in a fresh interpreter where homeassistant cannot be imported."""
    code = (
        "import sys; sys.modules['homeassistant'] = None\n"
        "import realtime_voice_core.cli as cli\n"
        "cli.build_parser()\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
