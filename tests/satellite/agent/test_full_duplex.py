"""Full duplex (link protocol 4, #27): HA's ``listen`` with ``full_duplex`` keeps the satellite's
echo-cancelled microphone streaming while it speaks, until ``stop_listening``; the satellite says
whether its audio is echo-cancelled. A peer of protocol 3 gets exactly what it got before. The
real agent in file mode's room (``--echo``), through the real link client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from realtime_voice_dev.corpus import espeak_available
from realtime_voice_satellite.link import Audio, LinkEvent
from realtime_voice_satellite.link import protocol as p
from tests.satellite.harness import Satellite, Script, config, pcm_to_samples, running_satellite
from tests.satellite.harness import speech as say

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech"),
]

ANSWER = (
    "Sure. The lights in the kitchen are on now, and the heating is set to twenty one degrees. "
    "The forecast for tomorrow says sunny spells in the morning and showers later on."
)


def _config(echo_cancellation: str) -> object:
    return config(
        audio={"output_rate": 24000, "prebuffer_ms": 60, "echo_cancellation": echo_cancellation}
    )


def _drain(sat: Satellite) -> None:
    while not sat.events.empty():
        sat.log.append(sat.events.get_nowait())


def _audio_between(log: list[LinkEvent], start: LinkEvent, end: type) -> bytes:
    """The audio the satellite sent after ``start`` up to the first event of type ``end``."""
    chunks: list[bytes] = []
    for event in log[log.index(start) + 1 :]:
        if isinstance(event, end):
            break
        if isinstance(event, Audio):
            chunks.append(event.pcm)
    return b"".join(chunks)


async def _answer_in_room(
    tmp_path: Path,
    script: Script,
    name: str,
    *,
    echo_cancellation: str = "on",
    full_duplex: bool = True,
    protocol: int | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> tuple[list[LinkEvent], p.Info, float]:
    """HA asks to listen (in full duplex or not), then plays ANSWER in the default room over
    ``script``; the link's events, the satellite's info, and the answer's length in seconds."""
    if protocol is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(p, "negotiate", lambda satellite_protocol: protocol)
    async with running_satellite(
        script.write(name), tmp_path, _config(echo_cancellation), room="default"
    ) as sat:
        info = sat.client.info
        assert info is not None
        answer = say(ANSWER, p.AUDIO_RATE)
        await asyncio.sleep(0.5)
        await sat.client.listen(full_duplex=full_duplex)
        await sat.until(p.ListenStart("command"))
        await sat.play("answer-1", answer)
        end = await sat.next(p.PlaybackFinished | p.PlaybackStopped, within=25)
        await asyncio.sleep(0.5)
        _drain(sat)
        return [*sat.log, end], info, len(answer) / p.AUDIO_RATE


def _rms(pcm: bytes) -> float:
    samples = pcm_to_samples(pcm).astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


async def test_full_duplex_streams_the_cancelled_microphone_while_the_answer_plays(
    tmp_path: Path,
) -> None:
    quiet = Script(rate=16_000).pause(16.0)
    log, info, seconds = await _answer_in_room(tmp_path, quiet, "duplex-quiet")
    assert info.protocol == 4
    assert info.echo_cancellation is True
    # the answer played to its end; listening went on through it, nothing interrupted it
    assert any(isinstance(e, p.PlaybackFinished) for e in log), log
    assert not any(isinstance(e, p.ListenEnd | p.BargeIn | p.StopWord) for e in log), log
    start = next(e for e in log if isinstance(e, p.StateChanged) and e.state == "responding")
    during = _audio_between(log, start, p.PlaybackFinished)
    assert len(during) / (p.AUDIO_RATE * 2) > seconds - 1.0  # every block of the answer's time

    # Echo cancellation off: the same stream carries the answer's echo, several times louder.
    log_off, info_off, _ = await _answer_in_room(
        tmp_path, quiet, "duplex-quiet-off", echo_cancellation="off"
    )
    assert info_off.echo_cancellation is False
    start = next(e for e in log_off if isinstance(e, p.StateChanged) and e.state == "responding")
    echo = _audio_between(log_off, start, p.PlaybackFinished)
    assert _rms(echo) > 4 * _rms(during), (_rms(echo), _rms(during))


