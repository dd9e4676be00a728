"""What the satellite's own messages need to know about how it is installed: the command to print
(with its full path: the virtual environment's ``bin`` is not on PATH) and the systemd unit's user.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

# scripts/realtime-voice-satellite.service, as scripts/install-satellite --service installs it.
SERVICE = "realtime-voice-satellite"
UNIT_FILE = Path("/etc/systemd/system") / f"{SERVICE}.service"
COMMAND = "realtime-voice"


def executable() -> str:
    """``realtime-voice`` with the path a user can type: the console script beside this Python
    (``/opt/realtime-voice/.venv/bin/realtime-voice``), else the bare name."""
    beside = Path(sys.executable).with_name(COMMAND)  # not resolved: a venv's python is a symlink
    return str(beside) if beside.is_file() else COMMAND


def service_user() -> str | None:
    """The installed unit's ``User=``, or None without a unit (or one that names none)."""
    try:
        text = UNIT_FILE.read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(r"^User=(\S+)\s*$", text, re.M)
    return found.group(1) if found else None


def sudo_user() -> str | None:
    """The user who ran ``sudo``, unless that was root itself."""
    name = os.environ.get("SUDO_USER", "")
    return name if name and name != "root" else None
