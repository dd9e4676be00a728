"""Print the PyPI requirements of Home Assistant components and of everything they depend on.

Home Assistant installs a component's requirements when it first loads it, which needs the network at
run time and is skipped in tests; scripts/setup-ha installs them up front instead, read from the
manifests of the installed Home Assistant so that they always match its version.

Arguments are component domains; ``name?`` marks one that this release may not have (it is skipped
there), and a path to a ``manifest.json`` adds a custom integration with its requirements and
dependencies.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import homeassistant.components

COMPONENTS_DIR = Path(homeassistant.components.__path__[0])


def requirements(roots: list[str]) -> list[str]:
    seen: set[str] = set()
    found: set[str] = set()
    todo: list[str] = []
    for root in roots:
        if root.endswith("manifest.json"):
            manifest = json.loads(Path(root).read_text())
            found.update(manifest.get("requirements", []))
            todo.extend(manifest.get("dependencies", []))
        elif root.endswith("?"):
            if (COMPONENTS_DIR / root[:-1] / "manifest.json").exists():
                todo.append(root[:-1])
        else:
            todo.append(root)
    while todo:
        domain = todo.pop()
        if domain in seen:
            continue
        seen.add(domain)
        manifest_path = COMPONENTS_DIR / domain / "manifest.json"
        if not manifest_path.exists():
            raise SystemExit(f"unknown Home Assistant component {domain!r} (no {manifest_path})")
        manifest = json.loads(manifest_path.read_text())
        found.update(manifest.get("requirements", []))
        todo.extend(manifest.get("dependencies", []))
    return sorted(found)


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1:])))
