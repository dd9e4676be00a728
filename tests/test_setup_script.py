"""scripts/setup: a missing Python 3.13 ends with a message that says how to get it, and exit 1."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_setup_without_python_313_says_what_is_missing(tmp_path: Path) -> None:
    # A copy of the project without .venv, run where neither python3.13 nor pyenv can be found.
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    result = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "setup")],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Python 3.13 was not found" in result.stderr
    assert "pyenv install 3.13" in result.stderr
    assert not (tmp_path / ".venv").exists()


def test_second_setup_is_a_no_op() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "setup")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
