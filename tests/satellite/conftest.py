"""Satellite tests run real servers on loopback: sockets are allowed (to 127.0.0.1 only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from realtime_voice_satellite.agent import service
from realtime_voice_satellite.agent.certificate import ensure_certificate
from realtime_voice_satellite.link import LinkCertificate


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """pytest-homeassistant-custom-component blocks sockets; the allow-list stays 127.0.0.1."""


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where agents made from a configuration without a file keep their certificate (one per run)."""
    return tmp_path_factory.mktemp("satellite-state")


@pytest.fixture(autouse=True)
def _state_directory(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As systemd's StateDirectory= would: agents made in tests write nothing into $HOME."""
    monkeypatch.setenv("STATE_DIRECTORY", str(state_dir))


@pytest.fixture(autouse=True)
def _no_installed_service(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not this machine's satellite service, nor the user who ran sudo: --setup's guard against
    root (setup/guided.py) sees what a test gives it, also when the tests run with sudo on a Pi."""
    monkeypatch.setattr(service, "UNIT_FILE", state_dir / "not-installed.service")
    monkeypatch.delenv("SUDO_USER", raising=False)


@pytest.fixture(scope="session")
def certificate(state_dir: Path) -> LinkCertificate:
    return ensure_certificate(state_dir, "test")
