"""The arm64 tier runs only where scripts/setup-arm64 built its root filesystem (as root, with
qemu-user-static): elsewhere these tests are not collected at all, rather than skipped (a skip
fails in CI, whose set-up does not build this tier; it takes about 3.5 minutes once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOTFS = ROOT / ".cache" / "arm64" / "rootfs"
VENV = "/opt/realtime-voice-satellite/venv"


def tier_ready() -> bool:
    return (ROOTFS / VENV.lstrip("/") / ".setup-stamp").is_file() and os.geteuid() == 0


collect_ignore_glob = [] if tier_ready() else ["test_*.py"]


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """The satellite in the root filesystem shares this machine's network: its link is on
    127.0.0.1."""
