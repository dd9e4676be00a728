"""The satellite's states (agent/states.py): its decisions from plain values, without an agent."""

from __future__ import annotations

from pathlib import Path

import pytest

from realtime_voice_satellite.agent import states
from realtime_voice_satellite.agent.agent import PreRoll
from realtime_voice_satellite.agent.states import (
    BLOCK_PRIORITY,
    RULES,
    Action,
    Facts,
    Phase,
    Trigger,
    decide,
)

A, T = Action, Trigger
AUDIO = frozenset({T.AUDIO})
DOCS = Path(__file__).resolve().parents[3] / "docs"


def block(*triggers: Trigger) -> frozenset[Trigger]:
    return AUDIO | set(triggers)


@pytest.mark.parametrize(
    ("facts", "phase"),
    [
        (Facts(), Phase.IDLE),
        (Facts(connected=False), Phase.OFFLINE),
        (Facts(listening=True), Phase.LISTENING),
        (Facts(speaking=True), Phase.SPEAKING),
        (Facts(speaking=True, listening=True), Phase.SPEAKING),  # HA's listen waits for the end
        (Facts(speaking=True, holding=True), Phase.HOLDING),
        (Facts(muted=True, speaking=True, listening=True), Phase.MUTED),
        (Facts(listening=True, full_duplex=True), Phase.LISTENING_DUPLEX),
        (Facts(speaking=True, listening=True, full_duplex=True), Phase.SPEAKING_DUPLEX),
        (
            Facts(speaking=True, listening=True, full_duplex=True, ducked=True),
            Phase.DUCKED_DUPLEX,
        ),
        # a hold begun in half duplex is dropped by the next block (decide)
        (
            Facts(speaking=True, listening=True, full_duplex=True, holding=True),
            Phase.SPEAKING_DUPLEX,
        ),
        (Facts(speaking=True, full_duplex=True), Phase.SPEAKING),  # no listen open: nothing sent
    ],
)
def test_the_phase_follows_from_the_facts(facts: Facts, phase: Phase) -> None:
    assert facts.phase is phase


def test_every_phase_has_a_row_and_every_block_trigger_a_priority() -> None:
    assert set(RULES) == set(Phase)
    heard = {t for row in RULES.values() for t in row if t in BLOCK_PRIORITY}
    assert heard == set(BLOCK_PRIORITY)
    # the microphone counts everywhere but muted: every block goes somewhere
    assert all(T.AUDIO in RULES[phase] for phase in Phase if phase is not Phase.MUTED)


def test_idle_a_wake_word_wakes_else_the_block_is_kept() -> None:
    assert decide(Facts(), AUDIO) == (A.KEEP,)
    assert decide(Facts(), block(T.WAKE_WORD)) == (A.WAKE,)
    assert decide(Facts(), block(T.OWN_WAKE_WORD)) == (A.IGNORE_OWN_VOICE, A.KEEP)
    # stop words and the voice count only while speaking
    assert decide(Facts(), block(T.STOP_WORD, T.VOICE)) == (A.KEEP,)
    assert decide(Facts(connected=False), block(T.WAKE_WORD)) == (A.LOG_WAKE_OFFLINE, A.KEEP)


def test_listening_sends_until_the_timeout_and_ignores_wake_words() -> None:
    listening = Facts(listening=True)
    assert decide(listening, block(T.WAKE_WORD)) == (A.SEND, A.KEEP)
    assert decide(listening, block(T.LISTEN_TIMEOUT)) == (A.END_LISTENING_TIMEOUT, A.KEEP)


def test_speaking_a_stop_word_wins_then_a_wake_word_then_the_voice() -> None:
    speaking = Facts(speaking=True)
    assert decide(speaking, AUDIO) == (A.KEEP,)  # nothing goes to HA, also when listening
    assert decide(Facts(speaking=True, listening=True), AUDIO) == (A.KEEP,)
    assert decide(speaking, block(T.STOP_WORD, T.WAKE_WORD)) == (A.STOP_WORD, A.KEEP)
    assert decide(speaking, block(T.WAKE_WORD, T.VOICE)) == (A.BARGE_IN,)
    assert decide(speaking, block(T.OWN_WAKE_WORD, T.VOICE)) == (A.IGNORE_OWN_VOICE, A.KEEP)
    assert decide(speaking, block(T.VOICE)) == (A.BARGE_IN,)
    # with stop words the voice may be the start of one: held
    assert decide(speaking, block(T.VOICE_WITH_STOP_WORDS)) == (A.HOLD,)


def test_muted_the_microphone_is_ignored_and_a_listen_refused() -> None:
    muted = Facts(muted=True, speaking=True, holding=True)
    assert decide(muted, block(T.WAKE_WORD, T.STOP_WORD, T.HOLD_OVER)) == ()
    assert decide(muted, T.LISTEN) == (A.REFUSE_LISTEN,)
    assert decide(muted, T.STOP_PLAYBACK) == (A.STOP_PLAYBACK,)  # playback still works
    assert decide(muted, T.UNMUTE) == (A.SET_UNMUTED, A.SEND_INFO)


def test_commands() -> None:
    for facts in (Facts(), Facts(listening=True), Facts(speaking=True)):
        assert decide(facts, T.LISTEN) == (A.LISTEN,)
        assert decide(facts, T.PLAY) == (A.END_LISTENING, A.START_ANSWER)
        assert decide(facts, T.MUTE) == (A.SET_MUTED, A.END_LISTENING_MUTED, A.SEND_INFO)
    assert decide(Facts(speaking=True, holding=True), T.PLAY) == (A.END_LISTENING, A.START_ANSWER)


