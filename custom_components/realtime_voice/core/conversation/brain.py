"""The brain: what hears the user and answers, behind one small interface.

The conversation engine (engine.py) owns the satellite's side; a brain gets a turn with the user's
audio and sends audio and events back. Today's brain is the Realtime session
(``realtime_brain.py`` of the integration); a brain that cannot cancel or truncate an answer says
so in its abilities, and the engine then lets the answer play out (and stops it on the satellite
only). Tools are the brain's business (HA runs them); the engine only learns that they are progress.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class BrainAbilities:
    cancel: bool = True  # an answer can be stopped before it is all generated
    truncate: bool = True  # the brain can forget what the user did not hear of an answer
    # The brain hears the user while it speaks and decides itself when to talk and when to stop
    # (GPT-Live): the microphone stays open for the whole conversation, barge-in is the brain's,
    # and its input must keep flowing (its clock moves only with input audio).
    full_duplex: bool = False


@dataclass(frozen=True, slots=True)
class Turn:
    """A conversation that starts: what the brain needs to know of it."""

    conversation_id: str
    extra_prompt: str | None = None
    # ask_question: the user's words are the automation's; the brain answers none of them.
    question: bool = False


class TurnRefused(Exception):
    """The brain cannot take the conversation: the engine plays the error tone and ends it with
    ``reason`` (``lost``: what the user said that is lost, for the conversation_ended event).

    ``cause``: set when the brain's service cannot be reached or refuses it (the network, its
    account, its model: a word such as ``network`` or ``invalid_api_key``); a fallback brain
    (fallback.py) then takes the turn. None: the brain itself failed, and no other brain would help.
    """

    def __init__(self, reason: str, *, lost: str | None = None, cause: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.lost = lost
        self.cause = cause


class SpeakError(Exception):
    """The brain cannot speak an announcement now (the message says why)."""


class SpeechCutError(Exception):
    """The brain lost its connection while it spoke an announcement: only part of it was heard."""


# --- what the brain tells the engine -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The brain's voice activity detection heard the user start."""


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """The user stopped speaking: the brain answers."""


@dataclass(frozen=True, slots=True)
class UserSaid:
    text: str  # what the conversation_ended event shows (the brain keeps secrets out)


@dataclass(frozen=True, slots=True)
class AnswerStarted:
    answer_id: str  # also the answer's stream id on the satellite


@dataclass(frozen=True, slots=True)
class AnswerAudio:
    answer_id: str
    pcm: bytes


@dataclass(frozen=True, slots=True)
class AnswerAudioDone:
    answer_id: str


@dataclass(frozen=True, slots=True)
class AssistantSaid:
    text: str


# done: answered; continues: another answer follows (tools ran); stopped: cancelled or cut short
# by the brain; failed: an error; cut: the brain's connection dropped (ConnectionLost follows).
AnswerOutcome = Literal["done", "continues", "stopped", "failed", "cut"]


@dataclass(frozen=True, slots=True)
class AnswerDone:
    answer_id: str
    outcome: AnswerOutcome
    # failed: what failed (the conversation_ended event's reason is "error: <error>")
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """Work for the answer goes on (a tool runs): the answer's watchdog starts again."""


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The brain's connection dropped: what the user says now cannot reach it."""


@dataclass(frozen=True, slots=True)
class BrainClosed:
    """The brain's session ended for good (a new one is being opened)."""


@dataclass(frozen=True, slots=True)
class Changed:
    """Something the entities show changed (figures, the session), or the brain's abilities (a
    Live session opened: the engine then asks the satellite for full duplex)."""


BrainEvent = (
    SpeechStarted
    | SpeechStopped
    | UserSaid
    | AnswerStarted
    | AnswerAudio
    | AnswerAudioDone
    | AssistantSaid
    | AnswerDone
    | Progress
    | ConnectionLost
    | BrainClosed
    | Changed
)
BrainEventHandler = Callable[[BrainEvent], Awaitable[None]]


class Brain(Protocol):
    """What the conversation engine needs of a brain. Its events go to the handler given to
    ``attach``, in order."""

    @property
    def abilities(self) -> BrainAbilities:
        """What the brain can do, read at each use: a brain may change them between conversations
        (Live handing a turn to Realtime, a fallback brain with its turn)."""

    def attach(self, handler: BrainEventHandler) -> None: ...

    async def start(self) -> None:
        """Get ready in the background (open and warm a session)."""

    async def stop(self) -> None: ...

    async def start_turn(self, turn: Turn, take_audio: Callable[[], bytes]) -> None:
        """A conversation starts; the user's audio since the wake word is kept by the engine until
        the brain calls ``take_audio`` (once, when it can hear it); after that the engine sends
        it with ``send_audio`` as it comes. Raises TurnRefused when it cannot take the turn."""

    async def send_audio(self, pcm: bytes) -> None: ...

    async def next_turn(self) -> None:
        """After an answer (follow-up) or into it (barge-in): the user speaks again without a
        wake word."""

    async def cancel(self) -> None:
        """Stop answering (only called if ``abilities.cancel``)."""

    async def truncate(self, answer_id: str, played_ms: int) -> None:
        """The user heard ``played_ms`` of the answer (only called if ``abilities.truncate``)."""

    async def end_turn(self, *, answering: bool, listening: bool) -> None:
        """The conversation ended (``answering``: an answer was in flight; ``listening``: the user's
        audio was flowing)."""

    def drop_context(self, done: Callable[[], None]) -> None:
        """Forget the ended conversation in the background; call ``done`` when that is over."""

    def listen_at_least_s(self) -> float:
        """The brain waits for the user's words (a confirmation it asked for): the follow-up window
        is at least this long."""

    def speak(self, text: str) -> AsyncIterator[bytes]:
        """Speak ``text`` out of the conversation (an announcement): its audio as it comes. Raises
        SpeakError when it cannot, SpeechCutError when it was cut off."""
