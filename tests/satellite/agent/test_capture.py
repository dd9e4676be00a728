"""The microphone's processing (DSP, wake and stop words, voice) runs in one worker thread, off the
event loop (#14 item 5): a blocked loop or a slow link loses no microphone audio, and audio that is
lost anyway is logged, rate-limited.

The microphone is a ``DeviceSource`` on a stand-in for sounddevice that plays a WAV from its own
thread (``wav_device.py``): the same callback and delivery as a real microphone's.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soxr

from realtime_voice_dev.corpus import espeak_available
from realtime_voice_satellite.agent import audio_io, capture
from realtime_voice_satellite.agent.audio_io import DeviceSource, DropReport
from realtime_voice_satellite.link import protocol as p
from tests.helpers.waiting import wait_until

from ..harness import SPEED, command_script, locate, pcm_to_samples, running_satellite
from .wav_device import WavSoundDevice

pytestmark = [
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech"),
    pytest.mark.timeout(60),
]


def wav_microphone(
    monkeypatch: pytest.MonkeyPatch, samples: np.ndarray, rate: int, **source: int
) -> tuple[WavSoundDevice, DeviceSource]:
    device = WavSoundDevice(samples, rate, speed=SPEED)
    monkeypatch.setattr(audio_io, "_sounddevice", lambda: device)
    return device, DeviceSource(None, block_ms=20, **source)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def played_to(device: WavSoundDevice, seconds: float) -> None:
    # the device has no event
    await wait_until(lambda: device.seconds_played >= seconds, within=20, every=0.01)


async def test_a_blocked_event_loop_loses_no_microphone_audio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The loop is blocked for 1.2 s (2.4 s of audio at SPEED) from just before the wake word:
    the wake word is still heard, and HA gets the command without a gap."""
    script = command_script()
    device, source = wav_microphone(monkeypatch, script.samples(), script.rate)
    async with running_satellite(Path("unused.wav"), tmp_path, microphone=source) as sat:
        await played_to(device, script.marks["wake"][0] - 0.1)
        time.sleep(2.4 / SPEED)  # noqa: ASYNC251 - a slow handler: nothing on the loop runs
        wake = await sat.next(p.Wake)
        assert isinstance(wake, p.Wake)
        assert wake.model == "hey_jarvis"
        assert script.marks["wake"][0] < wake.t < script.marks["command"][0] + 0.5
        assert await sat.next(p.ListenStart) == p.ListenStart("wake")
        await played_to(device, script.seconds + 0.2)
        await sat.client.stop_listening()
        pcm, end = await sat.audio_until(p.ListenEnd)
        assert end == p.ListenEnd("stopped")
    assert source.overflows == 0
    assert not [w for w in warnings(caplog) if "lost" in w]
    heard = pcm_to_samples(pcm)
    reference = soxr.resample(script.samples(), script.rate, p.AUDIO_RATE).astype(np.int16)
    second = p.AUDIO_RATE
    first_at, first_similarity = locate(heard[:second], reference)
    last_at, last_similarity = locate(heard[-2 * second : -second], reference)
    assert first_similarity > 0.9
    assert last_similarity > 0.9
    # Every sample captured from the pre-roll on reached HA: the span of input that the audio
    # covers is exactly as long as the audio (a lost 20 ms block would make it 480 longer).
    span = last_at + second - first_at
    assert abs(span - (len(heard) - second)) <= 2, (span, len(heard) - second)
    command_start, command_end = (int(t * p.AUDIO_RATE) for t in script.marks["command"])
    assert first_at <= command_start
    assert first_at + len(heard) >= command_end


async def test_processing_runs_in_one_worker_thread_and_the_loop_only_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = command_script()
    _, source = wav_microphone(monkeypatch, script.samples(), script.rate)
    loop_thread = threading.get_ident()
    threads: dict[str, set[int]] = {"dsp": set(), "wake word": set()}
    async with running_satellite(Path("unused.wav"), tmp_path, microphone=source) as sat:
        dsp, detector = sat.agent.dsp, sat.agent.detector
        dsp_process, detector_process = dsp.process, detector.process

        def watched_dsp(block: np.ndarray):  # type: ignore[no-untyped-def]
            threads["dsp"].add(threading.get_ident())
            return dsp_process(block)

        def watched_detector(samples: np.ndarray):  # type: ignore[no-untyped-def]
            threads["wake word"].add(threading.get_ident())
            return detector_process(samples)

        dsp.process = watched_dsp  # type: ignore[method-assign]
        detector.process = watched_detector  # type: ignore[method-assign]
        wake = await sat.next(p.Wake)
        assert isinstance(wake, p.Wake)
    assert len(threads["dsp"]) == 1
    assert threads["wake word"] == threads["dsp"]
    assert loop_thread not in threads["dsp"]


