"""Realtime core: WebSocket client and model compatibility layer (no homeassistant imports).

Public API (everything below is re-exported here; raw GA/beta event names never leave
``wire.py``):

Settings and description
    ``RealtimeSettings(api_key, url=DEFAULT_URL, model_selection="auto"|"new"|"legacy",
    model="gpt-realtime", legacy_model="gpt-4o-realtime-preview", voice="marin",
    voice_fallback="alloy", auto_select_voice=True, ...timing knobs)``; ``api_key`` is not in the
    repr. The URL is taken as given (Azure ``*.openai.azure.com`` gets an ``api-key`` header, other
    hosts ``Authorization: Bearer``); ``model`` is added as query parameter unless the URL names
    one (``model=`` or ``deployment=``). Invalid values raise ``ConfigurationError`` naming the key.
    ``ToolDefinition(name, description, parameters)`` and ``SessionDescription(instructions, tools,
    turn_detection=TurnDetection() | None (push-to-talk), input_transcription_model,
    max_output_tokens, temperature (beta only), speed)``.

Opening
    ``await open_session(settings, description, selection_memory=None) -> RealtimeSession``:
    ``new`` = ``model`` on GA, ``legacy`` = ``legacy_model`` on beta, ``auto`` = new, falling back
    to legacy on ``model_not_found``/``invalid_model`` or a beta-only endpoint, never on a bad key
    and never on an endpoint that disabled beta. ``SelectionMemory`` remembers the outcome and
    retries the new model after ``retry_new_after`` (6 h). ``await check_connection(settings)
    -> ConnectionReport(model, interface, voice, fallback, connect_ms)`` for the config flow.
    Errors (all ``RealtimeError`` with a stable ``.code``): ``AuthenticationError``,
    ``ModelUnavailableError``, ``VoiceUnavailableError``, ``InterfaceUnsupportedError``
    (``.code`` ``beta_disabled`` or ``ga_unsupported``), ``RealtimeConnectionError`` (transient),
    ``ConfigurationError``, ``ProtocolError``. ``unavailable_cause(err)``: why the endpoint cannot
    serve a conversation now (network, dns, server_error, ..., or None), for the fallback brain.

Session
    ``RealtimeSession``: ``.model``, ``.interface`` ("ga"|"beta"), ``.voice``, ``.fallback``
    (``Fallback(from_model, to_model, reason)`` or None), ``.metrics`` (``SessionMetrics``);
    ``append_audio(pcm16_24k)``, ``commit_audio()``, ``clear_audio()``, ``add_user_text(text)``,
    ``create_response(instructions=None, out_of_band=False)``, ``send_function_output(call_id,
    output_json, respond=True, failed=False)``, ``cancel_response()``, ``truncate(item_id,
    content_index, audio_end_ms)``, ``update(description)``, ``reset_conversation()``,
    ``events()`` (async iterator ending with ``Closed``), ``close()``; all coroutines, and ``.closed``.
    Calls made while reconnecting wait for the new connection (``append_audio`` drops the frame
    instead, counted in ``metrics.audio_frames_dropped``); after the session gave up they raise
    ``RealtimeError`` with code ``closed``. ``reset_conversation`` opens a new connection.
    Events (``events.py``): SpeechStarted, SpeechStopped, InputCommitted, InputTranscript,
    ResponseStarted, AudioDelta, AudioDone, OutputTranscript, OutputText, FunctionCall (once per
    call), ResponseDone(usage, cost_usd, status, out_of_band, metrics), Warning, Reconnecting,
    Reconnected, SessionReplaced, Closed(error).
    Resilience: drops, timeouts and ``session_expired`` reconnect with exponential backoff and
    jitter and re-create the conversation from transcripts; the connection is replaced in a pause
    before the 60-minute limit; malformed or unknown server events are logged once and skipped.

Registry and cost
    ``MODELS``, ``lookup(model) -> ModelInfo | None`` (interface, voices, ``Prices`` per 1M
    tokens, context size, shutdown date, successor); ``Usage``; ``cost_usd(usage, prices)``.
"""

from .errors import (
    UNAVAILABLE_CAUSES,
    AuthenticationError,
    ConfigurationError,
    InterfaceUnsupportedError,
    ModelUnavailableError,
    ProtocolError,
    RealtimeConnectionError,
    RealtimeError,
    VoiceUnavailableError,
    unavailable_cause,
)
from .events import (
    AudioDelta,
    AudioDone,
    Closed,
    FunctionCall,
    InputCommitted,
    InputTranscript,
    OutputText,
    OutputTranscript,
    RealtimeEvent,
    Reconnected,
    Reconnecting,
    ResponseDone,
    ResponseStarted,
    SessionReplaced,
    SpeechStarted,
    SpeechStopped,
    Warning,
)
from .metrics import ResponseMetrics, SessionMetrics, Usage, cost_for_model, cost_usd
from .registry import MODELS, Interface, ModelInfo, Prices, lookup
from .selection import (
    ConnectionReport,
    SelectionMemory,
    SelectionOutcome,
    check_connection,
    open_session,
)
from .session import Fallback, RealtimeSession
from .settings import (
    DEFAULT_URL,
    RealtimeSettings,
    SessionDescription,
    ToolDefinition,
    TurnDetection,
)

__all__ = [
    "DEFAULT_URL",
    "MODELS",
    "UNAVAILABLE_CAUSES",
    "AudioDelta",
    "AudioDone",
    "AuthenticationError",
    "Closed",
    "ConfigurationError",
    "ConnectionReport",
    "Fallback",
    "FunctionCall",
    "InputCommitted",
    "InputTranscript",
    "Interface",
    "InterfaceUnsupportedError",
    "ModelInfo",
    "ModelUnavailableError",
    "OutputText",
    "OutputTranscript",
    "Prices",
    "ProtocolError",
    "RealtimeConnectionError",
    "RealtimeError",
    "RealtimeEvent",
    "RealtimeSession",
    "RealtimeSettings",
    "Reconnected",
    "Reconnecting",
    "ResponseDone",
    "ResponseMetrics",
    "ResponseStarted",
    "SelectionMemory",
    "SelectionOutcome",
    "SessionDescription",
    "SessionMetrics",
    "SessionReplaced",
    "SpeechStarted",
    "SpeechStopped",
    "ToolDefinition",
    "TurnDetection",
    "Usage",
    "VoiceUnavailableError",
    "Warning",
    "check_connection",
    "cost_for_model",
    "cost_usd",
    "lookup",
    "open_session",
    "unavailable_cause",
]
