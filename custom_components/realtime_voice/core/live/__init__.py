"""Live core: the WebSocket client of OpenAI's GPT-Live (full duplex, billed per active minute; no
homeassistant imports, no openai import: the supported HA versions pin openai releases without
``openai.types.live``).

``await open_live_session(LiveSettings(api_key, url=DEFAULT_URL, model="gpt-live-1.1",
voice="marin", instructions=...)) -> LiveSession``: connects, sends ``session.start`` (24 kHz PCM,
the voice, client delegation) and waits for ``session.started``. ``LiveSession``:
``append_audio(pcm)``, ``commentary(text, delegation_id)`` (spoken), ``thinking(text,
delegation_id)`` (silent), ``close()``, ``events()`` (``events.py``: OutputAudio, InputTranscript,
OutputTranscript, DelegationCreated, UsageUpdated, Notice, ServiceError, ending with Closed);
``usage_seconds``. Malformed or unknown server events are logged and skipped. Errors (``errors.py``,
each with a stable ``code``): LiveAuthenticationError, LiveAccessError (``model_not_found``, HTTP
403), LiveConnectionError, LiveProtocolError, LiveConfigurationError. ``registry.py``: the models
and their price per minute (``cost_usd``).
"""

from . import events
from .client import DEFAULT_URL, LiveSession, LiveSettings, open_live_session
from .errors import (
    LiveAccessError,
    LiveAuthenticationError,
    LiveConfigurationError,
    LiveConnectionError,
    LiveError,
    LiveProtocolError,
)
from .registry import DEFAULT_MODEL, LIVE_MODELS, cost_usd

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_URL",
    "LIVE_MODELS",
    "LiveAccessError",
    "LiveAuthenticationError",
    "LiveConfigurationError",
    "LiveConnectionError",
    "LiveError",
    "LiveProtocolError",
    "LiveSession",
    "LiveSettings",
    "cost_usd",
    "events",
    "open_live_session",
]