async def test_lost_blocks_are_logged_at_once_then_at_most_once_a_minute(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a reader the source's own buffer overflows, and PortAudio flags an input
    overflow: the first loss is a warning at once, later ones one line a minute with the count."""
    now = [0.0]
    samples = np.zeros(16_000 * 20, np.int16)
    device, source = wav_microphone(monkeypatch, samples, 16_000, max_blocks=3)
    source.drops = DropReport(clock=lambda: now[0])
    await source.start()
    try:
        await asyncio.sleep(0.3)  # 30 blocks at SPEED, nobody reads
        assert source.dropped > 10
        assert warnings(caplog) == [
            "microphone audio lost: 1 block (the event loop did not take it in time); further "
            "losses are logged at most once every 60 s"
        ]
        device.overflow_next = True
        await asyncio.sleep(0.1)
        assert source.input_overflows == 1
        assert len(warnings(caplog)) == 1  # counted, not logged yet
        now[0] = 61.0
        await asyncio.sleep(0.1)
    finally:
        await source.stop()
    lines = warnings(caplog)
    assert len(lines) == 2, lines
    found = re.fullmatch(
        r"microphone audio lost: (\d+) blocks in the last 61 s \((\d+) the event loop did not "
        r"take it in time, 1 input overflow in the sound device\); (\d+) in all "
        r"\((\d+) more like this not logged\)",
        lines[1],
    )
    assert found is not None, lines[1]
    count, behind, total, calls = (int(g) for g in found.groups())
    assert count == behind + 1
    assert total == count + 1  # the first line's block
    assert calls == count - 1  # the line itself is the last of them


async def test_a_full_processing_queue_is_logged_and_the_satellite_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The processing stalls (a CPU far too slow) until its queue of blocks overflows: the
    loss is logged once, and the wake word is heard once it runs again."""
    monkeypatch.setattr(capture, "QUEUE_BLOCKS", 10)
    script = command_script()
    device, source = wav_microphone(monkeypatch, script.samples(), script.rate)
    stalled = threading.Event()
    async with running_satellite(Path("unused.wav"), tmp_path, microphone=source) as sat:
        detector_process = sat.agent.detector.process
        resume = threading.Event()

        def stalling(samples: np.ndarray):  # type: ignore[no-untyped-def]
            if not stalled.is_set():
                stalled.set()
                resume.wait(5)
            return detector_process(samples)

        sat.agent.detector.process = stalling  # type: ignore[method-assign]
        await played_to(device, 0.8)  # 20 blocks while the processing waits
        resume.set()
        wake = await sat.next(p.Wake)
        assert isinstance(wake, p.Wake)
        device.overflow_next = True  # then the device itself loses some audio
        await played_to(device, device.seconds_played + 0.2)
        drops = sat.agent._capture.drops
    lines = [w for w in warnings(caplog) if "lost" in w]
    assert len(lines) == 1, lines  # the rest are counted for the next line
    assert "processing queue full" in lines[0]
    assert source.input_overflows == 1
    assert drops.total > 10


async def test_the_worker_runs_other_work_in_order_and_survives_its_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from realtime_voice_satellite.agent.capture import CaptureWorker
    from realtime_voice_satellite.agent.hearing import Hearing, HearingState
    from realtime_voice_satellite.audio import DspChain
    from realtime_voice_satellite.wakeword import WakeWordDetector

    detector = WakeWordDetector(["hey_jarvis"])
    worker = CaptureWorker(Hearing(DspChain(16_000), detector), HearingState())
    await worker.stop()  # not started: nothing to stop
    worker.start()
    done: asyncio.Queue[object] = asyncio.Queue()

    def broken() -> object:
        raise RuntimeError("a guard broke")

    try:
        for _ in range(3):
            worker.run(broken, done.put_nowait)
        worker.run(lambda: "after", done.put_nowait)
        assert await asyncio.wait_for(done.get(), 5) == "after"
    finally:
        await worker.stop()
        detector.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert (
        "listening to the answer's own audio: RuntimeError: a guard broke" in errors[0].getMessage()
    )


def test_the_own_voice_guards_share_one_front_end_on_the_answers_audio(tmp_path: Path) -> None:
    """The guards hear the answer as HA sends it (not the microphone): the wake word's and the
    stop word's guard share one front end there, and find what separate guards find."""
    from realtime_voice_satellite.agent.audio_io import WavFileSink, WavFileSource
    from realtime_voice_satellite.agent.build import build_agent
    from realtime_voice_satellite.agent.own_voice import OwnVoice
    from realtime_voice_satellite.wakeword import WakeWordDetector

    from ..harness import Script, silence, speech
    from .test_stop_word import ALEXA_VOICE, stop_config

    rate = p.AUDIO_RATE
    answer = np.concatenate(
        [
            speech("The light is on. Say hey jarvis, to wake me up.", rate),
            silence(0.3, rate),
            speech("alexa", rate, ALEXA_VOICE),
            silence(0.5, rate),
        ]
    )
    source = WavFileSource(Script().pause(0.2).write("guards"))
    agent = build_agent(stop_config(), source, WavFileSink(tmp_path / "out.wav", 24_000))
    hearing = agent._capture.hearing
    front = agent.answer_front_end
    assert front is not None
    separate = [
        OwnVoice(
            WakeWordDetector(["hey_jarvis"], 0.5, trigger_level=1, refractory_s=0.5, warmup_s=0)
        ),
        OwnVoice(WakeWordDetector(["alexa"], 0.5, trigger_level=1, refractory_s=0.5, warmup_s=0)),
    ]
    to_16k = soxr.ResampleStream(rate, 16_000, 1, dtype="int16")
    hits: list[list[float]] = [[], []]
    separate_hits: list[list[float]] = [[], []]
    computed = front.embeddings_computed
    hearing.answer_started()
    for own in separate:
        own.restart()
    alone = separate[0].detector._engine  # type: ignore[attr-defined]
    alone_computed = alone.embeddings_computed
    chunk = rate // 10  # 100 ms, as HA sends them
    for start in range(0, len(answer), chunk):
        block = answer[start : start + chunk]
        for guard, found in enumerate(hearing.hear_answer(block.astype("<i2").tobytes())):
            hits[guard] += found
        block_16k = to_16k.resample_chunk(block)
        for guard, own in enumerate(separate):
            separate_hits[guard] += own.hear(block_16k)
    assert len(hits[0]) == 1  # "hey jarvis"
    assert len(hits[1]) == 1  # "alexa"
    assert hits[1][0] > hits[0][0]
    assert hits == separate_hits
    # one embedding per step for both guards: as many as one guard alone computes
    assert front.embeddings_computed - computed == alone.embeddings_computed - alone_computed > 0
    for detector in (agent.detector, agent.stop_detector):
        assert detector is not None
        detector.close()
    for guard in (*separate, agent.own_voice, agent.stop_own_voice):
        assert guard is not None
        guard.close()


async def test_an_error_while_acting_on_a_block_is_logged_once_and_the_satellite_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from ..harness import Script

    async with running_satellite(Script().pause(3.0).write("act-errors"), tmp_path) as sat:
        acted = 0

        def broken(heard: object) -> None:
            nonlocal acted
            acted += 1
            raise RuntimeError("deciding broke")

        sat.agent._act = broken  # type: ignore[method-assign]
        await asyncio.sleep(0.5)  # about 50 blocks at SPEED
        await sat.client.set_volume(0.5)  # the link still answers
        info = await sat.next(p.Info)
        assert isinstance(info, p.Info)
        assert info.volume == 0.5
    assert acted > 10
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "acting on microphone audio: RuntimeError: deciding broke" in errors[0].getMessage()


def test_microwakeword_stop_words_keep_their_own_front_end_and_errors(tmp_path: Path) -> None:
    """Stop words in microWakeWord share nothing with openWakeWord wake words; their model
    errors still name the setting."""
    from realtime_voice_satellite.agent.audio_io import WavFileSink, WavFileSource
    from realtime_voice_satellite.agent.build import build_agent
    from realtime_voice_satellite.agent.config import ConfigError

    from ..harness import Script
    from .test_stop_word import stop_config

    source = WavFileSource(Script().pause(0.2).write("micro-stop"))
    sink = WavFileSink(tmp_path / "out.wav", 24_000)
    with pytest.raises(ConfigError, match=r"wake_word\.stop_words: .*'nope'"):
        build_agent(
            stop_config(stop_word_engine="microwakeword", stop_words=["nope"]), source, sink
        )
    wake_word = {"models": ["okay_nabu"], "engine": "microwakeword", "stop_words": ["okay_nabu"]}
    with pytest.raises(ConfigError, match="'okay_nabu' is also a wake word"):
        build_agent(stop_config(**wake_word), source, sink)
    agent = build_agent(stop_config(stop_word_engine="microwakeword"), source, sink)
    assert agent.front_end is None
    assert agent.answer_front_end is None
    for detector in (agent.detector, agent.stop_detector, agent.own_voice, agent.stop_own_voice):
        assert detector is not None
        detector.close()


def test_microwakeword_wake_and_stop_words_share_one_front_end(tmp_path: Path) -> None:
    """With microWakeWord for both, the wake words and the stop words read one feature front end
    on the microphone's audio (the stop words only while speaking), the guards one on the
    answers' audio; each finds its words, and the features are computed once per step."""
    from realtime_voice_satellite.agent.audio_io import WavFileSink, WavFileSource
    from realtime_voice_satellite.agent.build import build_agent
    from realtime_voice_satellite.agent.hearing import HearingState
    from realtime_voice_satellite.agent.own_voice import OwnVoice
    from realtime_voice_satellite.wakeword import WakeWordDetector
    from realtime_voice_satellite.wakeword.microwakeword import MicroWakeWordFrontEnd

    from ..harness import Script, silence, speech
    from .test_stop_word import ALEXA_VOICE, stop_config

    script = Script().pause(1.0).say("okay nabu", "wake").pause(1.0)
    script = script.say("alexa", "stop", voice=ALEXA_VOICE).pause(1.0)
    source = WavFileSource(script.write("micro-shared"))
    config = stop_config(models=["okay_nabu"], engine="microwakeword")
    agent = build_agent(config, source, WavFileSink(tmp_path / "out.wav", 24_000))
    front, guards_front = agent.front_end, agent.answer_front_end
    assert isinstance(front, MicroWakeWordFrontEnd)
    assert isinstance(guards_front, MicroWakeWordFrontEnd)
    assert agent.stop_detector is not None
    heard_16k = 0
    wake_process = agent.detector.process

    def counted(samples: np.ndarray) -> list:  # type: ignore[type-arg]
        nonlocal heard_16k
        heard_16k += len(samples)
        return wake_process(samples)

    agent.detector.process = counted  # type: ignore[method-assign]
    hearing = agent._capture.hearing
    idle = HearingState(
        thresholds=(0.5,), guarded_thresholds=(0.8,), active=frozenset({"okay_nabu"})
    )
    speaking = replace(idle, speaking=True, stop_words_on=True)
    samples, block = script.samples(), script.rate // 50
    speaks_from = int((script.marks["wake"][1] + 0.5) * script.rate)
    wake, stop = [], []
    for start in range(0, len(samples), block):
        state = speaking if start >= speaks_from else idle
        heard = hearing.hear(samples[start : start + block], 0.0, state)
        wake += heard.wake
        stop += heard.stop
    assert [d.model for d in wake] == ["okay_nabu"]
    assert [d.model for d in stop] == ["alexa"]
    assert front.feature_frames == heard_16k // 160 - 2  # once for both: 10 ms steps, 30 ms windows

    rate = p.AUDIO_RATE
    guard = {"engine": "microwakeword", "trigger_level": 1, "refractory_s": 0.5, "warmup_s": 0}
    answer = np.concatenate(
        [
            speech("Say okay nabu, to wake me up.", rate),
            silence(0.3, rate),
            speech("alexa", rate, ALEXA_VOICE),
            silence(0.5, rate),
        ]
    )
    separate = [
        OwnVoice(WakeWordDetector([model], 0.5, **guard))  # type: ignore[arg-type]
        for model in ("okay_nabu", "alexa")
    ]
    to_16k = soxr.ResampleStream(rate, 16_000, 1, dtype="int16")
    hearing.answer_started()
    hits: list[list[float]] = [[], []]
    separate_hits: list[list[float]] = [[], []]
    for start in range(0, len(answer), rate // 10):  # 100 ms, as HA sends them
        chunk = answer[start : start + rate // 10]
        for guard, found in enumerate(hearing.hear_answer(chunk.astype("<i2").tobytes())):
            hits[guard] += found
        chunk_16k = to_16k.resample_chunk(chunk)
        for guard, own in enumerate(separate):
            separate_hits[guard] += own.hear(chunk_16k)
    assert hits == separate_hits
    assert hits[0]  # "okay nabu" (maybe twice: the guard's refractory time is 0.5 s)
    assert len(hits[1]) == 1  # "alexa"
    assert hits[1][0] > hits[0][-1]
    assert abs(guards_front.feature_frames - len(answer) * 100 / rate) < 5  # once for both
    for detector in (agent.detector, agent.stop_detector, agent.own_voice, agent.stop_own_voice):
        assert detector is not None
        detector.close()
    for own in separate:
        own.close()


async def test_answer_audio_beyond_its_bound_is_lost_counted_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker stalls while HA sends an answer: what does not fit the answer's queue is
    lost, the first loss logged at once and the next ones a minute later with the count; the
    microphone's blocks are all heard once the worker runs again, and so is the answer that fit."""
    from realtime_voice_satellite.agent.capture import CaptureWorker
    from realtime_voice_satellite.agent.hearing import Hearing, HearingState
    from realtime_voice_satellite.audio import DspChain
    from realtime_voice_satellite.wakeword import WakeWordDetector

    chunk = bytes(p.AUDIO_RATE // 10 * 2)  # 100 ms, as HA sends them
    monkeypatch.setattr(capture, "ANSWER_QUEUE_BYTES", 10 * len(chunk))
    now = [0.0]
    detector = WakeWordDetector(["hey_jarvis"])
    state = HearingState(thresholds=(0.5,), guarded_thresholds=(0.5,))
    worker = CaptureWorker(Hearing(DspChain(16_000), detector), state)
    worker.answer_drops = DropReport(what=capture.ANSWER_AUDIO, unit="chunk", clock=lambda: now[0])
    worker.start()
    resume = threading.Event()
    answered: asyncio.Queue[list[list[float]]] = asyncio.Queue()
    try:
        worker.run(lambda: resume.wait(5), lambda _: None)  # the worker stalls
        for _ in range(15):
            worker.submit_answer(chunk, answered.put_nowait)
        assert warnings(caplog) == [
            "answer audio for the own-voice guards lost: 1 chunk (processing queue full); "
            "further losses are logged at most once every 60 s"
        ]
        for i in range(5):
            worker.submit_block(np.zeros(320, np.int16), float(i))
        resume.set()
        async with asyncio.timeout(5):
            heard = [await worker.heard.get() for _ in range(5)]
            answers = [await answered.get() for _ in range(10)]
        assert [h.captured_at for h in heard] == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert answers == [[]] * 10  # no guards: nothing found in each chunk heard
        assert answered.empty()
        worker.submit_answer(chunk, answered.put_nowait)  # room again
        assert await asyncio.wait_for(answered.get(), 5) == []
        assert worker.answer_drops.total == 5
        now[0] = 61.0
        resume.clear()
        worker.run(lambda: resume.wait(5), lambda _: None)  # stalls again
        for _ in range(11):
            worker.submit_answer(chunk, answered.put_nowait)
        resume.set()
    finally:
        await worker.stop()
        detector.close()
    lines = warnings(caplog)
    assert len(lines) == 2, lines
    assert lines[1] == (
        "answer audio for the own-voice guards lost: 5 chunks in the last 61 s "
        "(5 processing queue full); 6 in all (4 more like this not logged)"
    )
