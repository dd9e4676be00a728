"""What HACS ships is only what Home Assistant imports (issue #14 item 1), checked in real HA:
shipped_modules_check.py in a pytest process of its own (it re-imports the integration)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = Path(__file__).with_name("shipped_modules_check.py")


def test_every_shipped_module_is_imported_by_home_assistant() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(CHECK),
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:cov",
        ],
        cwd=CHECK.parents[2],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
