"""The OpenAI account: one config entry that holds an API key and its endpoint, shared by every
satellite entry that names it (``data["account"]``, the account entry's id).

The key is entered once, for the first satellite, and rotated in one place: one re-authentication of
the account, after which every satellite of it reconnects. docs/configuration.md says why an entry of
its own rather than subentries. A satellite reads its account's data each time it opens a Realtime
session; the account entry itself runs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from .const import (
    CONF_ACCOUNT,
    CONF_API_KEY,
    CONF_KIND,
    CONF_URL,
    DEFAULT_URL,
    DOMAIN,
    KIND_ACCOUNT,
)
from .core.realtime import RealtimeError

# The config flow's source that creates an account entry (a flow creates one entry: the satellite's
# flow and the migration start this one to create the account beside it).
SOURCE_ACCOUNT = "openai_account"

_MIGRATION_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_account_migration")


class AccountMissingError(RealtimeError):
    """The satellite's account entry was removed: no key to open a session with."""

    code = "account_missing"


def is_account(entry: ConfigEntry) -> bool:
    return entry.data.get(CONF_KIND) == KIND_ACCOUNT


@callback
def accounts(hass: HomeAssistant) -> list[ConfigEntry]:
    return [entry for entry in hass.config_entries.async_entries(DOMAIN) if is_account(entry)]


@callback
def account_of(hass: HomeAssistant, entry: ConfigEntry) -> ConfigEntry | None:
    """The account entry that ``entry`` (a satellite) uses, or None if it names none that exists."""
    account_id = entry.data.get(CONF_ACCOUNT)
    account = hass.config_entries.async_get_entry(account_id) if account_id else None
    return account if account is not None and is_account(account) else None


@callback
def satellites_of(hass: HomeAssistant, account: ConfigEntry) -> list[ConfigEntry]:
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.data.get(CONF_ACCOUNT) == account.entry_id
    ]


@callback
def find_account(hass: HomeAssistant, api_key: str, url: str) -> ConfigEntry | None:
    """The account that already holds this key for this endpoint, if any."""
    return next(
        (
            entry
            for entry in accounts(hass)
            if entry.data.get(CONF_API_KEY) == api_key
            and (entry.data.get(CONF_URL) or DEFAULT_URL) == url
        ),
        None,
    )


def account_data(api_key: str, url: str) -> dict[str, Any]:
    return {CONF_KIND: KIND_ACCOUNT, CONF_API_KEY: api_key, CONF_URL: url or DEFAULT_URL}


@callback
def account_title(hass: HomeAssistant, url: str) -> str:
    """The account's title: "OpenAI account", or for another endpoint its host and port (never
    its user, path or query, which may carry a key); numbered when that title is taken."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host and parts.port is not None:
        host = f"{host}:{parts.port}"
    base = "OpenAI account" if url == DEFAULT_URL or not host else f"Realtime account ({host})"
    taken = {entry.title for entry in accounts(hass)}
    title, number = base, 2
    while title in taken:
        title, number = f"{base} {number}", number + 1
    return title


async def async_account_for_key(hass: HomeAssistant, api_key: str, url: str) -> ConfigEntry:
    """The account that holds this key and endpoint, made when there is none (checked by the
    caller)."""
    return find_account(hass, api_key, url) or await async_create_account(hass, api_key, url)


async def async_create_account(hass: HomeAssistant, api_key: str, url: str) -> ConfigEntry:
    """A new account entry for this key and endpoint (checked by the caller)."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ACCOUNT}, data=account_data(api_key, url)
    )
    entry = result.get("result")
    if not isinstance(entry, ConfigEntry):  # the account step always creates one
        raise RuntimeError(f"no account entry was created: {result.get('reason')}")
    return entry


def realtime_config(hass: HomeAssistant, entry: ConfigEntry) -> Mapping[str, Any]:
    """What the Realtime session of satellite ``entry`` is opened with: its account's key and
    endpoint, its own data and options."""
    account = account_of(hass, entry)
    if account is None:
        raise AccountMissingError(
            f"the OpenAI account of {entry.title} was removed; add the satellite again"
        )
    return {
        CONF_API_KEY: account.data[CONF_API_KEY],
        CONF_URL: account.data.get(CONF_URL) or DEFAULT_URL,
        **{key: value for key, value in entry.data.items() if key not in (CONF_API_KEY, CONF_URL)},
        **entry.options,
    }


@callback
def async_start_account_reauth(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """The endpoint refused the key that satellite ``entry`` used: one re-authentication, of the
    account (HA starts one per entry however many satellites report it)."""
    if (account := account_of(hass, entry)) is not None:
        account.async_start_reauth(hass)


@callback
def async_reload_satellites(hass: HomeAssistant, account: ConfigEntry) -> None:
    """The account's key or endpoint changed: every satellite of it opens a new session with it
    (also those that stopped retrying after the old key was refused)."""
    for entry in satellites_of(hass, account):
        hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_move_key_to_account(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Migration from version 1 (each satellite entry held its own key and endpoint): the key and
    endpoint go to an account entry, one per distinct key and endpoint, and the satellite names it.
    Satellites migrate concurrently at start-up: the lock keeps two of one key from making two."""
    lock = hass.data.setdefault(_MIGRATION_LOCK, asyncio.Lock())
    async with lock:
        data = dict(entry.data)
        api_key = data.pop(CONF_API_KEY, None)
        url = data.pop(CONF_URL, None) or DEFAULT_URL
        if api_key:
            account = await async_account_for_key(hass, api_key, url)
            data[CONF_ACCOUNT] = account.entry_id
        hass.config_entries.async_update_entry(entry, data=data, version=2, minor_version=1)
