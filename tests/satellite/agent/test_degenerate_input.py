"""The satellite survives a degenerate microphone (#23 item 4): digital silence (a muted or gated
microphone, a WAV input), a DC level, clipping, and NaN or infinity from a broken float driver.
Through the agent's own microphone path (the capture worker, the DSP chain with the echo
cancellers, the voice barge-in): no error, no numpy warning, and the satellite hears again as
soon as the microphone does."""

from __future__ import annotations

import asyncio
import logging
import warnings
from pathlib import Path

import numpy as np
import pytest

from realtime_voice_dev.corpus import espeak_available
from realtime_voice_satellite.agent.audio_io import WavFileSource
from realtime_voice_satellite.agent.room import EchoRoomSource, load_impulse_response
from realtime_voice_satellite.agent.voice import VoiceBargeIn
from realtime_voice_satellite.audio import DspChain
from realtime_voice_satellite.link import protocol as p
from tests.helpers import audio

from ..harness import Script, config, running_satellite, speech

ANSWER = (
    "Sure. The lights in the kitchen are on now, and the heating is set to twenty one degrees. "
    "The forecast for tomorrow says sunny spells."
)
KINDS = ("silence", "dc", "clipping", "nan", "inf")


class Microphone:
    """The default room's microphone (it hears the speaker) that turns ``kind`` on demand, and
    into which the user speaks (``say``). A float driver (float32 blocks) for NaN and infinity,
    which int16 cannot carry."""

    def __init__(self, path: Path, float_driver: bool) -> None:
        wav = WavFileSource(path, speed=2.0)
        self.room = EchoRoomSource(wav, load_impulse_response("default", wav.rate))
        self.rate = wav.rate
        self.float_driver = float_driver
        self.kind: str | None = None
        self._user = np.zeros(0, np.int16)

    def say(self, samples: np.ndarray) -> None:
        self._user = np.concatenate((self._user, samples))

    async def start(self) -> None:
        await self.room.start()

    async def stop(self) -> None:
        await self.room.stop()

    async def read(self) -> np.ndarray:
        block = (await self.room.read()).astype(np.int32)
        user, self._user = self._user[: len(block)], self._user[len(block) :]
        block[: len(user)] += user
        block = np.clip(block, -32768, 32767)
        if self.kind == "silence":
            block[:] = 0
        elif self.kind == "dc":
            block[:] = 12_000  # stuck at a level
        elif self.kind == "clipping":
            block = np.clip(block * 64, -32768, 32767)  # far too much gain: the rails
        out = block.astype(np.float32) / 32768 if self.float_driver else block.astype(np.int16)
        if self.kind == "nan":
            out[:] = np.nan
        elif self.kind == "inf":
            out[::2], out[1::2] = np.inf, -np.inf
        return out


@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("error::RuntimeWarning")  # in the capture thread too: logged as errors
@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech")
@pytest.mark.parametrize("kind", KINDS)
async def test_a_degenerate_microphone_while_the_satellite_speaks(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An answer in the room (the cancellers learn its echo), then one while the microphone is
    degenerate, then the user says the wake word: heard, and nothing logged as an error (the
    digital silence made the voice barge-in divide by zero on every block, NaN silenced the
    microphone for good)."""
    caplog.set_level(logging.WARNING)
    microphone = Microphone(
        Script(rate=16_000).pause(90.0).write("degenerate-quiet"), kind in ("nan", "inf")
    )
    cfg = config(audio={"output_rate": 24000, "prebuffer_ms": 60, "echo_cancellation": "on"})
    async with running_satellite(
        tmp_path / "unused.wav", tmp_path, cfg, microphone=microphone
    ) as sat:
        microphone.room.hear(sat.agent.playback_tap)
        answer = speech(ANSWER, p.AUDIO_RATE)
        await sat.play("answer-1", answer)
        await sat.next(p.PlaybackFinished, within=30)
        microphone.kind = kind
        await asyncio.sleep(1.5)  # e.g. a gate closed since the answer: the room's tail is gone
        await sat.play("answer-2", answer)
        end = await sat.next(p.PlaybackFinished | p.PlaybackStopped, within=30)
        if isinstance(end, p.PlaybackStopped):  # the rails or the noise taken for the user
            assert kind in ("clipping", "inf"), end
            await sat.client.stop_listening()
            await sat.next(p.ListenEnd)
        await asyncio.sleep(0.5)
        microphone.kind = None
        await asyncio.sleep(1.0)  # the canceller's tail ends: the wake word as when idle
        microphone.say(speech("hey jarvis", 16_000))
        wake = await sat.next(p.Wake, within=15)
        assert isinstance(wake, p.Wake), sat.log
        assert wake.model == "hey_jarvis"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors


class _Reference:
    far: np.ndarray

    def read(self, n: int) -> np.ndarray:
        return np.resize(self.far, n).astype(np.int16)

    def silent(self, n: int) -> bool:
        return not self.far.any()


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_the_voice_barge_in_on_digital_silence_after_the_canceller_has_learned() -> None:
    """The linear canceller has learned an echo path; the next answer meets a gated microphone
    (all zeros): its estimate is not zero, the microphone's energy is, so the echo removal
    learned is 0 (``estimate / erle`` divided by zero). Nothing is heard, nothing raised."""
    rng = np.random.default_rng(1)
    talk = (rng.standard_normal(16_000 * 3) * 3000).astype(np.int16)
    zeros = np.zeros(16_000 * 2, np.int16)
    reference = _Reference()
    dsp = DspChain(16_000, echo_reference=reference)
    voice = VoiceBargeIn()
    heard: list[float | None] = []
    # an answer heard, a pause (the canceller stops), an answer over digital silence
    for far, mic in ((talk, talk), (zeros, zeros), (talk, zeros)):
        reference.far = far
        voice.reset()
        for start in range(0, len(mic), 320):
            frame = dsp.process(mic[start : start + 320])
            if frame.echo_mic_16k is None:
                continue
            assert frame.echo_estimates is not None
            assert np.isfinite(frame.echo_estimates).all()
            heard.append(
                voice(
                    frame.echo_mic_16k,
                    frame.echo_out_16k,  # type: ignore[arg-type]
                    frame.echo_far_16k,
                    frame.echo_linear_16k,
                    frame.echo_estimates,
                )
            )
    assert heard[-50:] == [None] * 50


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e30])
@pytest.mark.parametrize("agc", [False, True])
def test_a_float_driver_s_nan_infinity_or_overflow_is_one_bad_block(bad: float, agc: bool) -> None:
    """One block with a NaN (or infinity, or a value far beyond full scale) in it: the chain goes
    on as if it had been clipped, no numpy warning, and the next blocks sound as before it (a
    NaN used to stay in the high-pass's state and silence the microphone for good)."""
    from realtime_voice_satellite.audio import AgcConfig

    dsp = DspChain(48_000, agc=AgcConfig() if agc else None)
    tone = audio.sine(440, 2.0, 48_000, 0.1, dtype=np.float32)
    levels = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for k, start in enumerate(range(0, len(tone), 960)):
            block = tone[start : start + 960].copy()
            if k == 50:
                block[100:110] = bad
            frame = dsp.process(block)
            assert frame.wake_16k.dtype == np.int16
            levels.append(frame.level_dbfs)
    before, after = levels[40:50], levels[-10:]
    assert all(abs(level - before[0]) < 1.0 for level in before + after), levels
