"""The oldest Home Assistant this integration supports, checked before anything else is imported.

HACS refuses to install on an older release (hacs.json); a manual install there would fail on a
missing helper with a traceback. This turns that into one message naming the version needed.
Keep MIN_HA_VERSION equal to hacs.json's "homeassistant" (tests/test_supported_range.py checks).
"""

from __future__ import annotations

from awesomeversion import AwesomeVersion
from homeassistant.const import __version__ as HA_VERSION

MIN_HA_VERSION = "2026.5.0"


class UnsupportedHomeAssistantError(ImportError):
    """This Home Assistant is older than MIN_HA_VERSION."""


def check_home_assistant_version(version: str = HA_VERSION) -> None:
    """Raise UnsupportedHomeAssistantError naming the version needed when ``version`` is older."""
    if AwesomeVersion(version) < AwesomeVersion(MIN_HA_VERSION):
        raise UnsupportedHomeAssistantError(
            f"Realtime Voice Satellite needs Home Assistant {MIN_HA_VERSION} or newer; this is "
            f"{version}. Update Home Assistant, or install an older release of this integration."
        )
