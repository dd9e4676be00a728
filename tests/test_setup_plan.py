"""scripts/setup --demo sets up only what scripts/demo runs (.venv and the newest Home Assistant),
and scripts/setup all of it; both read through --dry-run, on a copy of the scripts without .venv or
.cache, which nothing may change (the shared environments are never built here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .test_setup_script import ha_versions

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ha_versions()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """What the scripts read: scripts/, both pyproject.toml files and the manifest."""
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    for name in (
        "pyproject.toml",
        "satellite/pyproject.toml",
        "custom_components/realtime_voice/manifest.json",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def files(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")}


def plan(checkout: Path, *args: str) -> str:
    before = files(checkout)
    result = subprocess.run(
        [str(checkout / "scripts" / "setup"), *args, "--dry-run"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "REALTIME_VOICE_HA_MODE": ""},
    )
    if "needs root" in result.stderr:  # chroot mode as another user: what setup-ha says then
        pytest.skip("no Python 3.14 here and not root: scripts/setup-ha stops before its plan")
    assert result.returncode == 0, result.stderr
    assert files(checkout) == before  # a dry run changes nothing
    return result.stdout


def test_setup_for_the_demo_plans_the_newest_home_assistant_only(checkout: Path) -> None:
    out = plan(checkout, "--demo")
    assert f"homeassistant=={VERSIONS['HA_NEWEST']} into " in out
    assert "/newest" in out
    for left_out in (VERSIONS["HA_TEST"], VERSIONS["HA_OLDEST"], "pytest-homeassistant"):
        assert left_out not in out
    for left_out in ("chromium", "jackd2", "libasound2-plugins", "arm64", "container"):
        assert left_out not in out
    assert "Would install the satellite (./satellite) and the repository's tools" in out  # .venv
    assert "Done (for scripts/demo" in out


def test_setup_plans_every_home_assistant_and_the_tiers(checkout: Path) -> None:
    out = plan(checkout)
    for version in ("HA_TEST", "HA_NEWEST", "HA_OLDEST"):
        assert f"homeassistant=={VERSIONS[version]}" in out
    assert f"pytest-homeassistant-custom-component=={VERSIONS['HA_TEST_HARNESS']}" in out
    if os.geteuid() == 0:
        assert "Would set up the arm64 tier (scripts/setup-arm64) and the container tier" in out


def test_the_demo_sets_up_for_the_demo() -> None:
    demo = (ROOT / "scripts" / "demo").read_text()
    assert "\nscripts/setup --demo\n" in demo


@pytest.mark.parametrize("script", ["setup", "setup-ha"])
def test_an_unknown_option_is_refused_with_the_usage(script: str, checkout: Path) -> None:
    result = subprocess.run(
        [str(checkout / "scripts" / script), "--quick"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"usage: scripts/{script} [" in result.stderr
    assert not (checkout / ".venv").exists()
    assert not (checkout / ".cache").exists()