async def test_half_duplex_and_a_peer_of_protocol_3_get_what_they_always_got(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = Script(rate=16_000).pause(16.0)
    # HA of protocol 3: no echo_cancellation in info, and its listen (which cannot carry
    # full_duplex: the client leaves it out) ends when the answer starts
    log, info, _ = await _answer_in_room(
        tmp_path, quiet, "duplex-v3", protocol=3, monkeypatch=monkeypatch
    )
    assert info.protocol == 3
    assert info.echo_cancellation is None
    ended = log.index(p.ListenEnd("stopped"))
    assert ended < log.index(p.StateChanged("responding"))
    assert not any(isinstance(e, Audio) for e in log[ended:])
    monkeypatch.undo()
    # protocol 4, a listen without full duplex (a Realtime brain): the same
    log, info, _ = await _answer_in_room(tmp_path, quiet, "duplex-half", full_duplex=False)
    assert info.protocol == 4
    ended = log.index(p.ListenEnd("stopped"))
    assert not any(isinstance(e, Audio) for e in log[ended:])


async def test_full_duplex_the_users_voice_stops_the_answer_and_listening_goes_on(
    tmp_path: Path,
) -> None:
    talk = (
        Script(rate=16_000).pause(5.0).say("no wait, turn off the bedroom light", "user").pause(6)
    )
    log, _, _ = await _answer_in_room(tmp_path, talk, "duplex-talk")
    barge = next(e for e in log if isinstance(e, p.BargeIn))
    assert (barge.model, barge.stream_id) == ("voice", "answer-1")
    stopped = next(e for e in log if isinstance(e, p.PlaybackStopped))
    assert stopped.reason == "barge_in"
    assert 3000 < stopped.played_ms < 6000
    # it was listening already: no new listen_start, no listen_end, the audio goes on
    assert p.ListenStart("barge_in") not in log
    assert not any(isinstance(e, p.ListenEnd) for e in log)
    assert len(_audio_between(log, barge, p.ListenEnd)) > p.AUDIO_RATE  # > 0.5 s after it


async def test_stop_listening_ends_the_stream_while_the_answer_plays_on(tmp_path: Path) -> None:
    quiet = Script(rate=16_000).pause(16.0)
    async with running_satellite(
        quiet.write("duplex-stop"), tmp_path, _config("on"), room="default"
    ) as sat:
        await asyncio.sleep(0.5)
        await sat.client.listen(full_duplex=True)
        await sat.play("answer-1", say(ANSWER, p.AUDIO_RATE))
        await sat.until(p.StateChanged("responding"))
        await sat.audio_for(1.0)
        await sat.client.stop_listening()
        await sat.until(p.ListenEnd("stopped"))
        _, end = await sat.audio_until(p.PlaybackFinished, within=25)
        after = sat.log[sat.log.index(p.ListenEnd("stopped")) :]
        assert not any(isinstance(e, Audio) for e in after)
        assert isinstance(end, p.PlaybackFinished)


async def test_full_duplex_with_stop_words_a_held_voice_barge_in_and_a_stop_word(
    tmp_path: Path,
) -> None:
    """With stop words the voice barge-in waits for a possible stop word first (held), here while
    the audio goes on to HA; then it stops the answer without a new listen. A stop word stops
    the answer and ends listening, as in half duplex."""
    from tests.satellite.agent.test_stop_word import LONG_ANSWER, echo_stop_config

    other = Script(rate=16_000).pause(5.0).say("no wait, turn off the bedroom light").pause(4.0)
    async with running_satellite(
        other.write("duplex-hold"), tmp_path, echo_stop_config(), room="default"
    ) as sat:
        await asyncio.sleep(0.3)
        await sat.client.listen(full_duplex=True)
        await sat.play("answer-1", say(LONG_ANSWER, p.AUDIO_RATE))
        await sat.until(p.StateChanged("responding"))
        barge = await sat.next(p.BargeIn, within=15)
        assert isinstance(barge, p.BargeIn)
        assert barge.model == "voice"
        stopped = await sat.next(p.PlaybackStopped)
        assert isinstance(stopped, p.PlaybackStopped)
        assert stopped.reason == "barge_in"
        await sat.audio_for(0.5)  # the audio goes on
        assert p.ListenStart("barge_in") not in sat.log
        assert not any(isinstance(e, p.ListenEnd | p.StopWord) for e in sat.log)
        # nothing held back: the blocks of the hold went to HA before the answer stopped (events
        # and audio share one queue), about every block of the time it played
        began = sat.log.index(p.StateChanged("responding"))
        before = sat.log[began : sat.log.index(stopped)]
        streamed = sum(len(e.pcm) for e in before if isinstance(e, Audio)) / (p.AUDIO_RATE * 2)
        assert streamed > stopped.played_ms / 1000 - 0.3, (streamed, stopped.played_ms)

    stop = Script(rate=16_000).pause(5.0).say("alexa").pause(4.0)
    async with running_satellite(
        stop.write("duplex-stop-word"), tmp_path, echo_stop_config(), room="default"
    ) as sat:
        await asyncio.sleep(0.3)
        await sat.client.listen(full_duplex=True)
        await sat.play("answer-1", say(LONG_ANSWER, p.AUDIO_RATE))
        word = await sat.next(p.StopWord, within=15)
        assert isinstance(word, p.StopWord)
        stopped = await sat.next(p.PlaybackStopped)
        assert isinstance(stopped, p.PlaybackStopped)
        assert stopped.reason == "stop_word"
        await sat.until(p.ListenEnd("stopped"))  # the user wants silence: no more listening
        assert not any(isinstance(e, p.BargeIn) for e in sat.log)
