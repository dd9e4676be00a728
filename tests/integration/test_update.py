"""The satellite's update entity (update.py) in real Home Assistant, against the real link server
(link_satellite.py answers ``update`` as the agent does: progress, then a restart with the new
version), and the repair for a satellite too old to speak the link (repairs.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from homeassistant.components.update import ATTR_IN_PROGRESS, ATTR_UPDATE_PERCENTAGE
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from custom_components.realtime_voice import update as update_platform
from custom_components.realtime_voice.const import DOMAIN
from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import LinkSatellite
from .waiting import load_entry, wait_until

ENTITY = "update.kitchen_satellite_software"
MANIFEST = Path(update_platform.__file__).with_name("manifest.json")
LATEST = json.loads(MANIFEST.read_text())["version"]
OLDER = "0.0.9"


@pytest.fixture
async def old_satellite() -> AsyncIterator[LinkSatellite]:
    """A satellite of an older release than this integration's."""
    sat = LinkSatellite()
    sat.info = replace(sat.info, version=OLDER)
    await sat.start()
    yield sat
    if sat._restart is not None:
        await sat._restart
    await sat.stop()


@pytest.fixture
async def loaded(
    hass: HomeAssistant, standin: StandinServer, old_satellite: LinkSatellite
) -> AsyncIterator[MockConfigEntry]:
    entry = entry_for(standin, old_satellite)
    await load_entry(hass, entry)
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)


async def install(hass: HomeAssistant) -> None:
    await hass.services.async_call("update", "install", {"entity_id": ENTITY}, blocking=True)


