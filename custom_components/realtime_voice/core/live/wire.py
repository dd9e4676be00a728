"""The Live wire format: client events built, server events parsed (the only module that knows
the Live event names).

Plain JSON on purpose: the Home Assistant versions this integration supports pin openai releases
without ``openai.types.live``, so the client depends on nothing but ``websockets``; the Live
stand-in of the tests validates both directions against the openai package's types.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from . import events as ev

# The satellite link's rate: no resampling either way.
AUDIO_RATE = 24_000
PCM_FORMAT = {"type": "audio/pcm", "rate": AUDIO_RATE}
# session.commentary.append and session.thinking.append take at most 500 tokens; a token is about
# four characters of English, so this stays below it with a margin.
MAX_CONTEXT_CHARS = 1_600


class MalformedEventError(ValueError):
    """A server event whose shape does not match its type (the message names the key)."""


class UnknownEventError(ValueError):
    """A server event type this client does not handle."""


# -- client events -----------------------------------------------------------------------------


def _event_id() -> str:
    return f"evt_{uuid.uuid4().hex[:20]}"


def session_start(*, model: str, instructions: str, voice: str) -> dict[str, Any]:
    """The first message: model, instructions and voice (both immutable afterwards), 24 kHz PCM
    both ways, and delegation to the client (Home Assistant does the work)."""
    return {
        "type": "session.start",
        "event_id": _event_id(),
        "session": {
            "model": model,
            "instructions": instructions,
            "audio": {"format": dict(PCM_FORMAT), "output": {"voice": voice}},
            "delegation": {"type": "client"},
        },
    }


def input_audio_append(pcm: bytes) -> dict[str, Any]:
    return {"type": "session.input_audio.append", "audio": base64.b64encode(pcm).decode("ascii")}


def _clip(content: str) -> str:
    return content if len(content) <= MAX_CONTEXT_CHARS else content[: MAX_CONTEXT_CHARS - 1] + "…"


def commentary_append(content: str, delegation_id: str | None) -> dict[str, Any]:
    """Speakable context (a delegation's result, for the model to say)."""
    return {
        "type": "session.commentary.append",
        "event_id": _event_id(),
        "content": _clip(content),
        "delegation_id": delegation_id,  # required, nullable
    }


def thinking_append(content: str, delegation_id: str | None) -> dict[str, Any]:
    """Silent context."""
    return {
        "type": "session.thinking.append",
        "event_id": _event_id(),
        "content": _clip(content),
        "delegation_id": delegation_id,
    }


def session_close() -> dict[str, Any]:
    return {"type": "session.close", "event_id": _event_id()}


# -- server events -----------------------------------------------------------------------------


def _str(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise MalformedEventError(f"{where}.{key}: expected a string, got {value!r}")
    return value


def _int(data: dict[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedEventError(f"{where}.{key}: expected an integer, got {value!r}")
    return value


def _number(data: dict[str, Any], key: str, where: str) -> float:
    value = data.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise MalformedEventError(f"{where}.{key}: expected a number, got {value!r}")
    return float(value)


def _object(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise MalformedEventError(f"{where}.{key}: expected an object, got {value!r}")
    return value


def _pcm(data: dict[str, Any], key: str, where: str) -> bytes:
    try:
        return base64.b64decode(_str(data, key, where), validate=True)
    except binascii.Error as err:
        raise MalformedEventError(f"{where}.{key}: not base64 ({err})") from None


def parse_error(data: dict[str, Any]) -> ev.ServiceError:
    error = _object(data, "error", "error")
    param = error.get("param")
    return ev.ServiceError(
        code=_str(error, "code", "error.error"),
        message=_str(error, "message", "error.error"),
        param=param if isinstance(param, str) else None,
    )


def parse_server_event(data: Any) -> ev.LiveEvent | None:
    """One server event as the client's event; None for the acknowledgements it has no use for.

    Raises MalformedEventError (a known type of the wrong shape) or UnknownEventError.
    """
    if not isinstance(data, dict):
        raise MalformedEventError(f"expected a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise MalformedEventError(f"type: expected a string, got {kind!r}")
    match kind:
        case "session.output_audio.delta":
            return ev.OutputAudio(_pcm(data, "delta", kind))
        case "session.input_transcript.delta":
            return ev.InputTranscript(
                _str(data, "delta", kind), _int(data, "start_ms", kind), _int(data, "end_ms", kind)
            )
        case "session.output_transcript.delta":
            return ev.OutputTranscript(
                _str(data, "delta", kind), _int(data, "start_ms", kind), _int(data, "end_ms", kind)
            )
        case "session.delegation.created":
            delegation = _object(data, "delegation", kind)
            return ev.DelegationCreated(
                _str(delegation, "id", f"{kind}.delegation"), _int(data, "offset_ms", kind)
            )
        case "session.usage.updated":
            return ev.UsageUpdated(
                _number(_object(data, "usage", kind), "seconds", f"{kind}.usage")
            )
        case "session.closed":
            return ev.Closed(
                _str(data, "reason", kind),
                usage_seconds=_number(_object(data, "usage", kind), "seconds", f"{kind}.usage"),
            )
        case "info":
            return ev.Notice(_str(data, "code", kind), _str(data, "message", kind))
        case "error":
            return parse_error(data)
        case (
            "session.started"
            | "session.updated"
            | "session.input_audio.muted"
            | "session.input_audio.unmuted"
            | "session.instructions.appended"
            | "session.thinking.appended"
            | "session.commentary.appended"
        ):
            return None
    raise UnknownEventError(f"unknown server event type {kind!r}")
