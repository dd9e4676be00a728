"""Translation between the internal vocabulary and the wire: GA and beta client events, server events.

This is the only module that knows raw GA or beta event names. Server events are parsed by hand from
plain dicts (the core depends on nothing but ``websockets``); the stand-in server used by the tests
validates both directions against the ``openai`` package's types.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from . import events as ev
from .registry import Interface
from .settings import SessionDescription, ToolDefinition

PCM_FORMAT_GA = {"type": "audio/pcm", "rate": 24000}
# Tag put into response.create metadata so that a response can be told apart from others.
KIND_KEY = "realtime_voice_kind"
OUT_OF_BAND = "out_of_band"


class MalformedEventError(ValueError):
    """A server event whose shape does not match its type."""


class UnknownEventError(ValueError):
    """A server event type this client does not know."""


# -- client events -----------------------------------------------------------------------------


def _tool(tool: ToolDefinition) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
    }


def session_update(
    interface: Interface, description: SessionDescription, voice: str
) -> dict[str, Any]:
    """One description -> GA nested or beta flat ``session.update``."""
    td = description.turn_detection
    turn_detection = (
        None
        if td is None
        else {
            "type": td.kind,
            "create_response": td.create_response,
            "interrupt_response": td.interrupt_response,
        }
        | (
            {
                "threshold": td.threshold,
                "prefix_padding_ms": td.prefix_padding_ms,
                "silence_duration_ms": td.silence_duration_ms,
            }
            if td.kind == "server_vad"
            else {}
        )
    )
    transcription = (
        {"model": description.input_transcription_model}
        if description.input_transcription_model
        else None
    )
    max_tokens: int | str = description.max_output_tokens or "inf"
    tools = [_tool(t) for t in description.tools]
    if interface == "ga":
        output: dict[str, Any] = {"format": PCM_FORMAT_GA, "voice": voice}
        if description.speed is not None:
            output["speed"] = description.speed
        session: dict[str, Any] = {
            "type": "realtime",
            "instructions": description.instructions,
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": PCM_FORMAT_GA,
                    "turn_detection": turn_detection,
                    "transcription": transcription,
                },
                "output": output,
            },
            "tools": tools,
            "tool_choice": "auto",
            "max_output_tokens": max_tokens,
        }
    else:
        session = {
            "modalities": ["audio", "text"],
            "instructions": description.instructions,
            "voice": voice,
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "turn_detection": turn_detection,
            "input_audio_transcription": transcription,
            "tools": tools,
            "tool_choice": "auto",
            "max_response_output_tokens": max_tokens,
        }
        if description.temperature is not None:
            session["temperature"] = description.temperature
        if description.speed is not None:
            session["speed"] = description.speed
    return {"type": "session.update", "session": session}


def append_audio(pcm16_24k: bytes) -> str:
    # Hand-built JSON: this runs every 20 ms and json.dumps of a dict would escape-scan the
    # base64 payload for nothing (base64 never needs escaping).
    return (
        '{"type":"input_audio_buffer.append","audio":"'
        + base64.b64encode(pcm16_24k).decode("ascii")
        + '"}'
    )


def commit_audio() -> dict[str, Any]:
    return {"type": "input_audio_buffer.commit"}


def clear_audio() -> dict[str, Any]:
    return {"type": "input_audio_buffer.clear"}


def user_text(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


def assistant_text(interface: Interface, text: str) -> dict[str, Any]:
    """An assistant message re-created from its transcript (used to carry a conversation over)."""
    kind = "output_text" if interface == "ga" else "text"
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "assistant", "content": [{"type": kind, "text": text}]},
    }


def function_call_item(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments},
    }


def function_output(call_id: str, output_json: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output_json},
    }


def response_create(
    interface: Interface, instructions: str | None, out_of_band: bool
) -> dict[str, Any]:
    response: dict[str, Any] = {}
    if instructions is not None:
        response["instructions"] = instructions
    if out_of_band:
        response["conversation"] = "none"
        response["metadata"] = {KIND_KEY: OUT_OF_BAND}
        if interface == "ga":
            response["output_modalities"] = ["audio"]
        else:
            response["modalities"] = ["audio", "text"]
    event: dict[str, Any] = {"type": "response.create"}
    if response:
        event["response"] = response
    return event


def response_cancel() -> dict[str, Any]:
    return {"type": "response.cancel"}


def truncate(item_id: str, content_index: int, audio_end_ms: int) -> dict[str, Any]:
    return {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": content_index,
        "audio_end_ms": audio_end_ms,
    }


def delete_item(item_id: str) -> dict[str, Any]:
    return {"type": "conversation.item.delete", "item_id": item_id}


# -- server events -----------------------------------------------------------------------------
# Facts the session needs for its own state; they do not leave the core.


@dataclass(frozen=True, slots=True)
class SessionCreated:
    pass


@dataclass(frozen=True, slots=True)
class SessionUpdated:
    pass


@dataclass(frozen=True, slots=True)
class ServerError:
    type: str
    code: str | None
    message: str
    param: str | None
    event_id: str | None


@dataclass(frozen=True, slots=True)
class ItemAdded:
    item_id: str
    item_type: str
    role: str | None


@dataclass(frozen=True, slots=True)
class ItemDeleted:
    item_id: str


@dataclass(frozen=True, slots=True)
class ItemTruncated:
    item_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class ResponseCreated:
    response_id: str
    out_of_band: bool


@dataclass(frozen=True, slots=True)
class ResponseFinished:
    response_id: str
    status: str
    status_reason: str | None
    usage: dict[str, Any] | None


Fact = (
    SessionCreated
    | SessionUpdated
    | ServerError
    | ItemAdded
    | ItemDeleted
    | ItemTruncated
    | ResponseCreated
    | ResponseFinished
)

# beta name -> the GA name used below for both
_BETA_NAMES = {
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "conversation.item.created": "conversation.item.added",
}
_GA_ONLY_NAMES = frozenset(_BETA_NAMES.values())
# Known events that carry nothing the rest of the product needs.
_IGNORED = frozenset(
    {
        "conversation.created",
        "conversation.item.done",
        "conversation.item.retrieved",
        "conversation.item.input_audio_transcription.segment",
        "input_audio_buffer.cleared",
        "input_audio_buffer.timeout_triggered",
        "input_audio_buffer.dtmf_event_received",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "rate_limits.updated",
        "response.output_item.added",
        "response.content_part.added",
        "response.content_part.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "transcription_session.updated",
    }
)


def _str(event: dict[str, Any], key: str) -> str:
    value = event[key]
    if not isinstance(value, str):
        raise MalformedEventError(f"{key} is {type(value).__name__}, not a string")
    return value


def _int(event: dict[str, Any], key: str) -> int:
    value = event[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedEventError(f"{key} is {type(value).__name__}, not an integer")
    return value


def _expect_object(event: dict[str, Any], key: str) -> None:
    if not isinstance(event[key], dict):
        raise MalformedEventError(f"{key} is {type(event[key]).__name__}, not an object")


def parse_server_event(interface: Interface, event: Any) -> list[ev.RealtimeEvent | Fact]:
    """Translate one decoded server event; raises MalformedEventError or UnknownEventError."""
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise MalformedEventError("not an object with a string 'type'")
    name: str = event["type"]
    if interface == "beta":
        if name in _GA_ONLY_NAMES:
            raise UnknownEventError(f"{name} (a GA event on a beta connection)")
        name = _BETA_NAMES.get(name, name)
    elif name == "conversation.item.created":
        name = "conversation.item.added"
    try:
        return _parse(name, event)
    except (KeyError, TypeError, AttributeError, binascii.Error) as err:
        raise MalformedEventError(f"{event['type']}: {type(err).__name__} {err}") from err


def _parse(name: str, event: dict[str, Any]) -> list[ev.RealtimeEvent | Fact]:
    match name:
        case "response.output_audio.delta":
            pcm = base64.b64decode(_str(event, "delta"), validate=True)
            return [
                ev.AudioDelta(
                    _str(event, "response_id"),
                    _str(event, "item_id"),
                    _int(event, "content_index"),
                    pcm,
                )
            ]
        case "response.output_audio_transcript.delta":
            return [
                ev.OutputTranscript(
                    _str(event, "response_id"), _str(event, "item_id"), _str(event, "delta"), False
                )
            ]
        case "response.output_audio_transcript.done":
            return [
                ev.OutputTranscript(
                    _str(event, "response_id"),
                    _str(event, "item_id"),
                    _str(event, "transcript"),
                    True,
                )
            ]
        case "response.output_text.delta":
            return [
                ev.OutputText(
                    _str(event, "response_id"), _str(event, "item_id"), _str(event, "delta"), False
                )
            ]
        case "response.output_text.done":
            return [
                ev.OutputText(
                    _str(event, "response_id"), _str(event, "item_id"), _str(event, "text"), True
                )
            ]
        case "response.output_audio.done":
            return [
                ev.AudioDone(
                    _str(event, "response_id"), _str(event, "item_id"), _int(event, "content_index")
                )
            ]
        case "input_audio_buffer.speech_started":
            return [ev.SpeechStarted(_str(event, "item_id"), _int(event, "audio_start_ms"))]
        case "input_audio_buffer.speech_stopped":
            return [ev.SpeechStopped(_str(event, "item_id"), _int(event, "audio_end_ms"))]
        case "input_audio_buffer.committed":
            return [ev.InputCommitted(_str(event, "item_id"))]
        case "conversation.item.input_audio_transcription.delta":
            return [ev.InputTranscript(_str(event, "item_id"), _str(event, "delta"), False)]
        case "conversation.item.input_audio_transcription.completed":
            return [ev.InputTranscript(_str(event, "item_id"), _str(event, "transcript"), True)]
        case "conversation.item.input_audio_transcription.failed":
            error = event.get("error") or {}
            return [
                ev.Warning(
                    "transcription_failed",
                    f"transcription of {event['item_id']} failed: {error.get('message', '')}",
                )
            ]
        case "response.output_item.done":
            item = event["item"]
            if item.get("type") != "function_call":
                return []
            return [
                ev.FunctionCall(
                    _str(item, "call_id"),
                    _str(item, "name"),
                    _str(item, "arguments"),
                    _str(event, "response_id"),
                    _str(item, "id"),
                )
            ]
        case "conversation.item.added":
            item = event["item"]
            return [ItemAdded(_str(item, "id"), _str(item, "type"), item.get("role"))]
        case "conversation.item.deleted":
            return [ItemDeleted(_str(event, "item_id"))]
        case "conversation.item.truncated":
            return [ItemTruncated(_str(event, "item_id"), _int(event, "audio_end_ms"))]
        case "response.created":
            response = event["response"]
            metadata = response.get("metadata") or {}
            return [ResponseCreated(_str(response, "id"), metadata.get(KIND_KEY) == OUT_OF_BAND)]
        case "response.done":
            response = event["response"]
            details = response.get("status_details") or {}
            reason = details.get("reason") or (details.get("error") or {}).get("code")
            return [
                ResponseFinished(
                    _str(response, "id"),
                    str(response.get("status") or "completed"),
                    reason,
                    response.get("usage"),
                )
            ]
        case "session.created":
            _expect_object(event, "session")
            return [SessionCreated()]
        case "session.updated":
            _expect_object(event, "session")
            return [SessionUpdated()]
        case "error":
            error = event["error"]
            return [
                ServerError(
                    str(error.get("type") or "server_error"),
                    error.get("code"),
                    str(error.get("message") or ""),
                    error.get("param"),
                    error.get("event_id"),
                )
            ]
        case _ if name in _IGNORED:
            return []
    raise UnknownEventError(event["type"])