async def test_the_entity_shows_the_satellites_version_and_the_one_wanted(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    state = hass.states.get(ENTITY)
    assert state is not None
    assert state.state == STATE_ON
    assert state.attributes["installed_version"] == OLDER
    assert state.attributes["latest_version"] == LATEST
    assert state.attributes["title"] == "Realtime Voice satellite"
    assert state.attributes["release_url"].endswith(f"/releases/tag/v{LATEST}")
    assert state.attributes["supported_features"] == (
        update_platform.UpdateEntityFeature.INSTALL
        | update_platform.UpdateEntityFeature.PROGRESS
        | update_platform.UpdateEntityFeature.RELEASE_NOTES
    )
    assert state.attributes[ATTR_IN_PROGRESS] is False


async def test_installing_shows_progress_and_ends_with_the_new_version(
    hass: HomeAssistant, loaded: MockConfigEntry, old_satellite: LinkSatellite
) -> None:
    old_satellite.update_hold = asyncio.Event()
    task = asyncio.create_task(install(hass))

    def progress() -> object:
        state = hass.states.get(ENTITY)
        return state is not None and state.attributes.get(ATTR_UPDATE_PERCENTAGE)

    await wait_until(lambda: hass.states.get(ENTITY).attributes[ATTR_IN_PROGRESS] is True)  # type: ignore[union-attr]
    await wait_until(lambda: hass.states.get(ENTITY).attributes[ATTR_UPDATE_PERCENTAGE] == 0)  # type: ignore[union-attr]
    assert protocol.Update(LATEST) in old_satellite.commands
    assert not task.done()  # HA waits for the satellite
    seen: list[object] = []
    remove = hass.bus.async_listen(
        "state_changed",
        lambda event: (
            seen.append(event.data["new_state"].attributes.get(ATTR_UPDATE_PERCENTAGE))
            if event.data["entity_id"] == ENTITY and event.data["new_state"]
            else None
        ),
    )
    old_satellite.update_hold.set()
    async with asyncio.timeout(30):
        await task  # returns once the satellite is back with the new version
    remove()
    state = hass.states.get(ENTITY)
    assert state is not None
    assert state.state == STATE_OFF
    assert state.attributes["installed_version"] == LATEST
    assert state.attributes[ATTR_IN_PROGRESS] is False
    assert {30, 70, 90, 100} <= set(seen), seen
    device = dr.async_get(hass).async_get(loaded.runtime_data.device_id)
    assert device is not None
    assert device.sw_version == LATEST
    assert loaded.runtime_data.link.version == LATEST


async def test_a_failed_install_names_the_cause_and_the_satellite_goes_on(
    hass: HomeAssistant, loaded: MockConfigEntry, old_satellite: LinkSatellite
) -> None:
    old_satellite.update_plan = "fail"
    with pytest.raises(HomeAssistantError) as raised:
        await install(hass)
    assert str(raised.value) == (
        f"Satellite Kitchen was not updated to {LATEST} and runs its version as before: "
        "the package index has no such version: pip could not install it"
    )
    state = hass.states.get(ENTITY)
    assert state is not None
    assert state.state == STATE_ON
    assert state.attributes["installed_version"] == OLDER
    assert state.attributes[ATTR_IN_PROGRESS] is False
    # the link is still up: the satellite answers
    await hass.services.async_call(
        "number", "set_value", {"entity_id": "number.kitchen_volume", "value": 40}, blocking=True
    )
    await wait_until(lambda: old_satellite.info.volume == pytest.approx(0.4))
    assert loaded.runtime_data.link.available


async def test_a_satellite_of_a_release_before_updates_says_how_to_update_it(
    hass: HomeAssistant, loaded: MockConfigEntry, old_satellite: LinkSatellite
) -> None:
    old_satellite.update_plan = "unknown"
    with pytest.raises(HomeAssistantError) as raised:
        await install(hass)
    assert f"the satellite's version {OLDER} cannot update itself" in str(raised.value)
    assert f"pip install realtime-voice-satellite=={LATEST}" in str(raised.value)
    assert hass.states.get(ENTITY).attributes[ATTR_IN_PROGRESS] is False  # type: ignore[union-attr]


async def test_the_release_notes_are_the_shipped_ones_of_the_latest_version(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await hass_ws_client(hass)

    async def notes() -> str:
        await client.send_json_auto_id({"type": "update/release_notes", "entity_id": ENTITY})
        result = await client.receive_json()
        assert result["success"], result
        return str(result["result"])

    shipped = tmp_path / "release_notes.md"
    monkeypatch.setattr(update_platform, "RELEASE_NOTES", shipped)
    text = f"## [{LATEST}] - 2026-12-07\n\nHome Assistant 2026.5.0 or newer.\n\n- Updates.\n"
    shipped.write_text(text)
    assert await notes() == text
    # notes of another version (an installation between releases), or none: where to read them
    shipped.write_text("## [0.0.1] - 2026-01-01\n\n- Old.\n")
    assert await notes() == (
        f"No release notes for {LATEST} here: see the changelog ({update_platform.RELEASES})."
    )
    shipped.unlink()
    assert (await notes()).startswith(f"No release notes for {LATEST} here")


async def test_a_satellite_too_old_for_the_link_gets_a_repair_naming_the_command(
    hass: HomeAssistant, standin: StandinServer
) -> None:
    """A satellite of the unencrypted link (protocol 2): the entry cannot connect, and the issue
    names the one command to run on the Pi; it goes when the satellite is updated."""

    async def plain_satellite(connection: ServerConnection) -> None:
        hello = {"type": "hello", "protocol": 2, "name": "Old", "version": "0.1", "nonce": "a" * 32}
        await connection.send(json.dumps(hello))
        with contextlib.suppress(ConnectionClosed):
            async for _ in connection:
                pass

    async with serve(plain_satellite, "127.0.0.1", 0) as old:
        port = old.sockets[0].getsockname()[1]
        entry = entry_for(standin, port=port, satellite_id="old-0001", title="Hall")
        entry.add_to_hass(hass)
        assert not await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"satellite_outdated_{entry.entry_id}")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_key == "satellite_outdated"
    assert issue.learn_more_url is not None
    assert issue.learn_more_url.endswith("docs/satellite.md#updating")
    placeholders = issue.translation_placeholders or {}
    assert placeholders["name"] == "Hall"
    assert placeholders["host"] == "127.0.0.1"
    assert placeholders["version"] == LATEST
    assert placeholders["command"] == (
        f"/opt/realtime-voice/.venv/bin/python -m pip install realtime-voice-satellite=={LATEST} "
        "&& sudo systemctl restart realtime-voice-satellite"
    )

    # updated: the satellite speaks the link on that port, the entry sets up, the issue goes
    satellite = LinkSatellite(name="Hall", satellite_id="old-0001")
    await satellite.start(port)
    try:
        await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        assert (
            ir.async_get(hass).async_get_issue(DOMAIN, f"satellite_outdated_{entry.entry_id}")
            is None
        )
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await satellite.stop()
