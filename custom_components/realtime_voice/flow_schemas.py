"""The form fields that the config flow and the options flow share (account, models, voice, satellite).

Both flows import this module and neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.helpers import selector

from .const import (
    CONF_ACCESS_KEY,
    CONF_API_KEY,
    CONF_HOST,
    CONF_LEGACY_MODEL,
    CONF_MODEL,
    CONF_MODEL_SELECTION,
    CONF_PORT,
    CONF_URL,
    CONF_VOICE,
    DEFAULT_LEGACY_MODEL,
    DEFAULT_MODEL,
    DEFAULT_MODEL_SELECTION,
    DEFAULT_PORT,
    DEFAULT_URL,
    DEFAULT_VOICE,
    MODEL_SELECTIONS,
)
from .core.realtime import registry
from .schema_library import vol

PASSWORD = selector.TextSelector(
    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
)


def select(options: tuple[str, ...], *, custom: bool = False, key: str | None = None) -> Any:
    """A dropdown; ``custom`` also takes a name that is not in the list (a newer model)."""
    config = selector.SelectSelectorConfig(
        options=list(options), custom_value=custom, mode=selector.SelectSelectorMode.DROPDOWN
    )
    if key is not None:
        config["translation_key"] = key
    return selector.SelectSelector(config)


def account_schema(defaults: Mapping[str, Any], *, key_required: bool = True) -> vol.Schema:
    """The OpenAI account form: the key and its endpoint (the models are each satellite's options).
    ``key_required`` False: the form offers another way (the satellite's flow: pipeline only)."""
    key = vol.Required(CONF_API_KEY) if key_required else vol.Optional(CONF_API_KEY)
    return vol.Schema(
        {
            key: PASSWORD,
            vol.Required(CONF_URL, default=defaults.get(CONF_URL, DEFAULT_URL)): str,
        }
    )


def model_fields(defaults: Mapping[str, Any]) -> dict[Any, Any]:
    """Model selection, models and voice; the lists come from the realtime core's registry."""
    return {
        vol.Required(
            CONF_MODEL_SELECTION,
            default=defaults.get(CONF_MODEL_SELECTION, DEFAULT_MODEL_SELECTION),
        ): select(MODEL_SELECTIONS, key=CONF_MODEL_SELECTION),
        vol.Required(CONF_MODEL, default=defaults.get(CONF_MODEL, DEFAULT_MODEL)): select(
            registry.GA_MODELS, custom=True
        ),
        vol.Required(
            CONF_LEGACY_MODEL, default=defaults.get(CONF_LEGACY_MODEL, DEFAULT_LEGACY_MODEL)
        ): select(registry.BETA_MODELS, custom=True),
        vol.Required(CONF_VOICE, default=defaults.get(CONF_VOICE, DEFAULT_VOICE)): select(
            registry.VOICES, custom=True
        ),
    }


def address_fields(defaults: Mapping[str, Any]) -> dict[Any, Any]:
    """The satellite's host and port."""
    return {
        vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, vol.UNDEFINED)): str,
        vol.Required(CONF_PORT, default=defaults.get(CONF_PORT, DEFAULT_PORT)): (
            selector.NumberSelector(
                selector.NumberSelectorConfig(
                    min=1, max=65535, step=1, mode=selector.NumberSelectorMode.BOX
                )
            )
        ),
    }


def satellite_schema(defaults: Mapping[str, Any], *, with_address: bool = True) -> vol.Schema:
    """The satellite form: address (unless known already) and access key."""
    fields: dict[Any, Any] = address_fields(defaults) if with_address else {}
    fields[vol.Required(CONF_ACCESS_KEY)] = PASSWORD
    return vol.Schema(fields)
