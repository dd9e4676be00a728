"""The satellite's conversation states and every transition between them, on one page.

A transition not in the table does not happen (it is logged at debug level): a late event of an
ended conversation, an announcement's end after a barge-in took over, and the like cannot put the
satellite in a state that nothing leaves. The conversation engine (engine.py) fires the triggers;
its watchdog bounds every state but IDLE and ANNOUNCING (the announcer bounds that).

    state       what is going on                                       the entity shows
    IDLE        nothing; the brain's fresh context is ready             idle
    RESETTING   a conversation ended; its context is being dropped      idle
    LISTENING   the user's audio goes to the brain                      listening
    FOLLOW_UP   after an answer, listening without a wake word;         listening
                nobody has spoken yet (an announcement ends it)
    PROCESSING  the user stopped speaking; the brain is answering       processing
                (full duplex: the user may go on, USER_SPEAKS)
    RESPONDING  the answer plays on the satellite                       responding
    ANNOUNCING  an announcement plays (not part of a conversation)      responding

A full-duplex brain (GPT-Live) uses the same states: the microphone stays open in all of them
during a conversation, and the brain's own events (speech, answers) move it as they do for any.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import StrEnum


class ConversationState(StrEnum):
    IDLE = "idle"
    RESETTING = "resetting"
    LISTENING = "listening"
    FOLLOW_UP = "follow_up"
    PROCESSING = "processing"
    RESPONDING = "responding"
    ANNOUNCING = "announcing"


class Trigger(StrEnum):
    START = "start"  # a wake word, a barge-in outside a conversation, start_conversation
    SPEECH_STARTED = "speech_started"  # the brain's voice activity detection heard the user
    SPEECH_STOPPED = "speech_stopped"
    ANSWER_AUDIO = "answer_audio"  # audio of an answer arrives
    ANSWERED = "answered"  # the answer played (or needed no audio): listen for a follow-up
    BARGE_IN = "barge_in"  # the wake word while an answer plays: stop it, listen
    END = "end"  # the conversation is over, for any reason
    RESET_DONE = "reset_done"  # the ended conversation's context is gone
    ANNOUNCE = "announce"
    ANNOUNCED = "announced"
    # Full duplex only (the microphone never closes): the user speaks again before the answer.
    USER_SPEAKS = "user_speaks"


S, T = ConversationState, Trigger

TRANSITIONS: dict[ConversationState, dict[Trigger, ConversationState]] = {
    S.IDLE: {T.START: S.LISTENING, T.ANNOUNCE: S.ANNOUNCING},
    # A wake word while the context is dropped: its audio waits until the reset is done.
    S.RESETTING: {T.START: S.LISTENING, T.RESET_DONE: S.IDLE},
    S.LISTENING: {
        T.SPEECH_STOPPED: S.PROCESSING,
        T.ANSWER_AUDIO: S.RESPONDING,
        T.BARGE_IN: S.LISTENING,
        T.END: S.RESETTING,
    },
    S.FOLLOW_UP: {
        T.SPEECH_STARTED: S.LISTENING,
        T.SPEECH_STOPPED: S.PROCESSING,
        T.ANSWER_AUDIO: S.RESPONDING,
        T.BARGE_IN: S.LISTENING,
        T.END: S.RESETTING,
    },
    S.PROCESSING: {
        T.ANSWER_AUDIO: S.RESPONDING,
        T.ANSWERED: S.FOLLOW_UP,
        T.BARGE_IN: S.LISTENING,
        T.USER_SPEAKS: S.LISTENING,
        T.END: S.RESETTING,
    },
    S.RESPONDING: {
        T.ANSWER_AUDIO: S.RESPONDING,
        T.ANSWERED: S.FOLLOW_UP,
        T.BARGE_IN: S.LISTENING,
        T.END: S.RESETTING,
    },
    # A wake word during an announcement (the satellite stopped it) or start_conversation's listening.
    S.ANNOUNCING: {T.START: S.LISTENING, T.ANNOUNCED: S.IDLE},
}


def next_state(state: ConversationState, trigger: Trigger) -> ConversationState | None:
    """Where ``trigger`` leads from ``state``; None if it does not apply there."""
    return TRANSITIONS[state].get(trigger)


@dataclass
class Conversation:
    """What one conversation said and did (for the conversation_ended event)."""

    id: str
    reason: str  # wake | start_conversation | ask_question | barge_in
    started: float = field(default_factory=time.monotonic)
    user: list[str] = field(default_factory=list)
    assistant: list[str] = field(default_factory=list)
    tool_calls: int = 0
    stopping: bool = False  # a stop word: ends once the stopped answer is truncated
    # ask_question: the user's answer (None: none came) is all that is wanted; the brain does not
    # reply to it.
    question: asyncio.Future[str | None] | None = None
