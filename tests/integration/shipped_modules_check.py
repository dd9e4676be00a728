"""What HACS ships is only what Home Assistant imports (issue #14 item 1): every module under
custom_components/realtime_voice/ is imported when HA sets up an entry and loads its platforms.

Run in a pytest process of its own by test_shipped_modules.py (pytest collects a file named on its
command line whatever its name): the integration's modules are taken out of sys.modules first, so
that what the fixtures imported does not count, and HA's registries (the config flow handler among
them) then hold classes of this copy, which no other test may see."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant

from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import LinkSatellite
from .waiting import load_entry

PACKAGE = "custom_components.realtime_voice"
HACS = Path(__file__).resolve().parents[2] / "custom_components" / "realtime_voice"


def shipped_modules() -> set[str]:
    names = set()
    for path in HACS.rglob("*.py"):
        parts = list(path.relative_to(HACS).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.add(".".join([PACKAGE, *parts]))
    return names


@pytest.fixture
def fresh_integration_modules() -> None:
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


async def test_every_shipped_module_is_imported_by_home_assistant(
    fresh_integration_modules: None,
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
) -> None:
    assert not [n for n in sys.modules if n.startswith(PACKAGE + ".")]
    await load_entry(hass, entry_for(standin, satellite))
    never_imported = sorted(shipped_modules() - set(sys.modules))
    assert not never_imported, "shipped by HACS, never imported by HA:\n" + "\n".join(
        never_imported
    )
