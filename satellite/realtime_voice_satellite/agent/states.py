"""The satellite's states and what it does in each, on one page.

The agent (agent.py) keeps the facts (:class:`Facts`); its phase follows from them. For each
microphone block the capture worker heard, and for each command from Home Assistant that changes
the phase, :func:`decide` looks the trigger up in :data:`RULES` and returns the actions, which the
agent then carries out in order. A trigger not in a phase's row does nothing there. Nothing here
does I/O or reads a clock: tests drive it with plain values.

    phase      what is going on                                         HA sees
    MUTED      the microphone is ignored; playback still works           muted
    OFFLINE    idle without Home Assistant: a wake word is only logged   idle
    IDLE       waiting for a wake word                                   idle
    LISTENING  the microphone's audio goes to HA, until HA stops it      listening
               (``stop_listening``) or ``listen_timeout_s`` passes
    SPEAKING   an answer or announcement plays (not a chime): nothing    responding
               goes to HA; only an active wake word (at the barge-in
               threshold), a stop word or, with echo cancellation, the
               user's voice interrupts
    HOLDING    speaking, and a voice barge-in waits ``STOP_WORD_HOLD_S``  responding
               for the stop word the voice may be the start of

Full duplex (link protocol 4: HA's ``listen`` with ``full_duplex``, for a brain that hears the
user over its own voice): the same listening, but an answer starting does not end it, and the
audio (echo-cancelled) goes on to HA while the satellite speaks. While it speaks the stream goes
through the echo gate (``SEND_GATED``, :mod:`.echo_gate`): what holds nothing above the room's
learned residual echo (the voice barge-in's own judgement, :mod:`.voice`), and everything before
the canceller has converged, goes attenuated, in step, so that the model does not hear the
satellite's own voice and stop itself. A wake word or a stop word stops the answer at once, as
above, without a new ``listen_start`` (it listens already). The user's voice over the answer
does not stop it: it ducks it (``DUCK``: the mixer's voice layer 40 dB down, the stream whole,
the echo gate open), so that the brain, which owns the turn, hears the user over a much quieter
echo and stops; HA then stops what the satellite has buffered (``stop_playback``). If the brain does not
stop (the voice was the satellite's own echo, a cough), the answer comes back to full level
``UNDUCK_S`` after the last voice heard (``DUCK_OVER``) and nothing was interrupted
(docs/performance.md, "Full duplex": why). With stop words a voice needs no hold here: a stop word
heard in the duck still stops the answer. Before the canceller has converged, and for a second
after its reference ran dry or was re-anchored, the voice does not count (:mod:`..audio.aec3`).

    LISTENING_DUPLEX  listening in full duplex, not speaking              listening
    SPEAKING_DUPLEX   speaking, and the audio goes on to HA through the   responding
                      echo gate
    DUCKED_DUPLEX     the same, the answer ducked for the user's voice;   responding
                      the audio goes on whole

A microphone block is one trigger: the first of :data:`BLOCK_PRIORITY` that the block brought
and the phase's row has (a stop word wins over a wake word, a wake word over the voice). Every
block goes to the pre-roll (``KEEP``) unless it is sent, held or taken by a barge-in, so that a
wake word's or a barge-in's listening starts ``pre_roll_ms`` before it. A hold outlives its answer
by at most one block: the next block drops it, its audio to the pre-roll.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    MUTED = "muted"
    OFFLINE = "offline"
    IDLE = "idle"
    LISTENING = "listening"
    SPEAKING = "speaking"
    HOLDING = "holding"
    LISTENING_DUPLEX = "listening_duplex"
    SPEAKING_DUPLEX = "speaking_duplex"
    DUCKED_DUPLEX = "ducked_duplex"


class Trigger(StrEnum):
    # heard: one microphone block
    STOP_WORD = "stop_word"  # a stop word the answer itself does not explain
    WAKE_WORD = "wake_word"  # an active wake word the answer itself does not explain
    OWN_WAKE_WORD = "own_wake_word"  # a wake word where the answer says it: its echo
    HOLD_OVER = "hold_over"  # a held barge-in's wait ended without a stop word
    DUCK_OVER = "duck_over"  # a ducked answer heard no voice for UNDUCK_S (full duplex)
    VOICE = "voice"  # the user's voice over the answer (echo cancellation on)
    VOICE_WITH_STOP_WORDS = "voice_with_stop_words"  # the same, while stop words are on
    LISTEN_TIMEOUT = "listen_timeout"  # listen_timeout_s (or HA's) has passed
    AUDIO = "audio"  # none of the above
    # commanded: by Home Assistant
    LISTEN = "listen"
    STOP_LISTENING = "stop_listening"
    PLAY = "play"  # an answer or announcement starts (it replaces what plays)
    PLAY_CHIME = "play_chime"  # a chime starts (it replaces what plays)
    STOP_PLAYBACK = "stop_playback"  # of what HA plays (not the satellite's own sounds)
    MUTE = "mute"
    UNMUTE = "unmute"


class Action(StrEnum):
    KEEP = "keep"  # the block into the pre-roll
    SEND = "send"  # the block to HA
    SEND_GATED = "send_gated"  # the block to HA through the echo gate (full duplex, speaking)
    WAKE = "wake"  # wake to HA, listen from the pre-roll on, the chime
    LOG_WAKE_OFFLINE = "log_wake_offline"  # a wake word without HA: a warning
    IGNORE_OWN_VOICE = "ignore_own_voice"  # log that the satellite heard itself
    BARGE_IN = "barge_in"  # stop the answer (barge_in), listen from the pre-roll on
    INTERRUPT = "interrupt"  # stop the answer (barge_in); it listens already (full duplex)
    STOP_WORD = "stop_word"  # stop the answer (stop_word), end listening, go idle
    HOLD = "hold"  # hold a voice barge-in, with this block
    HOLD_BLOCK = "hold_block"  # the block joins the held barge-in's audio
    RELEASE_HOLD = "release_hold"  # the held barge-in, with its audio and this block
    DROP_HOLD = "drop_hold"  # the held barge-in is dropped, its audio into the pre-roll
    FORGET_HOLD = "forget_hold"  # the held barge-in is dropped with its audio
    DUCK = "duck"  # duck the answer for the user's voice (full duplex), until UNDUCK_S after it
    UNDUCK = "unduck"  # the answer back to full level
    END_LISTENING_TIMEOUT = "end_listening_timeout"
    LISTEN = "listen"  # start listening (when it already listens, only the deadline moves)
    REFUSE_LISTEN = "refuse_listen"  # listen_end (muted)
    END_LISTENING = "end_listening"  # listen_end (stopped), if it listens
    START_ANSWER = "start_answer"  # play it; the own-voice guards and the VAD start afresh
    START_CHIME = "start_chime"
    STOP_PLAYBACK = "stop_playback"  # stop it, playback_stopped (command)
    SET_MUTED = "set_muted"
    END_LISTENING_MUTED = "end_listening_muted"  # listen_end (muted), if it listens
    SET_UNMUTED = "set_unmuted"
    SEND_INFO = "send_info"  # the satellite's info to HA (it shows the mute switch)


P, T, A = Phase, Trigger, Action

# What HA's commands do wherever they come (the phases' rows add them).
_COMMANDS: dict[Trigger, tuple[Action, ...]] = {
    T.LISTEN: (A.LISTEN,),
    T.STOP_LISTENING: (A.END_LISTENING,),
    T.PLAY: (A.END_LISTENING, A.START_ANSWER),
    T.PLAY_CHIME: (A.START_CHIME,),
    T.STOP_PLAYBACK: (A.STOP_PLAYBACK,),
    T.MUTE: (A.SET_MUTED, A.END_LISTENING_MUTED, A.SEND_INFO),
    T.UNMUTE: (A.SET_UNMUTED, A.SEND_INFO),
}
# In full duplex an answer or announcement starting does not end listening.
_DUPLEX_COMMANDS = {**_COMMANDS, T.PLAY: (A.START_ANSWER,)}
_STREAM = (A.SEND, A.KEEP)
_GATED = (A.SEND_GATED, A.KEEP)  # the pre-roll keeps the block whole

_LISTENING: dict[Trigger, tuple[Action, ...]] = {
    T.LISTEN_TIMEOUT: (A.END_LISTENING_TIMEOUT, A.KEEP),
    T.AUDIO: _STREAM,
}

RULES: dict[Phase, dict[Trigger, tuple[Action, ...]]] = {
    # Every block is dropped, a listen refused; answers and announcements still play.
    P.MUTED: {**_COMMANDS, T.LISTEN: (A.REFUSE_LISTEN,)},
    P.OFFLINE: {
        T.WAKE_WORD: (A.LOG_WAKE_OFFLINE, A.KEEP),
        T.OWN_WAKE_WORD: (A.IGNORE_OWN_VOICE, A.KEEP),
        T.AUDIO: (A.KEEP,),
        **_COMMANDS,
    },
    P.IDLE: {
        T.WAKE_WORD: (A.WAKE,),
        # just after an answer (echo_guard_ms): its echo may still say the wake word
        T.OWN_WAKE_WORD: (A.IGNORE_OWN_VOICE, A.KEEP),
        T.AUDIO: (A.KEEP,),
        **_COMMANDS,
    },
    # Wake words are not looked at: the user is talking to HA already.
    P.LISTENING: {**_LISTENING, **_COMMANDS},
    P.LISTENING_DUPLEX: {**_LISTENING, **_DUPLEX_COMMANDS},
    # Nothing goes to HA, also when HA asked to listen meanwhile (it listens once the answer ends).
    P.SPEAKING: {
        T.STOP_WORD: (A.STOP_WORD, A.KEEP),
        T.WAKE_WORD: (A.BARGE_IN,),
        T.OWN_WAKE_WORD: (A.IGNORE_OWN_VOICE, A.KEEP),
        T.VOICE: (A.BARGE_IN,),
        T.VOICE_WITH_STOP_WORDS: (A.HOLD,),  # it may be the stop word, not yet heard whole
        T.AUDIO: (A.KEEP,),
        **_COMMANDS,
    },
    # A stop word wins; a wake word ends the hold and counts as usual; else the hold goes on.
    P.HOLDING: {
        T.STOP_WORD: (A.FORGET_HOLD, A.STOP_WORD, A.KEEP),
        T.WAKE_WORD: (A.DROP_HOLD, A.BARGE_IN),
        T.OWN_WAKE_WORD: (A.DROP_HOLD, A.IGNORE_OWN_VOICE, A.KEEP),
        T.HOLD_OVER: (A.RELEASE_HOLD,),
        T.VOICE: (A.HOLD_BLOCK,),
        T.VOICE_WITH_STOP_WORDS: (A.HOLD_BLOCK,),
        T.AUDIO: (A.HOLD_BLOCK,),
        **_COMMANDS,
    },
    # Full duplex: every block goes to HA, whatever else it brought (the stop word ends listening
    # first): through the echo gate, but whole when the user's (a wake word, the voice). HA's
    # stop_listening returns to SPEAKING; the listen timeout waits for the answer's end, as in
    # SPEAKING. The voice ducks the answer: the brain stops it (HA's stop_playback) if it hears
    # the user; with stop words it needs no hold, a stop word still stops it in the duck.
    P.SPEAKING_DUPLEX: {
        T.STOP_WORD: (A.STOP_WORD, A.KEEP),
        T.WAKE_WORD: (A.INTERRUPT, *_STREAM),
        T.OWN_WAKE_WORD: (A.IGNORE_OWN_VOICE, *_GATED),
        T.VOICE: (A.DUCK, *_STREAM),
        T.VOICE_WITH_STOP_WORDS: (A.DUCK, *_STREAM),
        T.AUDIO: _GATED,
        **_DUPLEX_COMMANDS,
    },
    # Every block goes whole (the echo gate open); more voice keeps the duck, UNDUCK_S without
    # it ends the duck. Whatever ends the answer or the duplex listen ends the duck.
    P.DUCKED_DUPLEX: {
        T.STOP_WORD: (A.UNDUCK, A.STOP_WORD, A.KEEP),
        T.WAKE_WORD: (A.UNDUCK, A.INTERRUPT, *_STREAM),
        T.OWN_WAKE_WORD: (A.IGNORE_OWN_VOICE, *_STREAM),
        T.VOICE: (A.DUCK, *_STREAM),
        T.VOICE_WITH_STOP_WORDS: (A.DUCK, *_STREAM),
        T.DUCK_OVER: (A.UNDUCK, *_GATED),
        T.AUDIO: _STREAM,
        **_DUPLEX_COMMANDS,
        T.STOP_LISTENING: (A.UNDUCK, A.END_LISTENING),
        T.PLAY: (A.UNDUCK, A.START_ANSWER),
        T.STOP_PLAYBACK: (A.UNDUCK, A.STOP_PLAYBACK),
        T.MUTE: (A.UNDUCK, *_COMMANDS[T.MUTE]),
    },
}

# The order in which a block's triggers count: the first one the phase's row has is the block's.
BLOCK_PRIORITY: tuple[Trigger, ...] = (
    T.STOP_WORD,
    T.WAKE_WORD,
    T.OWN_WAKE_WORD,
    T.HOLD_OVER,
    T.VOICE,
    T.VOICE_WITH_STOP_WORDS,
    T.DUCK_OVER,
    T.LISTEN_TIMEOUT,
    T.AUDIO,
)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the agent knows that decides its phase."""

    muted: bool = False  # now, or when the capture worker took the block
    connected: bool = True  # Home Assistant is connected
    listening: bool = False  # a listen is open (its audio goes to HA unless speaking)
    speaking: bool = False  # an answer or announcement plays (not a chime)
    holding: bool = False  # a voice barge-in is held
    ducked: bool = False  # the answer is ducked for the user's voice (full duplex)
    full_duplex: bool = False  # the open listen asked for full duplex

    @property
    def phase(self) -> Phase:
        if self.muted:
            return P.MUTED
        duplex = self.listening and self.full_duplex
        if self.speaking:
            if duplex:
                return P.DUCKED_DUPLEX if self.ducked else P.SPEAKING_DUPLEX
            return P.HOLDING if self.holding else P.SPEAKING
        if self.listening:
            return P.LISTENING_DUPLEX if duplex else P.LISTENING
        return P.IDLE if self.connected else P.OFFLINE


def decide(facts: Facts, heard: frozenset[Trigger] | Trigger) -> tuple[Action, ...]:
    """What to do on ``heard``: a command's trigger, or all that one microphone block brought
    (with ``AUDIO`` always among them)."""
    phase = facts.phase
    row = RULES[phase]
    if isinstance(heard, Trigger):
        return row.get(heard, ())
    dropped: tuple[Action, ...] = ()
    if facts.holding and phase not in (P.HOLDING, P.MUTED):
        # the answer ended meanwhile (or HA stopped or started listening, or in full duplex)
        dropped = (A.DROP_HOLD,)
    if facts.ducked and phase is not P.DUCKED_DUPLEX:
        dropped += (A.UNDUCK,)  # the answer ended meanwhile (or the duplex listen did)
    for trigger in BLOCK_PRIORITY:
        if trigger in heard and trigger in row:
            return dropped + row[trigger]
    return dropped