def test_full_duplex_an_answer_does_not_end_listening_and_every_block_goes_to_ha() -> None:
    listening = Facts(listening=True, full_duplex=True)
    speaking = Facts(listening=True, full_duplex=True, speaking=True)
    ducked = Facts(listening=True, full_duplex=True, speaking=True, ducked=True)
    for facts in (listening, speaking):
        assert decide(facts, T.PLAY) == (A.START_ANSWER,)
        assert decide(facts, T.STOP_LISTENING) == (A.END_LISTENING,)
    assert decide(listening, AUDIO) == (A.SEND, A.KEEP)
    # while the answer plays, through the echo gate (the pre-roll keeps the block whole)
    assert decide(speaking, AUDIO) == (A.SEND_GATED, A.KEEP)
    # ducked for the user's voice: whole
    assert decide(ducked, AUDIO) == (A.SEND, A.KEEP)
    assert decide(listening, block(T.LISTEN_TIMEOUT)) == (A.END_LISTENING_TIMEOUT, A.KEEP)
    # the listen timeout waits for the answer's end, as in half duplex
    assert decide(speaking, block(T.LISTEN_TIMEOUT)) == (A.SEND_GATED, A.KEEP)


def test_full_duplex_the_wake_word_and_the_stop_word_stop_the_answer_the_voice_ducks_it() -> None:
    speaking = Facts(listening=True, full_duplex=True, speaking=True)
    # what stops the answer is the user's: it goes whole, not through the echo gate
    assert decide(speaking, block(T.WAKE_WORD, T.VOICE)) == (A.INTERRUPT, A.SEND, A.KEEP)
    # the voice does not stop it: the brain does, hearing the user over the ducked answer; with
    # stop words nothing is held (a stop word still stops the ducked answer)
    assert decide(speaking, block(T.VOICE)) == (A.DUCK, A.SEND, A.KEEP)
    assert decide(speaking, block(T.VOICE_WITH_STOP_WORDS)) == (A.DUCK, A.SEND, A.KEEP)
    # the satellite's own wake word is not the user's
    assert decide(speaking, block(T.OWN_WAKE_WORD)) == (A.IGNORE_OWN_VOICE, A.SEND_GATED, A.KEEP)
    # a stop word ends listening too: the user wants silence
    assert decide(speaking, block(T.STOP_WORD, T.WAKE_WORD)) == (A.STOP_WORD, A.KEEP)


def test_full_duplex_a_ducked_answer_comes_back_or_ends() -> None:
    ducked = Facts(listening=True, full_duplex=True, speaking=True, ducked=True)
    # more voice keeps the duck (its time moves); UNDUCK_S without it: back to full level
    assert decide(ducked, block(T.VOICE)) == (A.DUCK, A.SEND, A.KEEP)
    assert decide(ducked, block(T.VOICE, T.DUCK_OVER)) == (A.DUCK, A.SEND, A.KEEP)
    assert decide(ducked, block(T.DUCK_OVER)) == (A.UNDUCK, A.SEND_GATED, A.KEEP)
    # the wake word and the stop word stop it at once
    assert decide(ducked, block(T.WAKE_WORD)) == (A.UNDUCK, A.INTERRUPT, A.SEND, A.KEEP)
    assert decide(ducked, block(T.STOP_WORD, T.VOICE)) == (A.UNDUCK, A.STOP_WORD, A.KEEP)
    # HA's stop_playback (the brain stopped for the user) ends it; so does a new answer
    assert decide(ducked, T.STOP_PLAYBACK) == (A.UNDUCK, A.STOP_PLAYBACK)
    assert decide(ducked, T.PLAY) == (A.UNDUCK, A.START_ANSWER)
    assert decide(ducked, T.STOP_LISTENING) == (A.UNDUCK, A.END_LISTENING)
    assert decide(ducked, T.MUTE)[0] is A.UNDUCK
    # the answer ended (or the listen did) with the duck on: undone by the next block
    ended = Facts(listening=True, full_duplex=True, ducked=True)
    assert decide(ended, AUDIO) == (A.UNDUCK, A.SEND, A.KEEP)
    half = Facts(listening=False, speaking=True, ducked=True)
    assert decide(half, AUDIO) == (A.UNDUCK, A.KEEP)
    # a hold begun in half duplex, then HA's listen turned full duplex: dropped
    holding = Facts(listening=True, full_duplex=True, speaking=True, holding=True)
    assert decide(holding, block(T.VOICE)) == (A.DROP_HOLD, A.DUCK, A.SEND, A.KEEP)


def test_the_pre_roll_keeps_whole_blocks_up_to_its_limit() -> None:
    pre_roll = PreRoll(limit=4)
    for k in range(4):
        pre_roll.add(bytes([k]) * 2)
    assert list(pre_roll.blocks) == [b"\2\2", b"\3\3"]
    assert pre_roll.take(b"\x09") == b"\2\2\3\3\x09"
    assert pre_roll.take(b"") == b""
    off = PreRoll(limit=0)
    off.add(b"\1\1")
    assert off.take(b"\2") == b"\2"


def test_the_docs_show_every_phase() -> None:
    text = (DOCS / "architecture.md").read_text()
    doc = states.__doc__ or ""
    for phase in Phase:
        assert f"    {phase.name} " in doc
        assert f"| {phase.name} " in text, f"docs/architecture.md: no row for {phase.name}"
