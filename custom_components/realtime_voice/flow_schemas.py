"""The form fields that the config flow and the options flow share (models, voice, satellite).

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


def realtime_schema(defaults: Mapping[str, Any]) -> vol.Schema:
    """The Realtime connection form: key, endpoint and the model fields."""
    return vol.Schema(
        {
            vol.Required(CONF_API_KEY, default=defaults.get(CONF_API_KEY, vol.UNDEFINED)): PASSWORD,
            vol.Required(CONF_URL, default=defaults.get(CONF_URL, DEFAULT_URL)): str,
            **model_fields(defaults),
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


def satellite_schema(
    defaults: Mapping[str, Any], *, with_address: bool = True, key_required: bool = True
) -> vol.Schema:
    """The satellite form: address (unless discovered) and access key (optional where it pairs:
    without one, the flow pairs by the code the satellite speaks)."""
    fields: dict[Any, Any] = {}
    if with_address:
        fields[vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, vol.UNDEFINED))] = str
        fields[vol.Required(CONF_PORT, default=defaults.get(CONF_PORT, DEFAULT_PORT))] = (
            selector.NumberSelector(
                selector.NumberSelectorConfig(
                    min=1, max=65535, step=1, mode=selector.NumberSelectorMode.BOX
                )
            )
        )
    fields[(vol.Required if key_required else vol.Optional)(CONF_ACCESS_KEY)] = PASSWORD
    return vol.Schema(fields)
