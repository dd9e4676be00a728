"""One run of scripts/release per test session, shared by the tests of the release and of the
install from a package index (tests/conftest.py makes ``release`` a fixture of every test).

It runs on a copy of the repository (the files git knows, as in scripts/setup-arm64), never on
this tree: the copy's CHANGELOG.md gets its Unreleased section named as the next patch version,
as a releaser does, and scripts/release sets that version in the copy, builds the satellite's sdist
and wheel and the HACS zip into ``dist`` and verifies them (the wheel installed from a local index
on Python 3.11 hears a wake word)."""

from __future__ import annotations

import datetime
import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
RELEASE_SCRIPT = ROOT / "scripts" / "release"


def release_module() -> ModuleType:
    """scripts/release as a module (it has no .py suffix)."""
    loader = importlib.machinery.SourceFileLoader("realtime_voice_release", str(RELEASE_SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module
    loader.exec_module(module)
    return module


def copy_repository(target: Path) -> Path:
    """The files git knows (committed or not, ignored ones left out), symlinks kept."""
    target.mkdir(parents=True)
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    # a file deleted but not yet committed is still listed
    existing = b"\0".join(f for f in files.split(b"\0") if f and os.path.lexists(ROOT / f.decode()))
    packed = subprocess.run(
        ["tar", "-c", "--null", "-T", "-"], cwd=ROOT, input=existing, capture_output=True,
        check=True,
    ).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(target)], input=packed, check=True)
    return target


def next_patch(version: str) -> str:
    major, minor, patch = (int(p) for p in re.findall(r"\d+", version)[:3])
    return f"{major}.{minor}.{patch + 1}"


@dataclass
class Release:
    root: Path  # the copy of the repository, at ``version``
    dist: Path
    version: str
    output: str  # what scripts/release printed

    @property
    def wheel(self) -> Path:
        return self.dist / f"realtime_voice_satellite-{self.version}-py3-none-any.whl"

    @property
    def sdist(self) -> Path:
        return self.dist / f"realtime_voice_satellite-{self.version}.tar.gz"


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    work = tmp_path_factory.mktemp("release")
    root = copy_repository(work / "repository")
    current = release_module().manifest_version(
        root / "custom_components" / "realtime_voice" / "manifest.json"
    )
    version = next_patch(current)
    changelog = root / "CHANGELOG.md"
    text = changelog.read_text()
    assert "\n## [Unreleased]\n" in text
    changelog.write_text(
        text.replace(
            "\n## [Unreleased]\n",
            f"\n## [Unreleased]\n\n## [{version}] - {datetime.date.today().isoformat()}\n",
        )
    )
    result = subprocess.run(
        [sys.executable, str(root / "scripts" / "release"), version, "--dist", str(work / "dist")],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return Release(root, work / "dist", version, result.stdout)
