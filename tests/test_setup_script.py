"""scripts/setup and scripts/setup-ha: a missing Python ends with a message that says which version
is needed and how to get it (exit 1, no traceback); a second run does nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from subprocess import CompletedProcess

ROOT = Path(__file__).resolve().parents[1]


def copy_of_scripts(tmp_path: Path) -> Path:
    """A copy of the project's scripts without .venv or .cache."""
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def ha_versions() -> dict[str, str]:
    """scripts/ha-versions as a dict (HA_OLDEST, HA_NEWEST, HA_TEST, ...)."""
    text = (ROOT / "scripts" / "ha-versions").read_text()
    return dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )


def run(
    args: list[str], timeout: float, env: dict[str, str] | None = None
) -> CompletedProcess[str]:
    return subprocess.run(
        args, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )


def test_setup_without_python_313_says_what_is_missing(tmp_path: Path) -> None:
    # Run where neither python3.13 nor pyenv can be found.
    copy_of_scripts(tmp_path)
    result = run(
        ["bash", str(tmp_path / "scripts" / "setup")],
        120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 1
    assert "Python 3.13 was not found" in result.stderr
    assert "pyenv install 3.13" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".venv").exists()


def test_setup_ha_without_python_314_and_without_root_says_what_is_needed() -> None:
    """No Python >= 3.14.2 (PATH, pyenv) and not root, so no root filesystem can be built."""
    # a folder that user nobody can read (pytest's tmp_path lies under a folder only root can enter)
    tmp_path = Path(tempfile.mkdtemp(prefix="realtime-voice-setup-"))
    tmp_path.chmod(0o755)
    try:
        _run_setup_ha_as_nobody(tmp_path)
    finally:
        shutil.rmtree(tmp_path)


def _run_setup_ha_as_nobody(tmp_path: Path) -> None:
    copy_of_scripts(tmp_path)
    minimum = ha_versions()["HA_PYTHON_MIN"]
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if os.getuid() != 0:
        as_nobody = []
    result = run(
        [*as_nobody, "bash", str(tmp_path / "scripts" / "setup-ha")],
        60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"needs Python >= {minimum}" in result.stderr
    assert "pyenv install 3.14" in result.stderr
    assert "needs root" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".cache").exists()


def test_ha_run_before_setup_says_to_run_setup(tmp_path: Path) -> None:
    copy_of_scripts(tmp_path)
    result = run(["bash", str(tmp_path / "scripts" / "ha-run"), "newest", "hass", "--version"], 30)
    assert result.returncode == 2
    assert "run scripts/setup" in result.stderr


def test_second_setup_is_a_no_op() -> None:
    result = run(["bash", str(ROOT / "scripts" / "setup")], 60)
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    for name in ("test", "newest", "oldest"):
        assert f"({name}) is up to date" in result.stdout


def test_every_ha_environment_runs_its_release() -> None:
    """scripts/ha-run reaches each environment's Home Assistant on Python >= 3.14.2."""
    versions = ha_versions()
    for name, key in (("test", "HA_TEST"), ("newest", "HA_NEWEST"), ("oldest", "HA_OLDEST")):
        check = (
            "import sys; from homeassistant.const import __version__ as v; "
            "print(v, sys.version_info >= (3, 14, 2))"
        )
        result = run([str(ROOT / "scripts" / "ha-run"), name, "python", "-c", check], 60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [versions[key], "True"]
