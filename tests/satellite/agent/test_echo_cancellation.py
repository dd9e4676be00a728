"""Echo cancellation (#16): the satellite in file mode's room (``--echo``), through the same
agent, DSP and link as with a microphone; the reference, the room and the configuration."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realtime_voice_dev.corpus import espeak_available
from realtime_voice_satellite.agent.config import ConfigError, parse_config
from realtime_voice_satellite.agent.played import PlaybackTap
from realtime_voice_satellite.agent.room import (
    Convolver,
    EchoRoomSource,
    default_room,
    load_impulse_response,
)
from realtime_voice_satellite.audio import write_wav
from realtime_voice_satellite.audio.wav import WavError
from realtime_voice_satellite.link import Audio
from realtime_voice_satellite.link import protocol as p
from tests.helpers import audio
from tests.satellite.harness import KEY, Script, config, running_satellite, speech

pytestmark = pytest.mark.timeout(90)

ANSWER = (
    "Sure. The lights in the kitchen are on now, and the heating is set to twenty one degrees. "
    "The forecast for tomorrow says sunny spells in the morning and showers later on."
)


# --- the reference ------------------------------------------------------------------------------


def test_reference_follows_what_the_output_took_and_never_waits() -> None:
    tone = audio.tone16(764, 1.0, 24_000, 10_000)
    blocks = iter(np.split(tone, 50))
    tap = PlaybackTap(lambda frames: next(blocks, None), 24_000)
    reader = tap.reader(24_000, margin_s=0.04)
    got = []
    for _ in range(50):
        tap(480)
        got.append(reader.read(480))
    heard = np.concatenate(got)
    # continuous, 40 ms (two blocks) behind: the tone sample for sample
    assert np.array_equal(heard[960:], tone[: len(tone) - 960])
    assert reader.dry_samples == 0
    # the output stalls: the reader gets silence at once, and re-anchors past the stall
    stalled = [reader.read(480) for _ in range(30)]
    assert not np.concatenate(stalled[2:]).any()  # what was played (the margin), then silence
    assert reader.dry_samples > 0
    assert reader.resyncs == 0
    tap(480)  # the output is back: the reader re-anchors to what it plays now
    assert reader.read(480).any()
    assert reader.resyncs == 1


def test_chime_is_not_reference_when_it_does_not_count() -> None:
    tap = PlaybackTap(lambda frames: np.full(frames, 1000, np.int16), 16_000)
    reader = tap.reader(16_000, margin_s=0.0, counts=lambda: False)
    tap(160)
    assert not reader.read(160).any()


# --- the room ------------------------------------------------------------------------------------


def test_convolver_in_blocks_equals_one_convolution() -> None:
    rng = np.random.default_rng(1)
    ir = default_room(16_000)
    x = rng.standard_normal(5000)
    room = Convolver(ir)
    blocks = np.concatenate([room(x[i : i + 320]) for i in range(0, len(x), 320)])
    assert np.allclose(blocks, np.convolve(x, ir)[: len(x)], atol=1e-6)


def test_impulse_response_of_the_wrong_format_is_refused_naming_it(tmp_path: Path) -> None:
    text = tmp_path / "room.wav"
    text.write_text("not audio")
    with pytest.raises(WavError, match=r"room\.wav"):
        load_impulse_response(text, 16_000)
    long = tmp_path / "recording.wav"
    write_wav(long, np.ones(16_000 * 3, np.int16), 16_000)
    with pytest.raises(WavError, match=r"recording\.wav.*3\.0 s"):
        load_impulse_response(long, 16_000)
    silent = tmp_path / "silent.wav"
    write_wav(silent, np.zeros(100, np.int16), 16_000)
    with pytest.raises(WavError, match=r"silent\.wav.*silent"):
        load_impulse_response(silent, 16_000)
    ir = tmp_path / "ir.wav"
    write_wav(ir, (default_room(48_000) * 32767).astype(np.int16), 48_000)
    assert len(load_impulse_response(ir, 16_000)) == pytest.approx(len(default_room(16_000)), 2)


def test_cli_refuses_a_bad_impulse_response_naming_it(tmp_path: Path) -> None:
    cfg = tmp_path / "satellite.yaml"
    cfg.write_text(f"link: {{access_key: {KEY}}}\nzeroconf: {{enabled: false}}\n")
    bad = tmp_path / "not-an-ir.wav"
    bad.write_text("hello")
    wav = tmp_path / "in.wav"
    write_wav(wav, np.zeros(1600, np.int16), 16_000)
    result = subprocess.run(
        [
            *(
                sys.executable,
                "-m",
                "realtime_voice_satellite.cli",
                "satellite",
                "--config",
                str(cfg),
            ),
            *("--input-wav", str(wav), "--output-wav", str(tmp_path / "o.wav")),
            *("--echo", str(bad)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "not-an-ir.wav" in result.stderr


# --- configuration -------------------------------------------------------------------------------


def test_echo_cancellation_setting() -> None:
    base = f"link: {{access_key: {KEY}}}\n"
    assert parse_config(base).audio.echo_cancellation == "auto"
    # YAML reads a bare off/on as false/true
    assert parse_config(base + "audio: {echo_cancellation: off}").audio.echo_cancellation == "off"
    assert parse_config(base + "audio: {echo_cancellation: on}").audio.echo_cancellation == "on"
    with pytest.raises(ConfigError, match=r"audio\.echo_cancellation: expected one of auto, on"):
        parse_config(base + "audio: {echo_cancellation: maybe}")


def test_auto_is_off_for_an_echo_cancelling_input() -> None:
    from realtime_voice_satellite.agent.echo_mode import echo_cancellation_on

    audio = config().audio
    assert echo_cancellation_on(audio)
    for name in ("Echo-Cancel Source", "ReSpeaker XVF3800 4-Mic Array", "echo_cancel_source"):
        assert not echo_cancellation_on(config(audio={"input_device": name}).audio)
    assert echo_cancellation_on(
        config(audio={"input_device": name, "echo_cancellation": "on"}).audio
    )


# --- the satellite in the room -----------------------------------------------------------------


async def _answer_in_room(
    tmp_path: Path, script: Script, name: str, echo_cancellation: str
) -> tuple[list[object], np.ndarray]:
    """Plays ANSWER in the default room over ``script``; the link's events and the output."""
    cfg = config(
        audio={"output_rate": 24000, "prebuffer_ms": 60, "echo_cancellation": echo_cancellation}
    )
    async with running_satellite(script.write(name), tmp_path, cfg, room="default") as sat:
        assert isinstance(sat.agent.source, EchoRoomSource)
        answer = speech(ANSWER, p.AUDIO_RATE)
        await asyncio.sleep(0.5)
        await sat.play("answer-1", answer)
        end = await sat.next(p.PlaybackFinished | p.PlaybackStopped, within=20)
        await asyncio.sleep(0.5)
        while not sat.events.empty():
            sat.log.append(sat.events.get_nowait())
        return [*sat.log, end], answer


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech")
async def test_the_user_interrupts_by_voice_and_the_answer_never_interrupts_itself(
    tmp_path: Path,
) -> None:
    # The satellite alone with its own answer: no barge-in, no wake, nothing streamed.
    quiet = Script(rate=16_000).pause(14.0)
    log, _ = await _answer_in_room(tmp_path, quiet, "room-quiet", "on")
    assert any(isinstance(e, p.PlaybackFinished) for e in log), log
    assert not any(isinstance(e, p.BargeIn | p.Wake | p.StopWord | Audio) for e in log)

    # The user speaks over the answer 4.5 s in: barge_in(voice), the answer stops where heard.
    talk = (
        Script(rate=16_000).pause(5.0).say("no wait, turn off the bedroom light", "user").pause(6)
    )
    log, _ = await _answer_in_room(tmp_path, talk, "room-talk", "on")
    barge = next(e for e in log if isinstance(e, p.BargeIn))
    assert barge.model == "voice"
    assert barge.stream_id == "answer-1"
    stopped = next(e for e in log if isinstance(e, p.PlaybackStopped))
    assert stopped.reason == "barge_in"
    assert 3000 < stopped.played_ms < 6000  # the answer started about 0.6 s into the input
    assert p.ListenStart("barge_in") in log
    assert any(isinstance(e, Audio) for e in log[log.index(p.ListenStart("barge_in")) :])

    # Without echo cancellation the same voice does not interrupt (only the wake word does).
    log, _ = await _answer_in_room(tmp_path, talk, "room-talk-off", "off")
    assert not any(isinstance(e, p.BargeIn) for e in log)
    assert any(isinstance(e, p.PlaybackFinished) for e in log)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech")
