"""The container tier: the satellite's image (satellite/Containerfile) built and run with podman.

It needs root (podman's rootful storage, debootstrap for the base image); elsewhere these tests
are skipped. CI runs as root, where a skip fails (tests/conftest.py), so there they always run:
scripts/setup-container installs podman and makes the base image when they are missing.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="the container tests need root (rootful podman, debootstrap)")
    for item in items:
        if "tests/container/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """The container's link is published on 127.0.0.1."""
