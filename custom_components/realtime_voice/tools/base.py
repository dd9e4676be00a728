"""What every tool offers the toolset: a spec, argument validation, and a run."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from homeassistant.components.homeassistant.exposed_entities import async_should_expose
from homeassistant.core import Context, HomeAssistant

from ..schema_library import humanize_error, vol
from .const import ERR_INVALID_ARGUMENTS, ERR_NOT_EXPOSED, ERR_NOT_FOUND, EXPOSE_ASSISTANT


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function tool as the model sees it; `parameters` is a JSON schema object."""

    name: str
    description: str
    parameters: dict[str, Any]


class ToolRefusal(Exception):
    """A call refused before anything ran; returned to the model, never raised to the caller."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the machine-readable code and the message the model can speak from."""
        super().__init__(message)
        self.code = code
        self.message = message


class Tool(ABC):
    """One tool of a toolset."""

    spec: ToolSpec

    @abstractmethod
    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check the arguments; raise ToolRefusal when the call must not run."""

    @abstractmethod
    async def async_run(
        self, arguments: dict[str, Any], context: Context, call_id: str
    ) -> dict[str, Any]:
        """Run the call with validated arguments; may raise HomeAssistantError."""

    def secure_targets(self, arguments: dict[str, Any], marked: Collection[str]) -> list[str]:
        """The secure entities (secure.py) that this call with validated ``arguments`` would open,
        unlock or disarm, or act on when ``marked``: it needs the user's spoken yes. None here."""
        return []


def validate_with_schema(schema: vol.Schema, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run a schema (probatio or voluptuous); a failure names the bad key and value."""
    try:
        validated: dict[str, Any] = schema(arguments)
    except vol.Invalid as err:
        raise ToolRefusal(ERR_INVALID_ARGUMENTS, humanize_error(arguments, err)) from err
    return validated


def ensure_exposed(hass: HomeAssistant, entity_ids: Collection[str]) -> None:
    """Refuse unless every entity exists and is exposed to Assist (what the user lets voice reach)."""
    hidden = [e for e in entity_ids if not async_should_expose(hass, EXPOSE_ASSISTANT, e)]
    if hidden:
        raise ToolRefusal(
            ERR_NOT_EXPOSED,
            f"Not exposed to the voice assistant: {', '.join(hidden)}. "
            "The user can expose entities in Settings > Voice assistants > Expose.",
        )
    missing = [e for e in entity_ids if hass.states.get(e) is None]
    if missing:
        raise ToolRefusal(ERR_NOT_FOUND, f"No such entity: {', '.join(missing)}.")
