"""What a Live session tells its owner, in the client's own vocabulary (the wire names stay in
wire.py)."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import LiveError


@dataclass(frozen=True, slots=True)
class OutputAudio:
    """Audio of the model's voice (PCM16 mono at the session's rate), to play as it arrives."""

    pcm: bytes


@dataclass(frozen=True, slots=True)
class InputTranscript:
    """A fragment of what the user said (fragments only: Live sends no transcript-done)."""

    text: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class OutputTranscript:
    """A fragment of what the model said."""

    text: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class DelegationCreated:
    """The model hands work to the client; it carries no task text (the client rebuilds the
    request from the transcript up to ``offset_ms``)."""

    delegation_id: str
    offset_ms: int


@dataclass(frozen=True, slots=True)
class UsageUpdated:
    seconds: float  # cumulative for the session (not an increment)


@dataclass(frozen=True, slots=True)
class Notice:
    """An ``info`` event."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ServiceError:
    """An ``error`` event that did not end the session (a refused command)."""

    code: str
    message: str
    param: str | None = None


@dataclass(frozen=True, slots=True)
class Closed:
    """The last event of a session. ``reason``: the service's (``close_requested``, ``expired``,
    ``content``, ``remote_hangup``, ``connection_lost``), or ``dropped`` when the connection closed
    without ``session.closed``; ``error`` when it ended on one."""

    reason: str
    usage_seconds: float | None = None
    error: LiveError | None = None


LiveEvent = (
    OutputAudio
    | InputTranscript
    | OutputTranscript
    | DelegationCreated
    | UsageUpdated
    | Notice
    | ServiceError
    | Closed
)
