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
        on, local, ungated, played, ducks = live.self_interruptions(
            tmp_path, loop, 20.0, cancel=True
        )
        off, local_off, _, played_off, _ = live.self_interruptions(
            tmp_path, loop, 5.0, cancel=False
        )
        ducked, _, _, played_ducked, _ = live.self_interruptions(
            tmp_path, loop, 20.0, cancel=True, duck=True
        )
        monkeypatch.setattr(room_bench, "SELF_SPEECH_S", 10.0)
        monkeypatch.setattr(live, "BASELINE_S", 3.0)
        monkeypatch.setattr(live, "USER_TRIES", 2)
        figures = live._collect(tmp_path, loop)
    finally:
        loop.close()
    assert played >= 20.0
    assert played_off >= 5.0
    assert played_ducked >= 20.0
    assert on == local == 0
    assert ducks == 0  # without duck the voice barge-in stops, it does not duck
    assert ducked == 0  # a duck is not an interruption, nor does the model stop
    assert ungated >= on
    assert off >= 3  # nearly every answer stops at once on its own echo
    assert local_off == 0  # without a canceller the satellite has no voice barge-in
    assert len(figures) == 6
    own = figures[:4]
    assert [(f.name.split(",")[2].strip(), "ducks" in f.name) for f in own] == [
        ("answers alone", False),
        ("answers alone", True),
        ("music under the answers", False),
        ("music under the answers", True),
    ]
    for figure in own:
        assert figure.name.startswith("live: self-interruptions per hour of own speech")
        assert figure.baseline is not None
        assert math.isfinite(figure.value)
        assert figure.baseline >= figure.value  # the same run without the echo gate
    for users, how in zip(
        figures[4:], ("the voice stops the answer", "the voice ducks it"), strict=True
    ):
        assert users.name.startswith(
            f"live: the user over the answer reaches the model's rule, echo gate, {how}"
        )
        assert users.baseline is not None  # the same run ungated
        assert 0 <= users.value <= 100
        assert 0 <= users.baseline <= 100