async def test_a_stalled_output_never_stops_the_microphone(tmp_path: Path) -> None:
    """The output stops pulling (a stalled device) while an answer plays: the wake word is
    still heard afterwards."""
    script = Script(rate=16_000).pause(4.0).say("hey jarvis", "wake").pause(2.0)
    cfg = config(audio={"output_rate": 24000, "prebuffer_ms": 60, "echo_cancellation": "on"})
    async with running_satellite(script.write("stall"), tmp_path, cfg, room="default") as sat:
        await sat.play("answer-1", speech("one two three", p.AUDIO_RATE))
        await sat.until(p.StateChanged("responding"))
        await asyncio.sleep(0.3)
        sink_task = sat.agent.sink._task  # type: ignore[attr-defined]
        sink_task.cancel()  # the device stops taking audio; the answer never ends
        await sat.client.stop_playback()
        wake = await sat.next(p.Wake, within=15)
        assert isinstance(wake, p.Wake)
        assert sat.agent.dsp.echo is not None
        assert sat.agent.dsp.echo.reference.dry_samples > 0  # type: ignore[attr-defined]


def test_reference_keeps_its_place_across_many_answers_at_another_rate() -> None:
    """Sound and silence alternate (answers with pauses) at the output's 24 kHz, read at 16 kHz:
    the reader stays the margin behind the newest sample, never dry, never re-anchored (each
    answer's start used to lose the resampler's delay, until the reference ran dry)."""
    tone = audio.tone16(764, 0.5, 24_000, 10_000)
    playing = False
    blocks: list[np.ndarray] = []

    def pull(frames: int) -> np.ndarray | None:
        return blocks.pop(0) if playing and blocks else None

    tap = PlaybackTap(pull, 24_000)
    reader = tap.reader(16_000, margin_s=0.06)
    leads = []
    for _ in range(60):  # sixty answers of half a second, 200 ms apart
        playing = True
        blocks = list(np.split(tone, 25))
        for _ in range(35):
            tap(480)
            reader.read(320)
            playing = bool(blocks)
        leads.append(reader.lead)
    assert max(leads) - min(leads) <= 2, leads
    assert reader.dry_samples == 0
    assert reader.resyncs == 0


