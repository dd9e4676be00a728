"""Tool names that the Realtime API accepts: ^[a-zA-Z0-9_-]{1,64}$, unique within a session."""

from __future__ import annotations

import hashlib
import re

MAX_TOOL_NAME_LENGTH = 64
VALID_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_INVALID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


def sanitize_tool_name(name: str) -> str:
    """Map a name onto the allowed characters and length; long names keep a hash suffix."""
    cleaned = _INVALID_CHARS.sub("_", name) or "tool"
    if len(cleaned) <= MAX_TOOL_NAME_LENGTH:
        return cleaned
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{cleaned[: MAX_TOOL_NAME_LENGTH - 9]}_{digest}"


def service_tool_name(domain: str, service: str) -> str:
    """Name of the tool for a service: "light.turn_on" -> "light__turn_on"."""
    return sanitize_tool_name(f"{domain}__{service}")


class ToolNamer:
    """Hands out unique valid names; a later tool whose name is taken gets a prefix or suffix."""

    def __init__(self) -> None:
        """Start with no names taken."""
        self._taken: set[str] = set()

    def claim(self, name: str, *, prefix: str | None = None) -> str:
        """Return a free valid name for `name`, trying `prefix__name` first when it is taken."""
        candidate = sanitize_tool_name(name)
        if candidate in self._taken and prefix:
            candidate = sanitize_tool_name(f"{prefix}__{name}")
        base = candidate
        counter = 2
        while candidate in self._taken:
            suffix = f"_{counter}"
            candidate = f"{base[: MAX_TOOL_NAME_LENGTH - len(suffix)]}{suffix}"
            counter += 1
        self._taken.add(candidate)
        return candidate
