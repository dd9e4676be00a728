"""Config, options, re-authentication and reconfigure flows for Realtime Voice.

One config entry per satellite, and one per OpenAI account (the API key and endpoint that the
satellites of it share, account.py). Adding a satellite asks its address (unless discovered), then
the code it speaks (pairing.py; or its access key, for a satellite without a speaker), and the
OpenAI key only when no account holds one yet (or none: the satellite then uses Home Assistant's
Assist pipeline only). The key is checked by a real connection through the
compatibility layer, the satellite by a real authenticated link.
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

from .account import (
    account_data,
    account_title,
    accounts,
    async_account_for_key,
    async_reload_satellites,
    is_account,
    satellites_of,
)
from .const import (
    CONF_ACCESS_KEY,
    CONF_ACCOUNT,
    CONF_API_KEY,
    CONF_AUTO_SELECT_VOICE,
    CONF_CONVERSATION_MODE,
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
    MODE_PIPELINE,
    MODE_REALTIME,
)
from .core.link import protocol
from .flow_schemas import PASSWORD, account_schema, address_fields, satellite_schema
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

CONF_ACCOUNT_ENTRY = "account_entry"
# In the account step: no key, the satellite uses Home Assistant's Assist pipeline only.
CONF_PIPELINE_ONLY = "pipeline_only"


class RealtimeVoiceConfigFlow(ConfigFlow, domain=DOMAIN):
    """Adds one satellite: its address, the code it speaks (or its access key), then its OpenAI
    account (asked only when there is none yet)."""

    VERSION = 2
    MINOR_VERSION = 1

    def __init__(self) -> None:
        self._satellite: dict[str, Any] = {}  # host, port, then access key
        self._discovered_name: str | None = None
        self._info: protocol.Info | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        return RealtimeVoiceOptionsFlow()

    @classmethod
    @callback
    def async_supports_options_flow(cls, config_entry: ConfigEntry) -> bool:
        return not is_account(config_entry)  # an account has its key and endpoint only

    # --- Satellite -------------------------------------------------------------------------------

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The satellite's address (a discovered satellite starts at its confirmation)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            self._satellite = {
                CONF_HOST: str(user_input[CONF_HOST]).strip(),
                CONF_PORT: int(user_input[CONF_PORT]),
            }
            return await self.async_step_pair()
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(address_fields({})), self._satellite
            ),
            errors=errors,
        )

    async def async_step_pair(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The satellite speaks a code, the user types it (pairing.py); or, for a satellite
        without a speaker, its access key. Shown (or submitted empty): the satellite says the code
        (again)."""
        host, port = self._satellite[CONF_HOST], self._satellite[CONF_PORT]
        errors: dict[str, str] = {}
        placeholders = {
            "name": self._discovered_name or host,
            "host": f"{host}:{port}",
            "tries_left": "",
        }
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
        if (
            errors.get("base") == "cannot_connect_satellite"
            and self._discovered_name is None
            and self.source != SOURCE_REAUTH
        ):
            # the address is what is wrong: back to it
            return self.async_show_form(
                step_id="user",
                data_schema=self.add_suggested_values_to_schema(
                    vol.Schema(address_fields({})), self._satellite
                ),
                errors=errors,
            )
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
        self._satellite, self._info = dict(satellite), info
        return await self.async_step_account()

    # --- OpenAI account --------------------------------------------------------------------------

    async def async_step_account(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The OpenAI key, asked only when no account holds one: with one account the satellite
        uses it, with several the user picks one."""
        known = accounts(self.hass)
        if user_input is None and len(known) == 1:
            return self._create_satellite(known[0])
        if user_input is None and len(known) > 1:
            return await self.async_step_choose_account()
        errors: dict[str, str] = {}
        placeholders = {"detail": ""}
        if user_input is not None and user_input.get(CONF_PIPELINE_ONLY):
            return self._create_satellite(None)  # no key: Home Assistant's Assist pipeline
        if user_input is not None and not user_input.get(CONF_API_KEY):
            errors[CONF_API_KEY] = "api_key_or_pipeline"
        elif user_input is not None:
            errors = await self._realtime_errors(user_input, placeholders)
            if not errors:
                api_key = user_input[CONF_API_KEY]
                url = user_input.get(CONF_URL) or DEFAULT_URL
                account = await async_account_for_key(self.hass, api_key, url)
                return self._create_satellite(account)
        return self.async_show_form(
            step_id="account",
            data_schema=self.add_suggested_values_to_schema(
                account_schema({}, key_required=False).extend(
                    {vol.Optional(CONF_PIPELINE_ONLY, default=False): bool}
                ),
                {k: v for k, v in (user_input or {}).items() if k != CONF_API_KEY},
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_choose_account(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Several accounts (as after migrating satellites with different keys): which one."""
        known = {entry.entry_id: entry for entry in accounts(self.hass)}
        if user_input is not None and user_input[CONF_ACCOUNT_ENTRY] in known:
            return self._create_satellite(known[user_input[CONF_ACCOUNT_ENTRY]])
        options = [
            selector.SelectOptionDict(value=entry_id, label=entry.title)
            for entry_id, entry in known.items()
        ]
        return self.async_show_form(
            step_id="choose_account",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_ACCOUNT_ENTRY, default=options[0]["value"]): (
                        selector.SelectSelector(selector.SelectSelectorConfig(options=options))
                    )
                }
            ),
        )

    async def async_step_openai_account(self, data: dict[str, Any]) -> ConfigFlowResult:
        """Creates an account entry (started by the satellite's flow or the migration, with a key
        already checked or already in use: account.async_create_account)."""
        await self.async_set_unique_id(f"{DOMAIN}_account_{self.flow_id}")
        return self.async_create_entry(
            title=account_title(self.hass, data[CONF_URL]),
            data=account_data(data[CONF_API_KEY], data[CONF_URL]),
        )

    def _create_satellite(self, account: ConfigEntry | None) -> ConfigFlowResult:
        """The satellite's entry; without an account it is in pipeline mode."""
        assert self._info is not None
        data = {
            CONF_HOST: self._satellite[CONF_HOST],
            CONF_PORT: self._satellite[CONF_PORT],
            CONF_ACCESS_KEY: self._satellite[CONF_ACCESS_KEY],
            CONF_SATELLITE_ID: self._info.satellite_id,
        }
        if account is not None:
            data[CONF_ACCOUNT] = account.entry_id
        options = {
            CONF_CONVERSATION_MODE: MODE_REALTIME if account is not None else MODE_PIPELINE,
            CONF_MODEL_SELECTION: DEFAULT_MODEL_SELECTION,
            CONF_MODEL: DEFAULT_MODEL,
            CONF_LEGACY_MODEL: DEFAULT_LEGACY_MODEL,
            CONF_VOICE: DEFAULT_VOICE,
            CONF_VOICE_FALLBACK: DEFAULT_VOICE_FALLBACK,
            CONF_AUTO_SELECT_VOICE: True,
            CONF_INSTRUCTIONS: DEFAULT_INSTRUCTIONS,
            CONF_FOLLOW_UP_SECONDS: DEFAULT_FOLLOW_UP_SECONDS,
        }
        return self.async_create_entry(title=self._info.name, data=data, options=options)

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
        self._satellite = {
            CONF_HOST: discovery_info.host,
            CONF_PORT: discovery_info.port or DEFAULT_PORT,
        }
        self._discovered_name = name
        self.context["title_placeholders"] = {"name": name}
        return await self.async_step_zeroconf_confirm()

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        if user_input is not None:
            return await self.async_step_pair()
        return self.async_show_form(
            step_id="zeroconf_confirm",
            description_placeholders={
                "name": self._discovered_name or "",
                "host": f"{self._satellite[CONF_HOST]}:{self._satellite[CONF_PORT]}",
            },
        )

    # --- Re-authentication and reconfigure -----------------------------------------------------

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """An account's reauth: the endpoint refused its API key (one for all its satellites). A
        satellite's: the satellite refused Home Assistant's access key."""
        if is_account(self._get_reauth_entry()):
            return await self.async_step_reauth_confirm()
        return await self.async_step_reauth_access_key()

    async def async_step_reauth_access_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The satellite refuses the stored access key (it was reinstalled, or paired with
        another Home Assistant): pair again at the entry's address."""
        entry = self._get_reauth_entry()
        self._satellite = {CONF_HOST: entry.data[CONF_HOST], CONF_PORT: entry.data[CONF_PORT]}
        self._discovered_name = entry.title
        return await self.async_step_pair()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A new API key for the account; every satellite of it then reconnects with it."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        placeholders = {
            "name": entry.title,
            "satellites": self._satellite_names(entry),
            "detail": "",
        }
        if user_input is not None:
            settings = {**entry.data, CONF_API_KEY: user_input[CONF_API_KEY]}
            errors = await self._realtime_errors(settings, placeholders)
            if not errors:
                result = self.async_update_reload_and_abort(
                    entry, data_updates={CONF_API_KEY: user_input[CONF_API_KEY]}
                )
                async_reload_satellites(self.hass, entry)
                return result
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
        if is_account(entry):
            return await self.async_step_reconfigure_account()
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

    async def async_step_reconfigure_account(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Rotate the account's key (or move it to another endpoint) before the old one is
        revoked: checked, stored, and every satellite of it reconnects with it."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        placeholders = {
            "name": entry.title,
            "satellites": self._satellite_names(entry),
            "detail": "",
        }
        if user_input is not None:
            errors = await self._realtime_errors(user_input, placeholders)
            if not errors:
                result = self.async_update_reload_and_abort(
                    entry,
                    data_updates={
                        CONF_API_KEY: user_input[CONF_API_KEY],
                        CONF_URL: user_input.get(CONF_URL) or DEFAULT_URL,
                    },
                    reason="account_updated",
                )
                async_reload_satellites(self.hass, entry)
                return result
        return self.async_show_form(
            step_id="reconfigure_account",
            data_schema=self.add_suggested_values_to_schema(
                account_schema({}), {CONF_URL: (user_input or entry.data).get(CONF_URL)}
            ),
            errors=errors,
            description_placeholders=placeholders,
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

    def _satellite_names(self, account: ConfigEntry) -> str:
        return ", ".join(sorted(entry.title for entry in satellites_of(self.hass, account))) or "-"
