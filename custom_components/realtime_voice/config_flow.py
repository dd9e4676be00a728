"""Config, options, re-authentication and reconfigure flows for Realtime Voice.

One config entry per satellite. The Realtime connection (API key, endpoint, models, voice) is checked by
a real connection through the compatibility layer, the satellite by a real authenticated link.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.helpers import selector
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from .const import (
    CONF_ACCESS_KEY,
    CONF_API_KEY,
    CONF_AUTO_SELECT_VOICE,
    CONF_FOLLOW_UP_SECONDS,
    CONF_HOST,
    CONF_INSTRUCTIONS,
    CONF_LEGACY_MODEL,
    CONF_MODEL,
    CONF_MODEL_SELECTION,
    CONF_PORT,
    CONF_SATELLITE_ID,
    CONF_URL,
    CONF_VOICE,
    CONF_VOICE_FALLBACK,
    DEFAULT_FOLLOW_UP_SECONDS,
    DEFAULT_INSTRUCTIONS,
    DEFAULT_LEGACY_MODEL,
    DEFAULT_MODEL,
    DEFAULT_MODEL_SELECTION,
    DEFAULT_PORT,
    DEFAULT_URL,
    DEFAULT_VOICE,
    DEFAULT_VOICE_FALLBACK,
    DOMAIN,
)
from .core.link import protocol
from .flow_schemas import PASSWORD, realtime_schema, satellite_schema
from .options_flow import RealtimeVoiceOptionsFlow
from .pairing import CONF_CODE, PairingFlowError, async_pair, async_request_code
from .schema_library import vol
from .validation import (
    InvalidAccessKeyError,
    RealtimeCheckError,
    SatelliteOutdatedError,
    SatelliteUnreachableError,
    WeakAccessKeyError,
    async_check_realtime,
    async_check_satellite,
)

_LOGGER = logging.getLogger(__name__)

CONF_REUSE_ENTRY = "reuse_entry"

# Realtime settings that live in the entry's options (changeable later without re-adding).
REALTIME_OPTION_KEYS = (CONF_MODEL_SELECTION, CONF_MODEL, CONF_LEGACY_MODEL, CONF_VOICE)


class RealtimeVoiceConfigFlow(ConfigFlow, domain=DOMAIN):
    """Adds one satellite: the Realtime connection first (or reuse of one), then the satellite."""

    VERSION = 1

    def __init__(self) -> None:
        self._realtime: dict[str, Any] = {}
        self._discovered: dict[str, Any] = {}
        # the satellite the pair step pairs with: host, port and the name it shows
        self._pairing: dict[str, Any] = {}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        return RealtimeVoiceOptionsFlow()

    # --- Realtime connection -------------------------------------------------------------------

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Offer to reuse an API key that another entry holds, else ask for one."""
        if self._current_entries_with_key():
            return self.async_show_menu(step_id="user", menu_options=["reuse", "api"])
        return await self.async_step_api()

    async def async_step_reuse(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        entries = {entry.entry_id: entry for entry in self._current_entries_with_key()}
        if user_input is not None:
            source = entries[user_input[CONF_REUSE_ENTRY]]
            self._realtime = {
                CONF_API_KEY: source.data[CONF_API_KEY],
                CONF_URL: source.data.get(CONF_URL, DEFAULT_URL),
                **{
                    key: source.options[key]
                    for key in REALTIME_OPTION_KEYS
                    if key in source.options
                },
            }
            return await self.async_step_satellite()
        options = [
            selector.SelectOptionDict(value=entry_id, label=entry.title)
            for entry_id, entry in entries.items()
        ]
        return self.async_show_form(
            step_id="reuse",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_REUSE_ENTRY, default=options[0]["value"]): (
                        selector.SelectSelector(selector.SelectSelectorConfig(options=options))
                    )
                }
            ),
        )

    async def async_step_api(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders = {"detail": ""}
        if user_input is not None:
            errors = await self._realtime_errors(user_input, placeholders)
            if not errors:
                self._realtime = dict(user_input)
                return await self.async_step_satellite()
        return self.async_show_form(
            step_id="api",
            data_schema=self.add_suggested_values_to_schema(
                realtime_schema({}), user_input or self._realtime
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    # --- Satellite -------------------------------------------------------------------------------

    async def async_step_satellite(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is None and self._discovered:
            user_input = {}  # the address came from discovery: pair at once
        if user_input is not None and not user_input.get(CONF_ACCESS_KEY):
            satellite = {**self._discovered, **user_input}
            name = satellite.get("name") or satellite[CONF_HOST]
            self._pairing = {**satellite, CONF_PORT: int(satellite[CONF_PORT]), "name": name}
            return await self.async_step_pair()
        if user_input is not None:
            satellite = {**self._discovered, **user_input}
            satellite[CONF_PORT] = int(satellite[CONF_PORT])
            info, errors = await self._satellite_check(satellite)
            if info is not None:
                await self.async_set_unique_id(info.satellite_id)
                self._abort_if_unique_id_configured(
                    updates={CONF_HOST: satellite[CONF_HOST], CONF_PORT: satellite[CONF_PORT]}
                )
                return self._create_entry(info.name, info.satellite_id, satellite)
        with_address = not self._discovered
        return self.async_show_form(
            step_id="satellite",
            data_schema=self.add_suggested_values_to_schema(
                satellite_schema(self._discovered, with_address=with_address, key_required=False),
                {k: v for k, v in (user_input or {}).items() if k != CONF_ACCESS_KEY},
            ),
            errors=errors,
            description_placeholders={"name": self._discovered.get("name", "")},
        )

    async def async_step_pair(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The satellite speaks a code, the user types it (pairing.py); or, for a satellite
        without a speaker, its access key. Submitted empty: the satellite says the code again."""
        host, port = self._pairing[CONF_HOST], self._pairing[CONF_PORT]
        errors: dict[str, str] = {}
        placeholders = {"name": self._pairing["name"], "host": f"{host}:{port}", "tries_left": ""}
        access_key = (user_input or {}).get(CONF_ACCESS_KEY)
        code = (user_input or {}).get(CONF_CODE, "").strip()
        try:
            if access_key or code:
                if not access_key:
                    access_key = await async_pair(host, port, code)
                satellite = {CONF_HOST: host, CONF_PORT: port, CONF_ACCESS_KEY: access_key}
                info, errors = await self._satellite_check(satellite)
                if info is not None:
                    return await self._paired(info, satellite)
            else:
                await async_request_code(host, port)
        except PairingFlowError as err:
            field = CONF_CODE if err.error in ("wrong_code", "invalid_code") else "base"
            errors = {field: err.error}
            placeholders["tries_left"] = str(err.tries_left or 0)
        return self.async_show_form(
            step_id="pair",
            data_schema=vol.Schema(
                {vol.Optional(CONF_CODE): str, vol.Optional(CONF_ACCESS_KEY): PASSWORD}
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _paired(self, info: protocol.Info, satellite: Mapping[str, Any]) -> ConfigFlowResult:
        await self.async_set_unique_id(info.satellite_id)
        if self.source == SOURCE_REAUTH:
            self._abort_if_unique_id_mismatch(reason="wrong_satellite")
            return self.async_update_reload_and_abort(
                self._get_reauth_entry(),
                data_updates={CONF_ACCESS_KEY: satellite[CONF_ACCESS_KEY]},
            )
        # a satellite HA already has, paired again here: that entry gets the new key
        self._abort_if_unique_id_configured(updates=dict(satellite))
        return self._create_entry(info.name, info.satellite_id, satellite)

    def _create_entry(
        self, title: str, satellite_id: str, satellite: Mapping[str, Any]
    ) -> ConfigFlowResult:
        options = {
            CONF_MODEL_SELECTION: DEFAULT_MODEL_SELECTION,
            CONF_MODEL: DEFAULT_MODEL,
            CONF_LEGACY_MODEL: DEFAULT_LEGACY_MODEL,
            CONF_VOICE: DEFAULT_VOICE,
            CONF_VOICE_FALLBACK: DEFAULT_VOICE_FALLBACK,
            CONF_AUTO_SELECT_VOICE: True,
            CONF_INSTRUCTIONS: DEFAULT_INSTRUCTIONS,
            CONF_FOLLOW_UP_SECONDS: DEFAULT_FOLLOW_UP_SECONDS,
            **{key: self._realtime[key] for key in REALTIME_OPTION_KEYS if key in self._realtime},
        }
        data = {
            CONF_API_KEY: self._realtime[CONF_API_KEY],
            CONF_URL: self._realtime.get(CONF_URL, DEFAULT_URL),
            CONF_HOST: satellite[CONF_HOST],
            CONF_PORT: satellite[CONF_PORT],
            CONF_ACCESS_KEY: satellite[CONF_ACCESS_KEY],
            CONF_SATELLITE_ID: satellite_id,
        }
        return self.async_create_entry(title=title, data=data, options=options)

    # --- Discovery -------------------------------------------------------------------------------

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        properties = discovery_info.properties
        satellite_id = properties.get("id")
        if not satellite_id:
            return self.async_abort(reason="no_satellite_id")
        await self.async_set_unique_id(satellite_id)
        self._abort_if_unique_id_configured(
            updates={CONF_HOST: discovery_info.host, CONF_PORT: discovery_info.port}
        )
        name = properties.get("name") or discovery_info.name.split(".", 1)[0]
        self._discovered = {
            CONF_HOST: discovery_info.host,
            CONF_PORT: discovery_info.port or DEFAULT_PORT,
            "name": name,
        }
        self.context["title_placeholders"] = {"name": name}
        return await self.async_step_zeroconf_confirm()

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        if user_input is not None:
            return await self.async_step_user()
        return self.async_show_form(
            step_id="zeroconf_confirm",
            description_placeholders={
                "name": self._discovered["name"],
                "host": f"{self._discovered[CONF_HOST]}:{self._discovered[CONF_PORT]}",
            },
        )

    # --- Re-authentication and reconfigure -----------------------------------------------------

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Two keys can be refused: the satellite's access key (the link) or the API key (the
        Realtime session). Ask the satellite which: if it refuses the stored access key, that is the
        one to renew; otherwise (it accepts it, or is unreachable) the API key."""
        try:
            await async_check_satellite(
                entry_data[CONF_HOST], entry_data[CONF_PORT], entry_data[CONF_ACCESS_KEY]
            )
        except (InvalidAccessKeyError, WeakAccessKeyError):
            # A weak stored key dates from before the encrypted link: the satellite made a new one.
            return await self.async_step_reauth_access_key()
        except SatelliteUnreachableError:  # also "busy": HA's own link is up with this key
            pass
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_access_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The satellite refuses the stored access key (it was reinstalled, or paired with
        another Home Assistant): pair again at the entry's address."""
        entry = self._get_reauth_entry()
        self._pairing = {
            CONF_HOST: entry.data[CONF_HOST],
            CONF_PORT: entry.data[CONF_PORT],
            "name": entry.title,
        }
        return await self.async_step_pair()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        placeholders = {"name": entry.title, "detail": ""}
        if user_input is not None:
            settings = {**entry.data, **entry.options, CONF_API_KEY: user_input[CONF_API_KEY]}
            errors = await self._realtime_errors(settings, placeholders)
            if not errors:
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_API_KEY: user_input[CONF_API_KEY]}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_API_KEY): PASSWORD}),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            port = int(user_input[CONF_PORT])
            info, errors = await self._satellite_check({**user_input, CONF_PORT: port})
            if info is not None:
                await self.async_set_unique_id(info.satellite_id)
                self._abort_if_unique_id_mismatch(reason="wrong_satellite")
                return self.async_update_reload_and_abort(
                    entry,
                    data_updates={
                        CONF_HOST: user_input[CONF_HOST],
                        CONF_PORT: port,
                        CONF_ACCESS_KEY: user_input[CONF_ACCESS_KEY],
                    },
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                satellite_schema(entry.data), user_input or entry.data
            ),
            errors=errors,
        )

    # --- helpers -------------------------------------------------------------------------------

    async def _realtime_errors(
        self, config: Mapping[str, Any], placeholders: dict[str, str]
    ) -> dict[str, str]:
        """Check the Realtime connection: the form's errors (none if it works), and the endpoint's
        own words in ``placeholders["detail"]``."""
        try:
            await async_check_realtime(self.hass, config)
        except RealtimeCheckError as err:
            placeholders["detail"] = err.detail
            return {"base": err.translation_key}
        return {}

    async def _satellite_check(
        self, satellite: Mapping[str, Any]
    ) -> tuple[protocol.Info | None, dict[str, str]]:
        """Connect to the satellite: its info, or the form's errors."""
        try:
            info = await async_check_satellite(
                satellite[CONF_HOST], satellite[CONF_PORT], satellite[CONF_ACCESS_KEY]
            )
        except WeakAccessKeyError:
            return None, {CONF_ACCESS_KEY: "weak_access_key"}
        except InvalidAccessKeyError:
            return None, {CONF_ACCESS_KEY: "invalid_access_key"}
        except SatelliteOutdatedError:
            return None, {"base": "satellite_outdated"}
        except SatelliteUnreachableError:
            return None, {"base": "cannot_connect_satellite"}
        return info, {}

    def _current_entries_with_key(self) -> list[ConfigEntry]:
        return [
            entry
            for entry in self._async_current_entries(include_ignore=False)
            if entry.data.get(CONF_API_KEY)
        ]
