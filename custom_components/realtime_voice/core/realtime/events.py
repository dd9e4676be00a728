"""The internal event vocabulary: what a ``RealtimeSession`` yields, the same for GA and beta.

The raw GA and beta event names never leave the translation module (``wire.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .metrics import ResponseMetrics, Usage


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Server VAD heard the user start speaking (barge-in point)."""

    item_id: str
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    item_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class InputCommitted:
    """The user's audio became a conversation item (server VAD or ``commit_audio``)."""

    item_id: str


@dataclass(frozen=True, slots=True)
class InputTranscript:
    """Transcription of the user's audio: a ``delta`` while running, then the full text with done."""

    item_id: str
    text: str
    done: bool


@dataclass(frozen=True, slots=True)
class ResponseStarted:
    response_id: str
    out_of_band: bool


@dataclass(frozen=True, slots=True)
class AudioDelta:
    """PCM16 mono 24 kHz little-endian."""

    response_id: str
    item_id: str
    content_index: int
    pcm: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class AudioDone:
    response_id: str
    item_id: str
    content_index: int


@dataclass(frozen=True, slots=True)
class OutputTranscript:
    """What the model says: ``text`` is a delta while not done, the whole transcript when done."""

    response_id: str
    item_id: str
    text: str
    done: bool


@dataclass(frozen=True, slots=True)
class OutputText:
    """Text output (text-only responses): a delta while not done, the whole text when done."""

    response_id: str
    item_id: str
    text: str
    done: bool


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """The model calls a tool; dispatched once per call (from the finished output item)."""

    call_id: str
    name: str
    arguments: str
    response_id: str
    item_id: str


@dataclass(frozen=True, slots=True)
class ResponseDone:
    response_id: str
    status: str  # completed | cancelled | failed | incomplete
    usage: Usage
    cost_usd: float
    out_of_band: bool
    metrics: ResponseMetrics
    status_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Warning:  # the event's name in the vocabulary (shadows the builtin inside this module)
    """A recoverable error reported by the endpoint or noticed by the client."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Reconnecting:
    attempt: int
    delay_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class Reconnected:
    attempt: int
    conversation_kept: bool


@dataclass(frozen=True, slots=True)
class SessionReplaced:
    """A new connection took over; ``conversation_kept`` is False after ``reset_conversation``."""

    reason: str
    conversation_kept: bool


@dataclass(frozen=True, slots=True)
class Closed:
    """Last event of a session: ``error`` is None after ``close()``, else why the session gave up."""

    error: Exception | None = None


RealtimeEvent = (
    SpeechStarted
    | SpeechStopped
    | InputCommitted
    | InputTranscript
    | ResponseStarted
    | AudioDelta
    | AudioDone
    | OutputTranscript
    | OutputText
    | FunctionCall
    | ResponseDone
    | Warning
    | Reconnecting
    | Reconnected
    | SessionReplaced
    | Closed
)
