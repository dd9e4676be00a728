"""Errors in the satellite's audio chain (issue #17): reported once, then rate-limited, never a log
line per block; a failing optional stage is turned off and the satellite still wakes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import pytest

from realtime_voice_dev.corpus import espeak_available
from realtime_voice_satellite.agent.errors import RepeatedErrors
from realtime_voice_satellite.link import protocol as p

from ..harness import command_script, config, running_satellite

pytestmark = [
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech"),
    pytest.mark.timeout(60),
]


class _RenamedProcessor:
    """pyspeex-noise as 2.0 looked to code written for 1.x: an AudioProcessor whose frame
    function has another name (here: neither ``Process10ms`` nor ``process_10ms``)."""

    def __init__(self, *args: object) -> None:
        self.args = args


def problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_failing_noise_suppression_warns_once_and_the_satellite_still_wakes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import pyspeex_noise

    monkeypatch.setattr(pyspeex_noise, "AudioProcessor", _RenamedProcessor)
    script = command_script()
    cfg = config(audio={"output_rate": 24000, "prebuffer_ms": 60, "noise_suppression": True})
    async with running_satellite(script.write("command"), tmp_path, cfg) as sat:
        wake = await sat.next(p.Wake)
        assert isinstance(wake, p.Wake)
        assert wake.model == "hey_jarvis"
        assert script.marks["wake"][0] < wake.t < script.marks["command"][0] + 0.5
        assert await sat.next(p.ListenStart) == p.ListenStart("wake")
        assert len(await sat.audio_for(1.0)) >= p.AUDIO_RATE * 2  # the command streams
        assert sat.agent.dsp.noise_suppression is False
    found = problems(caplog)
    assert [r.levelname for r in found] == ["WARNING"], [r.getMessage() for r in found]
    assert "noise suppression failed and is turned off" in found[0].getMessage()
    assert "Process10ms" in found[0].getMessage()  # what went wrong, in the line itself


async def test_an_error_on_every_block_is_logged_once_and_the_link_stays_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = command_script()
    async with running_satellite(script.write("command"), tmp_path) as sat:
        calls = 0

        def broken(samples: np.ndarray) -> list[object]:
            nonlocal calls
            calls += 1
            raise RuntimeError("the wake word engine broke")

        sat.agent.detector.process = broken  # type: ignore[method-assign]
        await asyncio.sleep(1.0)  # about 100 blocks of 20 ms (the WAV runs at twice real time)
        await sat.client.set_volume(0.5)  # the link still answers
        info = await sat.next(p.Info)
        assert isinstance(info, p.Info)
        assert info.volume == 0.5
    assert calls > 20
    found = problems(caplog)
    assert [r.levelname for r in found] == ["ERROR"], [r.getMessage() for r in found]
    assert "the wake word engine broke" in found[0].getMessage()
    assert found[0].exc_info is not None  # the traceback, once


def test_repeated_errors_are_counted_and_logged_at_most_once_an_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    errors = RepeatedErrors(
        logging.getLogger("test.repeated"),
        "processing audio",
        interval_s=60.0,
        clock=lambda: now[0],
    )
    with caplog.at_level(logging.DEBUG, "test.repeated"):
        for second in range(0, 130):  # one error a second for 130 s, between good blocks
            now[0] = float(second)
            errors.report(ValueError(f"bad block {second}"))
            now[0] += 0.5
            errors.ok()
        now[0] = 188.0
        errors.ok()  # not yet a minute without errors
        now[0] = 189.0
        errors.ok()  # the chain works again
        errors.ok()
        now[0] = 200.0
        errors.report(ValueError("new trouble"))
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines[0] == (
        "ERROR",
        "error while processing audio: ValueError: bad block 0 (repeats are counted and logged "
        "at most once every 60 s)",
    )
    assert lines[1:3] == [
        (
            "ERROR",
            "error while processing audio: 60 more in 60 s, the last: ValueError: bad block 60",
        ),
        (
            "ERROR",
            "error while processing audio: 60 more in 60 s, the last: ValueError: bad block 120",
        ),
    ]
    assert lines[3] == ("INFO", "processing audio works again after 9 more errors")
    assert lines[4][1].startswith("error while processing audio: ValueError: new trouble")
    assert len(lines) == 5
    assert caplog.records[0].exc_info is not None
    assert caplog.records[1].exc_info is None
