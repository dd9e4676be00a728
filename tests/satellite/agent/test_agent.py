"""The whole agent on WAV files, driven by the real link client as a fake Home Assistant."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soxr

from realtime_voice_dev.corpus import espeak_available
from realtime_voice_satellite.agent.audio_io import WavFileSource
from realtime_voice_satellite.audio import read_wav
from realtime_voice_satellite.link import Audio, LinkAuthError, SatelliteLinkClient
from realtime_voice_satellite.link import protocol as p
from tests.helpers import audio
from tests.helpers.audio import tone16
from tests.helpers.waiting import wait_until

from ..harness import (
    KEY,
    SPEED,
    Script,
    command_script,
    config,
    locate,
    pcm_to_samples,
    running_satellite,
    speech,
)

pytestmark = [
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech"),
    pytest.mark.timeout(60),
]


@pytest.mark.parametrize("noise_suppression", [False, True])
async def test_wake_streams_the_whole_command_and_plays_the_answer(
    tmp_path: Path, noise_suppression: bool
) -> None:
    script = command_script()
    cfg = config(
        audio={"output_rate": 24000, "prebuffer_ms": 60, "noise_suppression": noise_suppression}
    )
    async with running_satellite(script.write("command"), tmp_path, cfg) as sat:
        assert sat.agent.dsp.noise_suppression is noise_suppression
        wake = await sat.next(p.Wake)
        assert isinstance(wake, p.Wake)
        assert wake.model == "hey_jarvis"
        assert wake.score > 0.5
        # detected around the end of "hey jarvis" (t counts from the start of the stream)
        assert script.marks["wake"][0] < wake.t < script.marks["command"][0] + 0.5
        assert await sat.next(p.ListenStart) == p.ListenStart("wake")
        heard = pcm_to_samples(await sat.audio_for(2.0))
        await sat.client.stop_listening()
        rest, end = await sat.audio_until(p.ListenEnd)
        assert end == p.ListenEnd("stopped")
        heard = np.concatenate([heard, pcm_to_samples(rest)])

        # Where does what HA heard sit in the input? The whole command must be inside it.
        reference = soxr.resample(script.samples(), script.rate, p.AUDIO_RATE).astype(np.int16)
        command_start, command_end = (int(t * p.AUDIO_RATE) for t in script.marks["command"])
        offset, similarity = locate(heard[: p.AUDIO_RATE], reference)
        assert similarity > 0.9  # it is the input (high-passed), not something else
        assert offset <= command_start, "the start of the command was cut"
        assert offset + len(heard) >= command_end, "the end of the command was cut"

        answer = speech("the light is on", p.AUDIO_RATE)
        await sat.play("answer-1", answer)
        await sat.until(p.StateChanged("responding"))
        finished = await sat.next(p.PlaybackFinished)
        assert isinstance(finished, p.PlaybackFinished)
        assert finished.stream_id == "answer-1"
        assert abs(finished.played_ms - len(answer) * 1000 / p.AUDIO_RATE) < 50
        await sat.until(p.StateChanged("idle"), within=1)

    played, rate = read_wav(sat.output)
    assert rate == p.AUDIO_RATE
    # The chime, then the answer sample for sample (volume 1.0, no resampling at 24 kHz).
    start = locate(answer, played)[0]
    assert np.array_equal(played[start : start + len(answer)], answer)
    assert np.abs(played[:start]).max() > 1000  # the chime played before the answer


async def test_wake_word_during_the_answer_barges_in(tmp_path: Path) -> None:
    """The wake word's own barge-in: with echo cancellation on, the voice detector would hear
    the user first (test_echo_cancellation.py), so it is off here."""
    script = (
        command_script().pause(1.5).say("hey jarvis", "barge").pause(0.1).say("stop").pause(1.0)
    )
    cfg = config(audio={"echo_cancellation": "off"})
    async with running_satellite(script.write("barge"), tmp_path, cfg) as sat:
        await sat.next(p.Wake)
        await sat.audio_for(1.2)
        await sat.client.stop_listening()
        await sat.next(p.ListenEnd)
        long_answer = speech(
            "Here is a long answer about the weather, the traffic, and the news of the day, "
            "which goes on and on so that there is time to interrupt it.",
            p.AUDIO_RATE,
        )
        await sat.play("answer-2", long_answer)
        barge = await sat.next(p.BargeIn, within=15)
        assert isinstance(barge, p.BargeIn)
        assert barge.stream_id == "answer-2"
        assert barge.model == "hey_jarvis"
        assert barge.score >= 0.8  # the barge-in threshold
        stopped = await sat.next(p.PlaybackStopped)
        assert isinstance(stopped, p.PlaybackStopped)
        assert stopped.stream_id == "answer-2"
        assert stopped.reason == "barge_in"
        assert 500 < stopped.played_ms < len(long_answer) * 1000 / p.AUDIO_RATE
        assert await sat.next(p.ListenStart) == p.ListenStart("barge_in")
        after = await sat.audio_for(0.5)
        assert len(after) >= p.AUDIO_RATE  # half a second of the new command arrives
        assert not any(isinstance(e, p.Wake) for e in sat.log[1:])  # a barge-in, not a new wake

    played, _ = read_wav(sat.output)
    start = locate(long_answer[: p.AUDIO_RATE], played)[0]
    heard_ms = (len(played) - start) * 1000 / p.AUDIO_RATE
    assert abs(heard_ms - stopped.played_ms) < 60  # played_ms is what left the speaker


async def test_satellite_neither_wakes_on_nor_streams_its_own_voice(tmp_path: Path) -> None:
    script = command_script()
    async with running_satellite(script.write("echo"), tmp_path, echo=True) as sat:
        await sat.next(p.Wake)
        await sat.audio_for(1.2)
        # HA starts the answer while still listening, and asks for a follow-up early.
        answer = speech(
            "Sure, I am Jarvis, your assistant. The light in the kitchen is on now.", p.AUDIO_RATE
        )
        await sat.play("answer-3", answer)
        assert await sat.next(p.ListenEnd) == p.ListenEnd("stopped")
        await sat.client.listen(timeout_s=5)
        await sat.until(p.StateChanged("responding"))
        # raised while speaking (the capture worker applies the state at its next block, which
        # under load can come later than the next 20 ms)
        await wait_until(lambda: sat.agent.detector.thresholds == (0.8,), within=2)
        assert sat.agent.player.current is not None  # still speaking
        during, finished = await sat.audio_until(p.PlaybackFinished, within=15)
        assert during == b"", "the microphone reached HA while the satellite was speaking"
        since_answer = sat.log[sat.log.index(p.ListenEnd("stopped")) :]
        assert not any(isinstance(e, Audio) for e in since_answer)
        assert isinstance(finished, p.PlaybackFinished)
        assert finished.played_ms > 4000
        assert not any(isinstance(e, p.Wake | p.BargeIn) for e in sat.log[1:])
        # the echo guard: the barge-in threshold still holds right after the answer ...
        assert sat.agent.detector.thresholds == (0.8,)
        # ... and the follow-up listening streams again
        assert len(await sat.audio_for(0.3)) > 0
        await asyncio.sleep(0.6)  # echo_guard_ms is 500
        await sat.audio_for(0.1)
        assert sat.agent.detector.thresholds == (0.5,)


async def test_mute_ignores_the_wake_word_and_commands_update_info(tmp_path: Path) -> None:
    script = command_script()
    async with running_satellite(script.write("mute"), tmp_path) as sat:
        await sat.client.set_mute(True)
        info = await sat.next(p.Info)
        assert isinstance(info, p.Info)
        assert info.muted
        assert info.state == "muted"
        await sat.client.set_volume(0.5)
        await sat.client.configure(threshold=0.6, follow_up_s=8, chime=False)
        await sat.client.configure(wake_words_active=["alexa"])
        error = await sat.next(p.Error)
        assert isinstance(error, p.Error)
        assert "alexa" in error.message
        await sat.client.listen()
        assert await sat.next(p.ListenEnd) == p.ListenEnd("muted")
        # Past the wake word in the input: nothing woke.
        source = sat.agent.source
        assert isinstance(source, WavFileSource)
        while not source.finished:  # noqa: ASYNC110 - the source has no event for this
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        while not sat.events.empty():
            sat.log.append(sat.events.get_nowait())
        info = sat.client.info
        assert info is not None
        assert (info.volume, info.threshold, info.follow_up_s, info.chime) == (0.5, 0.6, 8.0, False)
    assert not any(isinstance(e, Audio | p.Wake) for e in sat.log)


async def test_commands_listen_timeout_stop_replace_and_reconnect(tmp_path: Path) -> None:
    quiet = Script().pause(1.0).write("quiet")
    tone = tone16(955, 2.0, p.AUDIO_RATE, 3000)
    async with running_satellite(quiet, tmp_path) as sat:
        with pytest.raises(LinkAuthError):  # a wrong key is refused while the agent runs
            await SatelliteLinkClient(
                "127.0.0.1", sat.agent.server.port, "wrong-key-0123456789"
            ).connect()

        await sat.client.listen(timeout_s=0.3)
        assert await sat.next(p.ListenStart) == p.ListenStart("command")
        audio, end = await sat.audio_until(p.ListenEnd, within=3)
        assert end == p.ListenEnd("timeout")
        seconds = len(audio) / (p.AUDIO_RATE * 2)  # the WAV runs SPEED times real time
        assert 0.5 * 0.3 * SPEED < seconds < 0.3 * SPEED + 0.4

        await sat.play("first", tone)
        await sat.client.play_start("second", "announcement")  # replaces the first
        replaced = await sat.next(p.PlaybackStopped)
        assert isinstance(replaced, p.PlaybackStopped)
        assert (replaced.stream_id, replaced.reason) == ("first", "replaced")
        await sat.client.play_audio(tone.astype("<i2").tobytes())
        await asyncio.sleep(0.3)
        await sat.client.stop_playback()
        stopped = await sat.next(p.PlaybackStopped)
        assert isinstance(stopped, p.PlaybackStopped)
        assert (stopped.stream_id, stopped.reason) == ("second", "command")
        assert 0 < stopped.played_ms < 2000

        # HA goes away in the middle of an answer: the satellite stops it and takes HA back.
        await sat.play("third", tone)
        await sat.until(p.StateChanged("responding"))
        await sat.client.close()
        # no event for this
        await wait_until(lambda: sat.agent.player.current is None, within=3, every=0.02)
        again = SatelliteLinkClient("127.0.0.1", sat.agent.server.port, KEY)
        info = await again.connect()
        assert info.state == "idle"
        await again.close()


async def test_an_answer_that_says_the_wake_word_does_not_interrupt_itself(tmp_path: Path) -> None:
    script = command_script()
    async with running_satellite(script.write("echo-wake"), tmp_path, echo=True) as sat:
        await sat.next(p.Wake)
        await sat.audio_for(1.2)
        await sat.client.stop_listening()
        answer = speech("The light is on. Say hey jarvis, to wake me up.", p.AUDIO_RATE)
        await sat.play("answer-4", answer)
        finished = await sat.next(p.PlaybackFinished, within=15)
        assert isinstance(finished, p.PlaybackFinished)
        assert finished.played_ms > 2500  # played to the end
        assert not any(isinstance(e, p.BargeIn | p.PlaybackStopped) for e in sat.log)
        assert sat.agent.own_voice is not None
        assert len(sat.agent.own_voice.hits_ms) == 1  # the answer's own "hey jarvis"


async def test_music_plays_under_the_wake_word_and_ducks_while_listening(tmp_path: Path) -> None:
    """HA's media player sends music on the media stream (#15 item 4): the wake word works while it
    plays (a wake, not a barge-in), the music ducks while the satellite listens and is not stopped."""
    script = command_script()
    cfg = config(audio={"output_rate": 24000, "prebuffer_ms": 60})
    song = audio.tone_pcm(20, p.AUDIO_RATE, 220, 8000 / 32767)
    async with running_satellite(script.write("music"), tmp_path, cfg) as sat:
        await sat.client.play_start("song", "media")
        await sat.client.play_media_audio(song)
        await sat.client.play_end("song")
        assert sat.agent.mixer.ducked is False
        wake = await sat.next(p.Wake, within=20)
        assert isinstance(wake, p.Wake)
        assert await sat.next(p.ListenStart) == p.ListenStart("wake")
        assert sat.agent.mixer.ducked is True
        assert sat.agent.media.current == ("song", "media")
        await sat.audio_for(0.5)
        await sat.client.stop_listening()
        await sat.next(p.ListenEnd)
        assert sat.agent.mixer.ducked is False
        assert not any(isinstance(e, p.BargeIn | p.PlaybackStopped) for e in sat.log)
        await sat.client.stop_playback("song")
        stopped = await sat.next(p.PlaybackStopped)
        assert isinstance(stopped, p.PlaybackStopped)
        assert stopped.stream_id == "song"
        assert stopped.reason == "command"
        assert stopped.played_ms > 1000