def test_reference_keeps_its_phase_across_answers_with_any_block_size() -> None:
    """Answers start at any frame of the output's 24 kHz (blocks of 1000 frames, silences of any
    length): the 16 kHz reference of each is where one continuous resampling of everything
    played puts it, to a fraction of a sample. A linear echo canceller converged on one answer
    removes nothing of the next once it has moved by a third of a sample (each restart used to
    round the answer's start down to a whole 16 kHz sample)."""
    import soxr

    rng = np.random.default_rng(7)
    played: list[np.ndarray] = []  # everything the output took, silence as zeros
    sound: list[np.ndarray] = []
    playing = False

    def pull(frames: int) -> np.ndarray | None:
        block = sound.pop(0) if playing and sound else None
        played.append(np.zeros(frames, np.int16) if block is None else block)
        return block

    tap = PlaybackTap(pull, 24_000)
    reader = tap.reader(16_000, margin_s=0.06)
    got: list[np.ndarray] = []

    def step() -> None:  # one output block, and the microphone's share of it at 16 kHz
        tap(1000)
        due = len(played) * 1000 * 2 // 3 - sum(map(len, got))
        got.append(reader.read(due))

    for _ in range(8):
        playing = True
        sound = [(rng.standard_normal(1000) * 8000).astype(np.int16) for _ in range(30)]
        while sound:
            step()
        playing = False
        for _ in range(int(rng.integers(3, 9))):  # silence: 3 to 8 blocks
            step()
    assert reader.resyncs == 0
    reference = np.concatenate(got).astype(np.float64)
    whole = soxr.resample(np.concatenate(played).astype(np.float64), 24_000, 16_000)
    n = len(reference) - 4000
    lags = range(0, 3000)
    lag = max(lags, key=lambda k: float(reference[k : k + 16_000] @ whole[:16_000]))
    expected = whole[:n]
    actual = reference[lag : lag + n]
    loud = np.abs(expected) > 1000
    error = actual[loud] - expected[loud]
    assert 10 * np.log10(expected[loud] @ expected[loud] / (error @ error)) > 40


