"""Messages of the satellite link and their JSON encoding (see docs/link-protocol.md).

Text frames carry one JSON object with a ``type``; binary frames carry audio (PCM16 LE mono 24 kHz):
from the satellite while it is listening, to the satellite between ``play_start`` and ``play_end``.
Parsing checks every field and raises :class:`ProtocolError` naming the bad key and value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, Literal, get_args, get_type_hints

# The newest version this code speaks, and every version it still speaks. The satellite's hello
# names its newest; the client answers with the lower of that and its own (the link's version).
# 2 added the stop word (``stop_word``, ``playback_stopped`` reason ``stop_word``); 3 is 2 over TLS
# with proofs bound to both nonces and the certificate's fingerprint; 4 adds full duplex (``listen``
# with ``full_duplex``, ``info.echo_cancellation``). Versions 1 and 2 (plain ws://) are no longer
# spoken: a satellite that cannot encrypt is refused, not downgraded to.
# Each release's section of CHANGELOG.md names PROTOCOL_VERSIONS ("link protocol 3."; scripts/release
# reads both lines as they are written here): a change to either is a new minor release at least.
PROTOCOL_VERSION = 4
PROTOCOL_VERSIONS = (3, 4)
# The first version with full duplex: ``listen.full_duplex`` and ``info.echo_cancellation`` (a peer
# of 3 refuses both keys, so neither is sent on a link of 3).
FULL_DUPLEX_VERSION = 4
# The last version without encryption (an old satellite's hello says it over plain ws://).
LAST_PLAIN_VERSION = 2
AUDIO_RATE = 24_000
AUDIO_SAMPLE_BYTES = 2
# 20 ms of 24 kHz PCM16 mono: the size of each audio frame the satellite sends.
AUDIO_FRAME_BYTES = AUDIO_RATE * AUDIO_SAMPLE_BYTES // 50
# The largest audio frame either side sends: half a second (far below the 1 MiB frame limit).
MAX_AUDIO_FRAME_BYTES = AUDIO_RATE * AUDIO_SAMPLE_BYTES // 2
# HA -> satellite binary frames: an even length is audio of the voice stream (an answer, an
# announcement, a chime); an odd length is this byte, then audio of the media stream (music, played
# under the voice and ducked by it). PCM16 frames always have an even length, so the two never mix up.
MEDIA_AUDIO_TAG = b"\x01"
# Every frame either side accepts: the largest audio frame with room to spare; text frames are small.
MAX_FRAME_BYTES = 64 * 1024
# JSON nesting a text frame may have (the messages use 2: an object holding a list).
MAX_JSON_DEPTH = 8
DEFAULT_PORT = 10800
ZEROCONF_TYPE = "_realtime-voice._tcp.local."

# WebSocket close codes (4000-4999 are free for applications).
CLOSE_AUTH_FAILED = 4001
CLOSE_BUSY = 4002
CLOSE_PROTOCOL_ERROR = 4003
CLOSE_AUTH_TIMEOUT = 4004
CLOSE_CERTIFICATE = 4005
CLOSE_SHUTDOWN = 1001

State = Literal["idle", "listening", "responding", "muted"]
PlayKind = Literal["response", "announcement", "chime", "media"]
ListenReason = Literal["wake", "command", "barge_in"]
ListenEndReason = Literal["stopped", "timeout", "muted", "disconnected"]


class ProtocolError(ValueError):
    """A message that does not follow the protocol; the text names the bad key and value."""


# --- authentication -------------------------------------------------------------------------
# Both sides prove the access key without sending it: HMAC-SHA256 over both nonces and the
# SHA-256 fingerprint of the TLS certificate the prover sees, with a role prefix so that a proof
# cannot be reflected back. A relay that terminates TLS with its own certificate makes the
# fingerprints differ, and no proof made on one side of it is valid on the other.

_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def new_nonce() -> str:
    return secrets.token_hex(16)


def auth_proof(
    access_key: str,
    role: Literal["client", "server"],
    *,
    server_nonce: str,
    client_nonce: str,
    certificate: str,
    protocol: int = PROTOCOL_VERSION,
) -> str:
    """``certificate`` is the fingerprint of the satellite's certificate as the prover sees it;
    ``protocol`` is the link's version (the one in ``auth``), so a proof binds it too."""
    message = f"realtime-voice/{protocol}/{role}:{server_nonce}:{client_nonce}:{certificate}"
    return hmac.new(access_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def proof_matches(
    access_key: str,
    role: Literal["client", "server"],
    *,
    server_nonce: str,
    client_nonce: str,
    certificate: str,
    proof: str,
    protocol: int = PROTOCOL_VERSION,
) -> bool:
    expected = auth_proof(
        access_key,
        role,
        server_nonce=server_nonce,
        client_nonce=client_nonce,
        certificate=certificate,
        protocol=protocol,
    )
    return hmac.compare_digest(expected.encode(), proof.encode("ascii", "replace"))


def _hex(where: str, value: str, pattern: re.Pattern[str], length: int) -> None:
    if not pattern.fullmatch(value):
        raise ProtocolError(f"{where}: expected {length} lowercase hex digits")


def negotiate(satellite_protocol: int) -> int | None:
    """The client's choice for a satellite whose hello names ``satellite_protocol``; None: none."""
    version = min(satellite_protocol, PROTOCOL_VERSION)
    return version if version in PROTOCOL_VERSIONS else None


def _in_range(where: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise ProtocolError(f"{where}: expected a number from {low} to {high}, got {value!r}")


# --- messages -------------------------------------------------------------------------------


class Message:
    """Base of every text message; ``TYPE`` is its ``type`` on the wire."""

    __slots__ = ()
    TYPE: ClassVar[str]

    def to_json(self) -> str:
        # An optional field left at None is omitted: a peer of an older protocol version, which
        # refuses keys it does not know, then still reads messages that gained optional fields.
        data = {
            f.name: getattr(self, f.name)
            for f in fields(self)  # type: ignore[arg-type]
            if not (f.default is None and getattr(self, f.name) is None)
        }
        return json.dumps({"type": self.TYPE, **data}, separators=(",", ":"))


# Handshake (server -> client, client -> server, server -> client).
@dataclass(frozen=True, slots=True)
class Hello(Message):
    TYPE: ClassVar[str] = "hello"
    protocol: int
    name: str
    version: str
    nonce: str

    def __post_init__(self) -> None:
        _hex("hello.nonce", self.nonce, _HEX32, 32)


@dataclass(frozen=True, slots=True)
class Auth(Message):
    TYPE: ClassVar[str] = "auth"
    protocol: int
    proof: str
    nonce: str
    client: str = "Home Assistant"
    # protocol 3: the fingerprint of the certificate the client saw (a hint for a clear refusal;
    # what protects is that the proof binds it)
    certificate: str | None = None

    def __post_init__(self) -> None:
        _hex("auth.proof", self.proof, _HEX64, 64)
        _hex("auth.nonce", self.nonce, _HEX32, 32)
        if self.certificate is not None:
            _hex("auth.certificate", self.certificate, _HEX64, 64)


@dataclass(frozen=True, slots=True)
class AuthOk(Message):
    TYPE: ClassVar[str] = "auth_ok"
    proof: str

    def __post_init__(self) -> None:
        _hex("auth_ok.proof", self.proof, _HEX64, 64)


@dataclass(frozen=True, slots=True)
class AuthFailed(Message):
    TYPE: ClassVar[str] = "auth_failed"
    code: Literal["invalid_auth", "busy", "protocol", "certificate"]
    reason: str


# Satellite -> HA events.
@dataclass(frozen=True, slots=True)
class Info(Message):
    TYPE: ClassVar[str] = "info"
    name: str
    satellite_id: str  # stable across restarts and renames: HA's unique id for the satellite
    version: str
    protocol: int
    wake_words_available: list[str]
    wake_words_active: list[str]
    threshold: float
    follow_up_s: float
    chime: bool
    muted: bool
    volume: float
    state: State
    # protocol 4: whether the microphone's audio is echo-cancelled (the satellite's canceller, or an
    # input device that cancels echo itself): GPT-Live, which hears everything the microphone sends
    # while it speaks, needs it. None: not reported (a link of protocol 3).
    echo_cancellation: bool | None = None


@dataclass(frozen=True, slots=True)
class Wake(Message):
    TYPE: ClassVar[str] = "wake"
    model: str
    score: float
    t: float


@dataclass(frozen=True, slots=True)
class StateChanged(Message):
    TYPE: ClassVar[str] = "state"
    state: State


@dataclass(frozen=True, slots=True)
class ListenStart(Message):
    """Audio frames follow until ``listen_end``."""

    TYPE: ClassVar[str] = "listen_start"
    reason: ListenReason


@dataclass(frozen=True, slots=True)
class ListenEnd(Message):
    TYPE: ClassVar[str] = "listen_end"
    reason: ListenEndReason


@dataclass(frozen=True, slots=True)
class PlaybackFinished(Message):
    TYPE: ClassVar[str] = "playback_finished"
    stream_id: str
    played_ms: int


@dataclass(frozen=True, slots=True)
class PlaybackStopped(Message):
    """Playback ended before its end: ``played_ms`` is what the user heard (for truncation)."""

    TYPE: ClassVar[str] = "playback_stopped"
    stream_id: str
    played_ms: int
    reason: Literal["command", "barge_in", "muted", "replaced", "stop_word"]


@dataclass(frozen=True, slots=True)
class BargeIn(Message):
    TYPE: ClassVar[str] = "barge_in"
    model: str
    score: float
    stream_id: str | None


@dataclass(frozen=True, slots=True)
class StopWord(Message):
    """A stop word during playback (protocol 2): the user wants silence, not a new command."""

    TYPE: ClassVar[str] = "stop_word"
    model: str
    score: float
    stream_id: str | None


@dataclass(frozen=True, slots=True)
class Error(Message):
    TYPE: ClassVar[str] = "error"
    code: str
    message: str


# HA -> satellite commands.
@dataclass(frozen=True, slots=True)
class Listen(Message):
    TYPE: ClassVar[str] = "listen"
    timeout_s: float | None = None
    # protocol 4: True = full duplex: the audio keeps flowing while the satellite speaks (an answer
    # or announcement starting does not end listening), until ``stop_listening``
    full_duplex: bool | None = None

    def __post_init__(self) -> None:
        _in_range("listen.timeout_s", self.timeout_s, 0.001, 3600.0)


@dataclass(frozen=True, slots=True)
class StopListening(Message):
    TYPE: ClassVar[str] = "stop_listening"


@dataclass(frozen=True, slots=True)
class PlayStart(Message):
    TYPE: ClassVar[str] = "play_start"
    stream_id: str
    kind: PlayKind = "response"


@dataclass(frozen=True, slots=True)
class PlayEnd(Message):
    TYPE: ClassVar[str] = "play_end"
    stream_id: str


@dataclass(frozen=True, slots=True)
class StopPlayback(Message):
    TYPE: ClassVar[str] = "stop_playback"
    stream_id: str | None = None


@dataclass(frozen=True, slots=True)
class SetMute(Message):
    TYPE: ClassVar[str] = "set_mute"
    muted: bool


@dataclass(frozen=True, slots=True)
class SetVolume(Message):
    TYPE: ClassVar[str] = "set_volume"
    volume: float

    def __post_init__(self) -> None:
        _in_range("set_volume.volume", self.volume, 0.0, 1.0)


@dataclass(frozen=True, slots=True)
class Configure(Message):
    """Only the fields given change; ``None`` keeps the current value."""

    TYPE: ClassVar[str] = "configure"
    wake_words_active: list[str] | None = None
    threshold: float | None = None
    follow_up_s: float | None = None
    chime: bool | None = None
    # protocol 2: True = back to the satellite's own threshold (its satellite.yaml, else each
    # model's recommendation), for when HA's own setting is cleared
    own_threshold: bool | None = None

    def __post_init__(self) -> None:
        _in_range("configure.threshold", self.threshold, 0.0, 1.0)
        if self.own_threshold and self.threshold is not None:
            raise ProtocolError("configure.own_threshold: cannot be given with a threshold")
        _in_range("configure.follow_up_s", self.follow_up_s, 0.0, 600.0)


# --- updates: Home Assistant has the satellite install another release of itself ---------------
# (docs/link-protocol.md "Updates"). The satellite runs ``pip install realtime-voice-satellite==X``
# for exactly the version named, so a version is a release's version and nothing else: never an
# option, a path or a range that pip would read otherwise.
RELEASE_VERSION = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)((a|b|rc)(0|[1-9]\d*))?")
UpdateStage = Literal["installing", "restarting", "failed"]


def _release_version(where: str, value: str) -> None:
    if not RELEASE_VERSION.fullmatch(value):
        raise ProtocolError(
            f"{where}: expected a release version such as 1.2.3 or 1.2.3rc1, got {value[:40]!r}"
        )


@dataclass(frozen=True, slots=True)
class Update(Message):
    """HA -> satellite: install release ``version`` of the satellite, then restart in place."""

    TYPE: ClassVar[str] = "update"
    version: str

    def __post_init__(self) -> None:
        _release_version("update.version", self.version)


@dataclass(frozen=True, slots=True)
class UpdateProgress(Message):
    """Satellite -> HA: how the update to ``version`` goes. ``installing`` (``progress`` 0-100),
    ``restarting`` (installed; the link drops, the new version's hello follows), or ``failed``
    (``error`` says why; the running version goes on)."""

    TYPE: ClassVar[str] = "update_progress"
    version: str
    stage: UpdateStage
    progress: int | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        _release_version("update_progress.version", self.version)
        _in_range("update_progress.progress", self.progress, 0, 100)
        if (self.stage == "failed") != (self.error is not None):
            raise ProtocolError("update_progress.error: given with stage 'failed' and only then")


# Pairing by a spoken code, before authentication (pairing.py, docs/link-protocol.md "Pairing"):
# instead of ``auth``, HA sends ``pair_request`` (the satellite speaks its code, answers ``pairing``)
# or ``pair`` (SPAKE2 with the code the user typed: ``pair_reply``, ``pair_confirm``, ``pair_ok``).
# A refusal is ``pair_failed``; the satellite closes the connection after each of them.
_SPAKE2_HEX = re.compile(r"(?:[0-9a-f]{2}){1,128}")


@dataclass(frozen=True, slots=True)
class PairRequest(Message):
    TYPE: ClassVar[str] = "pair_request"
    protocol: int
    client: str
    certificate: (
        str  # the fingerprint the client sees (refused early when it is not the satellite's)
    )

    def __post_init__(self) -> None:
        _hex("pair_request.certificate", self.certificate, _HEX64, 64)


@dataclass(frozen=True, slots=True)
class Pairing(Message):
    """The code was spoken: valid for ``expires_s`` more seconds, ``tries_left`` wrong codes."""

    TYPE: ClassVar[str] = "pairing"
    expires_s: float
    tries_left: int


@dataclass(frozen=True, slots=True)
class Pair(Message):
    TYPE: ClassVar[str] = "pair"
    protocol: int
    message: str  # SPAKE2 (side A), hex
    nonce: str
    client: str
    certificate: str

    def __post_init__(self) -> None:
        if not _SPAKE2_HEX.fullmatch(self.message):
            raise ProtocolError("pair.message: expected up to 256 lowercase hex digits")
        _hex("pair.nonce", self.nonce, _HEX32, 32)
        _hex("pair.certificate", self.certificate, _HEX64, 64)


@dataclass(frozen=True, slots=True)
class PairReply(Message):
    TYPE: ClassVar[str] = "pair_reply"
    message: str  # SPAKE2 (side B), hex

    def __post_init__(self) -> None:
        if not _SPAKE2_HEX.fullmatch(self.message):
            raise ProtocolError("pair_reply.message: expected up to 256 lowercase hex digits")


@dataclass(frozen=True, slots=True)
class PairConfirm(Message):
    TYPE: ClassVar[str] = "pair_confirm"
    proof: str

    def __post_init__(self) -> None:
        _hex("pair_confirm.proof", self.proof, _HEX64, 64)


@dataclass(frozen=True, slots=True)
class PairOk(Message):
    TYPE: ClassVar[str] = "pair_ok"
    proof: str

    def __post_init__(self) -> None:
        _hex("pair_ok.proof", self.proof, _HEX64, 64)


@dataclass(frozen=True, slots=True)
class PairFailed(Message):
    TYPE: ClassVar[str] = "pair_failed"
    code: Literal[
        "wrong_code", "expired", "not_pairing", "too_many_tries", "certificate", "protocol"
    ]
    reason: str
    tries_left: int | None = None


PAIRING: tuple[type[Message], ...] = (
    PairRequest,
    Pairing,
    Pair,
    PairReply,
    PairConfirm,
    PairOk,
    PairFailed,
)


HANDSHAKE: tuple[type[Message], ...] = (Hello, Auth, AuthOk, AuthFailed)
EVENTS: tuple[type[Message], ...] = (
    Info,
    Wake,
    StateChanged,
    ListenStart,
    ListenEnd,
    PlaybackFinished,
    PlaybackStopped,
    BargeIn,
    StopWord,
    Error,
    UpdateProgress,
)
COMMANDS: tuple[type[Message], ...] = (
    Listen,
    StopListening,
    PlayStart,
    PlayEnd,
    StopPlayback,
    SetMute,
    SetVolume,
    Configure,
    Update,
)
_BY_TYPE: dict[str, type[Message]] = {
    cls.TYPE: cls for cls in (*HANDSHAKE, *PAIRING, *EVENTS, *COMMANDS)
}

Event = (
    Info
    | Wake
    | StateChanged
    | ListenStart
    | ListenEnd
    | PlaybackFinished
    | PlaybackStopped
    | BargeIn
    | StopWord
    | Error
    | UpdateProgress
)
Command = (
    Listen
    | StopListening
    | PlayStart
    | PlayEnd
    | StopPlayback
    | SetMute
    | SetVolume
    | Configure
    | Update
)


def _check(where: str, value: Any, annotation: Any) -> Any:
    """Validate one field against its annotation (only the few shapes used above)."""
    origin = getattr(annotation, "__origin__", None)
    if origin is Literal:
        if value in get_args(annotation):
            return value
        raise ProtocolError(f"{where}: expected one of {list(get_args(annotation))}, got {value!r}")
    if origin is list:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ProtocolError(f"{where}: expected a list of strings, got {value!r}")
    options = get_args(annotation)
    if type(None) in options:  # X | None
        if value is None:
            return None
        return _check(where, value, next(o for o in options if o is not type(None)))
    if annotation is bool and isinstance(value, bool):
        return value
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation is str and isinstance(value, str):
        return value
    raise ProtocolError(
        f"{where}: expected {getattr(annotation, '__name__', annotation)}, got {value!r}"
    )


_HINTS: dict[type[Message], dict[str, Any]] = {
    cls: {k: v for k, v in get_type_hints(cls).items() if k != "TYPE"} for cls in _BY_TYPE.values()
}


def parse(text: str | bytes, allowed: tuple[type[Message], ...]) -> Message:
    """Decode one text frame into the message class its ``type`` names (one of ``allowed``).

    Anything malformed, however (not JSON, nested deeper than ``MAX_JSON_DEPTH``, lone surrogates,
    wrong keys or values), is a ProtocolError; nothing else escapes."""
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError as err:
            raise ProtocolError(f"not UTF-8: {err}") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise ProtocolError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as err:
        raise ProtocolError(f"not JSON: {err}") from None
    _check_tree(data)
    if not isinstance(data, dict):
        raise ProtocolError(f"expected a JSON object, got {type(data).__name__}")
    type_name = data.pop("type", None)
    cls = _BY_TYPE.get(type_name) if isinstance(type_name, str) else None
    if cls is None or cls not in allowed:
        raise ProtocolError(f"type: unexpected message type {type_name!r}")
    hints = _HINTS[cls]
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ProtocolError(f"{type_name}.{unknown[0]}: unknown key")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            if f.default is MISSING:
                raise ProtocolError(f"{type_name}.{f.name}: missing")
            continue
        kwargs[f.name] = _check(f"{type_name}.{f.name}", data[f.name], hints[f.name])
    return cls(**kwargs)


def _check_tree(data: Any) -> None:
    """Refuse nesting deeper than ``MAX_JSON_DEPTH`` and strings with a lone surrogate
    (``"\\ud800"`` cannot be encoded: it would fail later, in an HMAC or a log line). Iterative, so
    that no depth makes it recurse."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                raise ProtocolError("a string holds a lone surrogate") from None
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ProtocolError(f"nested deeper than {MAX_JSON_DEPTH} levels")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
