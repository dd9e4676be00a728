"""Realtime Voice: a Raspberry Pi voice satellite speaking through OpenAI's Realtime API.

One config entry per satellite: a link to the satellite (it is the server, HA connects), a Realtime
session held warm for it, and its entities on one device. The OpenAI key is in an account entry that
the satellites share (account.py); it runs nothing of its own.
"""

# ruff: noqa: E402 - the version check runs before the imports that need a supported release
from __future__ import annotations

from .supported_version import check_home_assistant_version

check_home_assistant_version()

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers.storage import Store

from .account import account_of, async_move_key_to_account, is_account
from .const import (
    CONF_ACCESS_KEY,
    CONF_FOLLOW_UP_SECONDS,
    CONF_HOST,
    CONF_PORT,
    CONF_WAKE_THRESHOLD,
    CONF_WAKE_WORDS,
    DOMAIN,
    InvalidOptionError,
    check_choices,
    needs_account,
)
from .core.link import LinkAuthError, LinkConnectionError, LinkOutdatedError
from .device import async_register_device, async_track_device_info
from .repairs import async_check_model_shutdown, async_report_outdated_satellite
from .satellite_link import SatelliteConnection
from .session_manager import SessionManager
from .timers import STORAGE_VERSION, SatelliteTimers, storage_key

_LOGGER = logging.getLogger(__name__)

PLATFORMS: list[Platform] = [
    Platform.ASSIST_SATELLITE,
    Platform.BINARY_SENSOR,
    Platform.MEDIA_PLAYER,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.UPDATE,
]


@dataclass
class RealtimeVoiceData:
    link: SatelliteConnection
    manager: SessionManager
    device_id: str
    timers: SatelliteTimers


type RealtimeVoiceConfigEntry = ConfigEntry[RealtimeVoiceData]


async def async_migrate_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Version 1 kept the OpenAI key in each satellite's entry: it moves to a shared account."""
    if entry.version > 2:  # written by a newer release: HA keeps it as it is
        return False
    if entry.version == 1:
        await async_move_key_to_account(hass, entry)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: RealtimeVoiceConfigEntry) -> bool:
    if is_account(entry):
        return True  # its satellites read the key when they open a session
    try:
        check_choices(entry.options)
    except InvalidOptionError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="invalid_option",
            translation_placeholders={
                "name": entry.title,
                "key": err.key,
                "value": repr(err.value),
                "expected": ", ".join(err.expected),
            },
        ) from err
    if needs_account(entry.options) and account_of(hass, entry) is None:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="account_missing",
            translation_placeholders={"name": entry.title},
        )
    link = SatelliteConnection(
        hass,
        host=entry.data[CONF_HOST],
        port=entry.data[CONF_PORT],
        access_key=entry.data[CONF_ACCESS_KEY],
        name=entry.title,
        # a running satellite that starts refusing the key (reinstalled with a new one)
        on_auth_failed=lambda: entry.async_start_reauth(hass),
        settings=lambda: satellite_settings(entry.options),
    )
    try:
        info = await link.async_connect_first()
    except LinkAuthError as err:  # HA starts re-authentication (config_flow.py)
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="access_key_refused",
            translation_placeholders={"name": entry.title},
        ) from err
    except LinkConnectionError as err:
        if isinstance(err, LinkOutdatedError):  # speaks the unencrypted link: a repair says how
            await async_report_outdated_satellite(hass, entry, outdated=True)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="satellite_unreachable",
            translation_placeholders={"name": entry.title, "error": str(err)},
        ) from err
    await async_report_outdated_satellite(hass, entry, outdated=False)
    device = async_register_device(hass, entry, info)
    entry.async_on_unload(async_track_device_info(hass, link, device.id))
    manager = SessionManager(hass, entry, link, device_id=device.id)
    # A timer device before the session is described: the Assist API then offers timer tools.
    timers = SatelliteTimers(
        hass, entry_id=entry.entry_id, device_id=device.id, link=link, ringer=manager.announcer
    )
    entry.async_on_unload(timers.async_start())
    entry.runtime_data = RealtimeVoiceData(
        link=link, manager=manager, device_id=device.id, timers=timers
    )

    try:
        await manager.async_start()
        await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    except BaseException:
        await manager.async_stop()
        await link.async_close()
        raise
    await timers.async_restore()

    async def stopping(_event: Event) -> None:
        # HA does not unload entries when it stops: close the link with a close frame ourselves,
        # so that the satellite sees Home Assistant leave rather than a dropped connection (1006).
        await manager.async_stop()
        await link.async_close()

    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, stopping))
    async_check_model_shutdown(hass, entry)  # (no model in pipeline mode: no issue)
    return True


def satellite_settings(options: Mapping[str, Any]) -> dict[str, object]:
    """The options that the satellite itself applies (wake words, sensitivity, follow-up)."""
    settings: dict[str, object] = {}
    if CONF_WAKE_WORDS in options:
        settings["wake_words_active"] = list(options[CONF_WAKE_WORDS])
    if options.get(CONF_WAKE_THRESHOLD) is not None:
        settings["threshold"] = float(options[CONF_WAKE_THRESHOLD])
    else:  # not set in HA: the satellite's own (satellite.yaml, else each model's recommendation)
        settings["own_threshold"] = True
    if CONF_FOLLOW_UP_SECONDS in options:
        settings["follow_up_s"] = float(options[CONF_FOLLOW_UP_SECONDS])
    return settings


async def async_send_satellite_settings(
    link: SatelliteConnection, options: Mapping[str, Any]
) -> None:
    """Give a connected satellite these options now; an offline one gets them when it reconnects
    (every connect sends them)."""
    if link.available:
        await link.configure(**satellite_settings(options))


# Options the satellite applies itself: changing only these needs no new Realtime session, so the
# options flow sends them to the satellite instead of reloading the entry (options_flow.py).
SATELLITE_OPTIONS = frozenset({CONF_WAKE_WORDS, CONF_WAKE_THRESHOLD, CONF_FOLLOW_UP_SECONDS})


async def async_unload_entry(hass: HomeAssistant, entry: RealtimeVoiceConfigEntry) -> bool:
    if is_account(entry):
        return True
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.manager.async_stop()
        await entry.runtime_data.link.async_close()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: RealtimeVoiceConfigEntry) -> None:
    """The stored timers of a removed satellite go with it."""
    if is_account(entry):
        return
    await Store[dict[str, Any]](hass, STORAGE_VERSION, storage_key(entry.entry_id)).async_remove()
