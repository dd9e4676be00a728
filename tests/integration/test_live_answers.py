"""How the Live brain makes answers of GPT-Live's output (live_brain.py), event by event: Live has no
event that begins or ends a turn, so pauses, the user's transcript and the session timeline decide.
The brain is fed the Live client's events directly (the stand-in process tests of
test_live_brain.py cover the same end to end; here each case is exact)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.realtime_voice import live_brain
from custom_components.realtime_voice.const import DOMAIN
from custom_components.realtime_voice.core.conversation import brain as b
from custom_components.realtime_voice.core.live import events as lv
from custom_components.realtime_voice.live_brain import LiveBrain

CHUNK_S = 0.1
VOICE = b"\x00\x10" * 2400  # 100 ms of the model's voice (PCM16 24 kHz)
QUIET = bytes(4800)  # 100 ms of the silence the service streams


class Fed:
    """A Live brain and what it told the engine."""

    def __init__(self, hass: HomeAssistant) -> None:
        entry = MockConfigEntry(domain=DOMAIN)
        entry.add_to_hass(hass)
        self.brain = LiveBrain(
            hass, entry, name="Kitchen", device_id=None, options=dict, fallback=None
        )
        self.events: list[b.BrainEvent] = []

        async def handler(event: b.BrainEvent) -> None:
            self.events.append(event)

        self.brain.attach(handler)

    async def feed(self, *events: lv.LiveEvent) -> None:
        for event in events:
            await self.brain._on_live_event(None, event)  # type: ignore[arg-type]

    async def audio(self, pcm: bytes, seconds: float) -> None:
        for _ in range(round(seconds / CHUNK_S)):
            await self.feed(lv.OutputAudio(pcm))

    def of(self, kind: type[Any]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


@pytest.fixture
async def fed(hass: HomeAssistant) -> AsyncIterator[Fed]:
    fed = Fed(hass)
    yield fed
    await fed.brain.stop()  # its answer's timer too


async def test_audio_that_resumes_before_the_answer_played_continues_it(fed: Fed) -> None:
    """Sent faster than it plays (a second of voice at once), a 0.8 s pause and more voice: one
    answer; it ends once its audio has played and ANSWER_GAP_S after it."""
    await fed.feed(lv.OutputTranscript("One two.", 1000, 2000))
    await fed.audio(VOICE, 1.0)
    await fed.audio(QUIET, 0.8)
    await fed.feed(lv.OutputTranscript(" Three.", 2800, 3300))
    await fed.audio(VOICE, 0.5)
    assert len(fed.of(b.AnswerStarted)) == 1
    assert {event.answer_id for event in fed.of(b.AnswerAudio)} == {
        fed.of(b.AnswerStarted)[0].answer_id
    }
    assert len(fed.of(b.AnswerAudio)) == 23  # the pause too
    assert not fed.of(b.AnswerDone)
    await asyncio.sleep(2.3 + live_brain.ANSWER_GAP_S + 0.3)
    assert [event.outcome for event in fed.of(b.AnswerDone)] == ["done"]
    assert len(fed.of(b.AnswerAudioDone)) == 1
    assert fed.of(b.AssistantSaid) == [b.AssistantSaid("One two. Three.")]


async def test_silence_after_what_played_ends_the_answer_and_is_not_sent(fed: Fed) -> None:
    await fed.audio(VOICE, 0.2)
    await asyncio.sleep(0.2 + live_brain.ANSWER_GAP_S + 0.2)
    await fed.audio(QUIET, 0.3)  # the service's silence between answers, at its pace
    assert [event.outcome for event in fed.of(b.AnswerDone)] == ["done"]
    assert len(fed.of(b.AnswerAudio)) == 2
    await fed.audio(VOICE, 0.1)  # the next answer
    assert len(fed.of(b.AnswerStarted)) == 2


async def test_the_model_falling_silent_after_the_user_spoke_over_it_stops_the_answer(
    fed: Fed,
) -> None:
    await fed.feed(lv.OutputTranscript("Once upon", 1000, 1500))
    await fed.audio(VOICE, 1.0)
    await fed.feed(lv.InputTranscript("Stop ", 1300, 1500))  # the user, over its voice
    assert fed.of(b.SpeechStarted)
    await fed.feed(lv.OutputTranscript(" a time", 1500, 1700))
    await fed.audio(VOICE, 0.2)
    await fed.audio(QUIET, live_brain.YIELD_S)
    assert [event.outcome for event in fed.of(b.AnswerDone)] == ["stopped"]
    assert not fed.of(b.AnswerAudioDone)  # not played out: the engine stops it
    # what the user says on is a new request: its next fragment starts speech again
    await fed.feed(lv.InputTranscript("talking.", 1500, 1900))
    assert len(fed.of(b.SpeechStarted)) == 2


async def test_words_the_model_talked_past_are_not_a_barge_in(fed: Fed) -> None:
    """A "mm-hm" (or its own echo, transcribed) that the model goes on over: a pause of its own
    later is only a pause."""
    await fed.feed(lv.OutputTranscript("First,", 1000, 1400))
    await fed.audio(VOICE, 1.0)
    await fed.feed(lv.InputTranscript("Mm-hm.", 1200, 1500))
    await fed.feed(
        lv.OutputTranscript(" second, third.", 1500 + live_brain.YIELD_WINDOW_MS + 100, 3000)
    )
    await fed.audio(VOICE, 1.0)
    await fed.audio(QUIET, 0.4)
    assert not fed.of(b.AnswerDone)  # it goes on (until it has played)


async def test_a_late_fragment_of_the_request_is_not_a_barge_in(fed: Fed) -> None:
    await fed.feed(lv.InputTranscript("What time ", 0, 800))
    await fed.feed(lv.OutputTranscript("It is", 1000, 1400))
    await fed.audio(VOICE, 1.0)
    assert fed.of(b.UserSaid) == [b.UserSaid("What time")]
    await fed.feed(lv.InputTranscript("is it?", 800, 950))  # transcribed late
    await fed.audio(QUIET, 0.4)
    assert not fed.of(b.AnswerDone)


async def test_the_services_errors_and_notices_are_logged_and_the_session_goes_on(
    fed: Fed, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, "custom_components.realtime_voice.live_brain"):
        await fed.feed(
            lv.ServiceError("invalid_value", "No client delegation with id 'x'.", "delegation_id"),
            lv.Notice("data_channel_permissions", "A notice."),
        )
        await fed.audio(VOICE, 0.1)
    assert "Live on Kitchen reports invalid_value: No client delegation" in caplog.text
    assert "A notice. (data_channel_permissions)" in caplog.text
    assert len(fed.of(b.AnswerStarted)) == 1
