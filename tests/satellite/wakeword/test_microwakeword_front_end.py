"""microWakeWord wake words and stop words on one feature front end: pymicro-features' frames are
computed once per step for both, and the detections are those of two separate detectors, also
when the stop words are given only the blocks heard while the satellite speaks. espeak-ng speech
through the real DspChain, in 20 ms blocks as the agent feeds it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from realtime_voice_dev.corpus import Clip, espeak_available
from realtime_voice_satellite.wakeword import WakeWordDetector, WakeWordError
from realtime_voice_satellite.wakeword.detector import create_front_end
from realtime_voice_satellite.wakeword.microwakeword import (
    FEATURE_STEP_SAMPLES,
    MicroWakeWordEngine,
    MicroWakeWordFrontEnd,
)

from .clips import BLOCK, RATE, clips_with_pauses, dsp_blocks

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")

WAKE = ["okay_nabu"]
STOP = ["alexa"]


@pytest.fixture(scope="module")
def blocks() -> list[np.ndarray]:
    """'okay nabu', a long pause, 'alexa', 'okay nabu', 'alexa', as the DSP chain gives them to
    the detectors. A little noise keeps the pauses from being digital silence."""
    audio = clips_with_pauses(
        1.5,
        Clip("okay nabu", "en-us", 140),
        5.0,
        Clip("alexa", "en-gb", 140),
        1.0,
        Clip("okay nabu", "en-us", 150),
        1.5,
        Clip("alexa", "en-gb", 150),
        1.0,
    )
    noise = np.random.default_rng(7).normal(0, 30, len(audio))
    return dsp_blocks(np.clip(audio + noise, -32768, 32767).astype(np.int16))


@pytest.fixture
def front_end() -> Iterator[MicroWakeWordFrontEnd]:
    front = create_front_end(WAKE + STOP, engine="microwakeword")
    assert isinstance(front, MicroWakeWordFrontEnd)
    yield front
    front.close()


def micro(models: list[str], front: MicroWakeWordFrontEnd | None = None) -> WakeWordDetector:
    return WakeWordDetector(models, engine="microwakeword", front_end=front)


def test_detections_equal_separate_detectors_and_the_features_are_computed_once(
    blocks: list[np.ndarray], front_end: MicroWakeWordFrontEnd
) -> None:
    wake, stop = micro(WAKE), micro(STOP)
    shared_wake, shared_stop = micro(WAKE, front_end), micro(STOP, front_end)
    separate: list[object] = []
    shared: list[object] = []
    for block in blocks:
        separate += wake.process(block) + stop.process(block)
        shared += shared_wake.process(block) + shared_stop.process(block)
    assert [d.model for d in separate] == ["okay_nabu", "alexa", "okay_nabu", "alexa"]  # type: ignore[attr-defined]
    assert shared == separate  # models, times and scores, bit for bit
    computed = [d._engine.feature_frames for d in (wake, stop)]  # type: ignore[attr-defined]
    samples = sum(len(b) for b in blocks)
    assert computed[0] == computed[1] == samples // FEATURE_STEP_SAMPLES - 2  # 30 ms windows
    # one feature frame per 10 ms step for both
    assert front_end.feature_frames == computed[0]
    assert front_end.blocks_fed == len(blocks)
    for detector in (wake, stop, shared_wake, shared_stop):
        detector.close()


def test_a_stop_detector_given_only_some_blocks_scores_as_if_given_all(
    blocks: list[np.ndarray], front_end: MicroWakeWordFrontEnd
) -> None:
    """The stop words run only while the satellite speaks: on those blocks their scores equal
    those of an engine that heard every block, after a pause longer than what the models
    remember (so also when the satellite starts speaking while the stop word is being said) and
    after a shorter one, and the features are still computed once."""
    shared_wake, shared_stop = micro(WAKE, front_end), micro(STOP, front_end)
    alone = MicroWakeWordEngine(STOP)
    seconds = BLOCK / RATE
    # From the middle of the first "alexa" (11.9 to 12.5 s) on, after 12.3 s not given any
    # block; then from before the second, after a pause of 1.5 s.
    speaking = [range(int(12.3 / seconds), int(14.5 / seconds))]
    speaking.append(range(int(16.0 / seconds), len(blocks)))
    expected, got, detections = [], [], []
    for i, block in enumerate(blocks):
        shared_wake.process(block)
        frames = alone.process(block)
        if any(i in span for span in speaking):
            expected += frames
            ours = shared_stop._engine.process(block)  # type: ignore[attr-defined]
            got += ours
            detections += shared_stop.detect(ours)
    assert len(expected) > 100
    assert max(f.scores[0] for f in got[:30]) > 0.9  # the first "alexa"
    assert got == expected
    assert [d.model for d in detections] == ["alexa", "alexa"]
    assert front_end.feature_frames == alone.feature_frames
    alone.close()
    shared_wake.close()
    shared_stop.close()


def test_a_front_end_reset_starts_every_engine_afresh(
    blocks: list[np.ndarray], front_end: MicroWakeWordFrontEnd
) -> None:
    """The own-voice guards' front end starts over with every answer."""
    shared = [micro(WAKE, front_end), micro(STOP, front_end)]
    half = len(blocks) // 2
    for block in blocks[:half]:
        for detector in shared:
            detector.process(block)
    front_end.reset()
    fresh = [micro(WAKE), micro(STOP)]
    for block in blocks[half:]:
        for ours, theirs in zip(shared, fresh, strict=True):
            assert ours.scores(block) == theirs.scores(block)
    for detector in (*shared, *fresh):
        detector.close()


def test_engines_and_front_ends_are_checked(front_end: MicroWakeWordFrontEnd) -> None:
    with pytest.raises(WakeWordError, match="cannot run openwakeword models"):
        WakeWordDetector(WAKE, front_end=front_end)
    with pytest.raises(WakeWordError, match="cannot run microwakeword models"):
        micro(WAKE, create_front_end(["hey_jarvis"]))  # type: ignore[arg-type]
    with pytest.raises(WakeWordError, match="unknown microWakeWord model 'nope'"):
        create_front_end(["nope"], engine="microwakeword")
