"""AEC3's output against a linear canceller's (:mod:`.linear_echo`) as what voice barge-in hears,
in the same run: ``python -m realtime_voice_dev.bench.linear_compare [self-speech s]``."""

from __future__ import annotations

import asyncio
import functools
import sys
import tempfile
from pathlib import Path

import numpy as np

from realtime_voice_satellite.agent.voice import VoiceBargeIn

from . import echo


def _detector(linear: bool, percentile: float) -> None:
    """The linear run's voice detector learns the residual at ``percentile``; AEC3's as shipped."""
    made = functools.partial(VoiceBargeIn, residual_percentile=percentile)
    setattr(echo, "VoiceBargeIn", made if linear else VoiceBargeIn)  # noqa: B010 (a patch)


def main(
    self_speech_s: float = 600.0,
    interruptions: int = echo.INTERRUPTIONS,
    percentile: float = 99.9,
    warm: int = 1,
) -> None:
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        answers = [echo._say(text, voice, directory, echo.OUT_RATE) for voice, text in echo.ANSWERS]
        users = [echo._say(text, voice, directory, echo.RATE) for voice, text in echo.USERS]
        for linear in (False, True):
            name = "linear" if linear else "AEC3 (baseline)"
            _detector(linear, percentile)
            share, latencies = echo.barge_ins(
                answers,
                users,
                loop,
                cancel=True,
                interruptions=interruptions,
                linear=linear,
                warm=warm,
            )
            within = sum(lat <= 400 for lat in latencies) / interruptions * 100
            p50, p95 = (
                np.percentile(latencies, q) if latencies else float("nan") for q in (50, 95)
            )
            print(
                f"{name}: detected {share:.0f} %, silence within 400 ms {within:.0f} %, "
                f"p50 {p50:.0f} ms, p95 {p95:.0f} ms",
                flush=True,
            )
        for linear in (False, True):
            name = "linear" if linear else "AEC3 (baseline)"
            echo.FALSE_AT.clear()
            _detector(linear, percentile)
            false, seconds, cpu = echo.self_interruptions(
                directory, loop, self_speech_s, cancel=True, linear=linear
            )
            print(
                f"{name}: false self-interruptions {false} in {seconds:.0f} s "
                f"({false * 3600 / seconds:.1f}/h), CPU while speaking {cpu * 1000:.1f} ms/s, "
                f"at {echo.FALSE_AT[:10]}",
                flush=True,
            )
    loop.close()
    _detector(False, percentile)  # the bench's own again, for whatever runs next in this process


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        float(args[0]) if args else 600.0,
        int(args[1]) if len(args) > 1 else echo.INTERRUPTIONS,
        float(args[2]) if len(args) > 2 else 99.9,
        int(args[3]) if len(args) > 3 else 1,
    )
