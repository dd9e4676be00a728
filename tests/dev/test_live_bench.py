"""``realtime-voice bench --area live`` (#27): GPT-Live's interruption rule on the satellite's
full-duplex stream while its own answers play in a room, echo cancellation on beside off; on a
short run here (the bench's is minutes to an hour)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from realtime_voice_dev import bench as bench_cli
from realtime_voice_dev import corpus
from realtime_voice_dev.bench import echo as room_bench
from realtime_voice_dev.bench import live
from tests.live_standin.server import LiveStandinConfig
from tests.live_standin.testing import silence, tone


def test_the_rule_is_the_live_standins() -> None:
    config = LiveStandinConfig()
    assert (
        config.barge_in_threshold,
        config.barge_in_ms,
    ) == (live.BARGE_IN_RMS, live.BARGE_IN_MS)
    listener = live.LiveListener()
    # 180 ms of speech-level sound, in uneven pieces, is not enough; 20 ms more is
    loud = tone(180)
    assert not any(
        listener.hears_speech_over_itself(loud[i : i + 700]) for i in range(0, len(loud), 700)
    )
    assert listener.hears_speech_over_itself(tone(20))
    # silence in between starts the count again
    listener = live.LiveListener()
    assert not listener.hears_speech_over_itself(tone(100) + silence(20) + tone(180))


def test_the_area_is_part_of_the_bench() -> None:
    assert ".live" in bench_cli.AREAS


@pytest.mark.skipif(not corpus.espeak_available(), reason="espeak-ng not installed")
def test_echo_cancellation_keeps_the_model_from_hearing_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.new_event_loop()
    try:
        on, local, ungated, played = live.self_interruptions(tmp_path, loop, 20.0, cancel=True)
        off, local_off, _, played_off = live.self_interruptions(tmp_path, loop, 5.0, cancel=False)
        monkeypatch.setattr(room_bench, "SELF_SPEECH_S", 10.0)
        monkeypatch.setattr(live, "BASELINE_S", 3.0)
        monkeypatch.setattr(live, "USER_TRIES", 2)
        figures = live._collect(tmp_path, loop)
    finally:
        loop.close()
    assert played >= 20.0
    assert played_off >= 5.0
    assert on == local == 0
    assert ungated >= on
    assert off >= 3  # nearly every answer stops at once on its own echo
    assert local_off == 0  # without a canceller the satellite has no voice barge-in
    assert [f.name.split(",")[2].strip() for f in figures[:2]] == [
        "answers alone",
        "music under the answers",
    ]
    for figure in figures[:2]:
        assert figure.name.startswith("live: self-interruptions per hour of own speech")
        assert figure.baseline is not None
        assert math.isfinite(figure.value)
        assert figure.baseline >= figure.value  # the same run without the echo gate
    users = figures[2]
    assert users.name.startswith("live: the user over the answer reaches the model's rule")
    assert users.baseline is not None
    assert 0 <= users.value <= 100
    assert 0 <= users.baseline <= 100
