"""Fixtures for tests that run inside real Home Assistant (pytest-homeassistant-custom-component).

The Realtime endpoint is the stand-in server (tests/realtime_standin, a simulation that validates every
event against the openai package's types); the satellite is the real link server on loopback.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from unittest.mock import PropertyMock, patch

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import Entity
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

# Imported before Home Assistant mounts its test config dir on sys.path, so that HA's loader finds this
# repository's custom_components rather than the test harness's own.
import custom_components  # noqa: F401
from custom_components.realtime_voice.account import account_data
from custom_components.realtime_voice.const import (
    CONF_ACCESS_KEY,
    CONF_ACCOUNT,
    CONF_FOLLOW_UP_SECONDS,
    CONF_HOST,
    CONF_LEGACY_MODEL,
    CONF_MODEL,
    CONF_MODEL_SELECTION,
    CONF_PORT,
    CONF_SATELLITE_ID,
    CONF_VOICE,
    DOMAIN,
)
from tests.realtime_standin import StandinConfig, StandinServer

from .kitchen import async_set_up_kitchen_light
from .link_satellite import ACCESS_KEY, LinkSatellite
from .pipeline_providers import Providers, providers_in

API_KEY = "sk-test-0123456789abcdef"


# Real agents (SatelliteAgent) keep their generated certificate here, as under systemd's
# StateDirectory=, not in the home directory.
os.environ.setdefault("STATE_DIRECTORY", tempfile.mkdtemp(prefix="satellite-state-"))


@pytest.fixture
def entities_enabled() -> Iterator[None]:
    """Every entity enabled, also those disabled by default (as HA core's tests do it)."""
    with patch.object(
        Entity, "entity_registry_enabled_default", new_callable=PropertyMock, return_value=True
    ):
        yield


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None, socket_enabled: None) -> None:
    """Let HA load custom_components/realtime_voice; allow sockets (to 127.0.0.1 only)."""


# What Home Assistant logs when an integration uses a deprecated API, blocks the event loop or calls
# from another thread: "Detected that custom integration 'realtime_voice' ..." (helpers/frame.py) and
# "Detected blocking call to ... by custom integration 'realtime_voice' ..." (util/loop.py).
HA_REPORT = re.compile(r"Detected\b.*\bintegration '" + DOMAIN + "'", re.DOTALL)


def reports_about_this_integration(records: Iterable[logging.LogRecord]) -> list[str]:
    """HA's reports about this integration among ``records``, at any level."""
    return [message for record in records if HA_REPORT.search(message := record.getMessage())]


@pytest.fixture(autouse=True)
def no_reports_about_this_integration(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test if HA reported this integration (deprecated API, blocking or thread-unsafe
    call), so that none comes back unnoticed."""
    # A repeated blocking call is logged at debug level only: capture that too.
    caplog.set_level(logging.DEBUG, logger="homeassistant.util.loop")
    yield
    records = [r for when in ("setup", "call", "teardown") for r in caplog.get_records(when)]
    if reports := reports_about_this_integration(records):
        pytest.fail("Home Assistant reported realtime_voice:\n" + "\n".join(reports))


@pytest.fixture(autouse=True)
async def setup_core(hass: HomeAssistant) -> None:
    """The `homeassistant` core integration, as in a real installation (conversation needs it)."""
    assert await async_setup_component(hass, "homeassistant", {})


@pytest.fixture
def standin_config() -> StandinConfig:
    return StandinConfig(endpoint="ga", api_key=API_KEY)


@pytest.fixture
async def standin(standin_config: StandinConfig) -> AsyncIterator[StandinServer]:
    async with StandinServer(standin_config) as server:
        yield server
        assert server.client_violations == [], "the client sent events the openai types reject"


@pytest.fixture
async def satellite() -> AsyncIterator[LinkSatellite]:
    sat = LinkSatellite()
    await sat.start()
    yield sat
    await sat.stop()


class SatelliteEntry(MockConfigEntry):
    """A satellite's entry with its OpenAI account entry (``account``), which ``add_to_hass`` adds
    first if it is not there yet, as the config flow creates both."""

    def __init__(self, account: MockConfigEntry, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.account = account

    def add_to_hass(self, hass: HomeAssistant) -> None:
        if hass.config_entries.async_get_entry(self.account.entry_id) is None:
            self.account.add_to_hass(hass)
        super().add_to_hass(hass)


def account_for(url: str, api_key: str = API_KEY, title: str = "OpenAI account") -> MockConfigEntry:
    """An OpenAI account entry as the config flow creates it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=f"{DOMAIN}_account_{title}",
        version=2,
        data=account_data(api_key, url),
    )


def entry_for(
    standin: StandinServer,
    satellite: LinkSatellite | None = None,
    *,
    port: int | None = None,
    satellite_id: str | None = None,
    access_key: str = ACCESS_KEY,
    title: str | None = None,
    url: str | None = None,
    account: MockConfigEntry | None = None,
    **options: Any,
) -> SatelliteEntry:
    """An entry as the config flow creates it, for ``satellite`` or for an agent at ``port``; with
    a new account of the test key at ``url`` (the stand-in's by default) unless ``account`` is given."""
    if satellite is not None:
        port, satellite_id, title = satellite.port, satellite.satellite_id, satellite.name
    assert port is not None
    assert satellite_id is not None
    account = account or account_for(url or standin.url)
    return SatelliteEntry(
        account,
        domain=DOMAIN,
        title=title or "Satellite",
        unique_id=satellite_id,
        version=2,
        data={
            CONF_HOST: "127.0.0.1",
            CONF_PORT: port,
            CONF_ACCESS_KEY: access_key,
            CONF_SATELLITE_ID: satellite_id,
            CONF_ACCOUNT: account.entry_id,
        },
        options={
            CONF_MODEL_SELECTION: "auto",
            CONF_MODEL: "gpt-realtime",
            CONF_LEGACY_MODEL: "gpt-4o-realtime-preview",
            CONF_VOICE: "marin",
            CONF_FOLLOW_UP_SECONDS: 0.0,
            **options,
        },
    )


@pytest.fixture
async def kitchen_light(hass: HomeAssistant) -> str:
    """light.kitchen, exposed: a template light over input_boolean.kitchen_power (kitchen.py)."""
    return await async_set_up_kitchen_light(hass)


@pytest.fixture
async def providers(hass: HomeAssistant) -> AsyncIterator[Providers]:
    """The test speech-to-text and text-to-speech providers, and a pipeline with them."""
    async with providers_in(hass) as providers:
        yield providers