def test_idle_canceller_costs_nothing_and_loses_no_sample() -> None:
    """Configured but nothing played: the chain gives what the chain without a canceller gives
    (the idle path is the same work); when the answer starts it cancels, and after its tail it
    is idle again, every microphone sample accounted for."""
    from realtime_voice_satellite.audio import DspChain

    rng = np.random.default_rng(5)
    mic = (rng.standard_normal(16_000 * 5) * 2000).astype(np.int16)
    answer = audio.tone16(546, 1.0, 24_000, 8000)
    played = {"on": False, "at": 0}

    def pull(frames: int) -> np.ndarray | None:
        if not played["on"] or played["at"] >= len(answer):
            return None
        played["at"] += frames
        return answer[played["at"] - frames : played["at"]]

    tap = PlaybackTap(pull, 24_000)
    on, off = DspChain(16_000, echo_reference=tap.reader(16_000)), DspChain(16_000)
    assert on.echo is not None
    wake_on, wake_off, stream_on, stream_off = [], [], [], []
    for i in range(0, len(mic), 320):
        played["on"] = 16_000 <= i < 2 * 16_000  # an answer of a second, one second in
        tap(480)
        chunk = mic[i : i + 320 + (i % 960 == 0)]  # now and then not whole 10 ms frames
        a, b = on.process(chunk), off.process(chunk)
        wake_on.append(a.wake_16k)
        wake_off.append(b.wake_16k)
        stream_on.append(np.frombuffer(a.stream_24k, "<i2"))
        stream_off.append(np.frombuffer(b.stream_24k, "<i2"))
        if i < 16_000 or i > 3.5 * 16_000:  # idle: the same samples, nothing cancelled
            assert a.echo_out_16k is None
            assert np.array_equal(a.wake_16k, b.wake_16k)
    assert on.echo.frames_cancelled == pytest.approx(100 + 100 + 10, abs=12)  # answer + 1 s tail
    assert sum(map(len, wake_on)) == sum(map(len, wake_off))
    late = slice(-16_000, None)  # idle again, 1.5 s after the tail
    s_on, s_off = np.concatenate(stream_on), np.concatenate(stream_off)
    assert len(s_on) == pytest.approx(len(s_off), abs=24)
    assert np.abs(s_on[late].astype(int) - s_off[-len(s_on[late]) :].astype(int)).max() <= 1


def _frames(level_dbfs: float, n: int, rng: np.random.Generator) -> np.ndarray:
    return (rng.standard_normal(n * 160) * 32768 * 10 ** (level_dbfs / 20)).astype(np.int16)


def test_voice_barge_in_learns_the_rooms_residual_and_hears_what_rises_above_it() -> None:
    """A loud leak of the talker through the canceller interrupts within ``loud_ms``; the same
    leak as loud as the room's residual echo (learned over the playback) does not, and neither
    does anything before 3 s of playback have taught it the room."""
    from realtime_voice_satellite.agent.voice import VoiceBargeIn

    rng = np.random.default_rng(3)
    far = _frames(-15, 600, rng)
    detector = VoiceBargeIn()

    def feed(out: np.ndarray, far_part: np.ndarray, mic: np.ndarray | None = None) -> list[int]:
        mic = out if mic is None else mic  # out == mic: the canceller kept all of it
        return [
            i
            for i in range(0, len(out), 160)
            if detector(mic[i : i + 160], out[i : i + 160], far_part[i : i + 160]) is not None
        ]

    burst = _frames(-25, 20, rng)  # 10 dB under the reference: a talker through a leak
    assert feed(burst, far[: len(burst)]) == []  # not learned yet: nothing counts
    # 4 s of playback: the residual mostly 40 dB under the reference, now and then -10 dB (a
    # reverberant room's tail in the answer's pauses), the microphone's echo 6 dB under
    residual = _frames(-55, 440, rng)
    for k in range(0, 440, 25):
        residual[k * 160 : (k + 2) * 160] = _frames(-25, 2, rng)
    mic = _frames(-21, 440, rng)
    assert feed(residual, far[3200 : 3200 + len(residual)], mic) == []
    assert -15 < detector.residual_db < -5  # the tail's peaks, the 99th percentile
    assert feed(_frames(-25, 20, rng), far[:3200]) == []  # as loud as the tail: not the user
    loud = _frames(-12, 20, rng)  # 3 dB over the reference: someone talking
    assert feed(loud, far[:3200])[0] == 4 * 160  # the fifth 10 ms frame: 50 ms
    # The next answer: what the microphone hears before its reference has played 300 ms (say
    # music that is not cancelled, heard as it was) is not the user, however loud.
    detector.reset()
    quiet = np.zeros(160 * 20, np.int16)
    assert feed(_frames(-12, 20, rng), quiet) == []
    assert feed(_frames(-12, 25, rng), far[: 160 * 25]) == []
    assert feed(_frames(-12, 10, rng), far[160 * 25 : 160 * 35]) != []
