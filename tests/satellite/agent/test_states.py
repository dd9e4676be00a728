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
            Facts(speaking=True, listening=True, full_duplex=True, holding=True),
            Phase.HOLDING_DUPLEX,
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
    holding = Facts(listening=True, full_duplex=True, speaking=True, holding=True)
    for facts in (listening, speaking, holding):
        assert decide(facts, T.PLAY) == (A.START_ANSWER,)
        assert decide(facts, T.STOP_LISTENING) == (A.END_LISTENING,)
    assert decide(listening, AUDIO) == (A.SEND, A.KEEP)
    # while the answer plays, through the echo gate (the pre-roll keeps the block whole)
    assert decide(speaking, AUDIO) == (A.SEND_GATED, A.KEEP)
    assert decide(holding, AUDIO) == (A.SEND_GATED, A.KEEP)
    assert decide(listening, block(T.LISTEN_TIMEOUT)) == (A.END_LISTENING_TIMEOUT, A.KEEP)
    # the listen timeout waits for the answer's end, as in half duplex
    assert decide(speaking, block(T.LISTEN_TIMEOUT)) == (A.SEND_GATED, A.KEEP)


def test_full_duplex_barge_ins_stop_the_answer_without_a_new_listen() -> None:
    speaking = Facts(listening=True, full_duplex=True, speaking=True)
    # what stops the answer is the user's: it goes whole, not through the echo gate
    assert decide(speaking, block(T.WAKE_WORD, T.VOICE)) == (A.INTERRUPT, A.SEND, A.KEEP)
    assert decide(speaking, block(T.VOICE)) == (A.INTERRUPT, A.SEND, A.KEEP)
    # the satellite's own wake word, and a voice held for a stop word, are not (yet) the user's
    assert decide(speaking, block(T.OWN_WAKE_WORD)) == (A.IGNORE_OWN_VOICE, A.SEND_GATED, A.KEEP)
    assert decide(speaking, block(T.VOICE_WITH_STOP_WORDS)) == (A.HOLD, A.SEND_GATED, A.KEEP)
    # a stop word ends listening too: the user wants silence
    assert decide(speaking, block(T.STOP_WORD, T.WAKE_WORD)) == (A.STOP_WORD, A.KEEP)
    holding = Facts(listening=True, full_duplex=True, speaking=True, holding=True)
    # its audio went to HA already
    assert decide(holding, block(T.VOICE)) == (A.SEND_GATED, A.KEEP)
    assert decide(holding, block(T.HOLD_OVER)) == (A.INTERRUPT_HELD, A.SEND, A.KEEP)
    assert decide(holding, block(T.STOP_WORD)) == (A.FORGET_HOLD, A.STOP_WORD, A.KEEP)
    assert decide(holding, block(T.WAKE_WORD)) == (A.FORGET_HOLD, A.INTERRUPT, A.SEND, A.KEEP)
    # the answer ended with the hold open: dropped, and the block streams on
    ended = Facts(listening=True, full_duplex=True, holding=True)
    assert decide(ended, AUDIO) == (A.DROP_HOLD, A.SEND, A.KEEP)


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
