"""A satellite's stable id: Home Assistant's unique id for it, the same across restarts and renames.

Derived from the machine id (systemd's /etc/machine-id, else the host name) and the link port, so that
two satellites on one machine (different ports) differ, and hashed so that the machine id is not shown.
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))


def machine_id(files: tuple[Path, ...] = MACHINE_ID_FILES) -> str:
    for path in files:
        try:
            value = path.read_text().strip()
        except OSError:
            continue
        if value:
            return value
    return socket.gethostname()


def satellite_id(port: int, files: tuple[Path, ...] = MACHINE_ID_FILES) -> str:
    digest = hashlib.sha256(f"realtime-voice:{machine_id(files)}:{port}".encode()).hexdigest()
    return digest[:16]
