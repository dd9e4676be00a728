"""Wake words and stop words on one openWakeWord front end (#14 item 5): the mel spectrogram and
the embedding are computed once per step for both, and the detections are those of two separate
detectors. espeak-ng speech through the real DspChain, in 20 ms blocks as the agent feeds it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from realtime_voice_dev.corpus import Clip, espeak_available
from realtime_voice_satellite.wakeword import WakeWordDetector, WakeWordError
from realtime_voice_satellite.wakeword.detector import create_front_end
from realtime_voice_satellite.wakeword.openwakeword import OpenWakeWordEngine, OpenWakeWordFrontEnd

from .clips import RATE, clips_with_pauses, dsp_blocks

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")

WAKE = ["hey_jarvis"]
STOP = ["alexa"]


@pytest.fixture(scope="module")
def blocks() -> list[np.ndarray]:
    """'hey jarvis', 'alexa', 'hey jarvis' with pauses (long enough for the quiet gate), as
    the DSP chain gives them to the detectors."""
    audio = clips_with_pauses(
        1.5,
        Clip("hey jarvis", "en-us", 175),
        3.5,
        Clip("alexa", "en-us", 175),
        1.0,
        Clip("hey jarvis", "en-us", 160),
        1.0,
    )
    return dsp_blocks(audio)


@pytest.fixture
def front_end() -> Iterator[OpenWakeWordFrontEnd]:
    front = create_front_end(WAKE + STOP)
    yield front
    front.close()


def test_detections_equal_separate_detectors_and_the_front_end_runs_once(
    blocks: list[np.ndarray], front_end: OpenWakeWordFrontEnd
) -> None:
    wake, stop = WakeWordDetector(WAKE), WakeWordDetector(STOP)
    shared_wake = WakeWordDetector(WAKE, front_end=front_end)
    shared_stop = WakeWordDetector(STOP, front_end=front_end)
    separate: list[object] = []
    shared: list[object] = []
    before = {"wake": wake._engine, "stop": stop._engine}
    prefill = {name: e.embeddings_computed for name, e in before.items()}  # type: ignore[attr-defined]
    shared_prefill = front_end.embeddings_computed
    for block in blocks:
        separate += wake.process(block) + stop.process(block)
        shared += shared_wake.process(block) + shared_stop.process(block)
    assert [d.model for d in separate] == ["hey_jarvis", "alexa", "hey_jarvis"]  # type: ignore[attr-defined]
    assert shared == separate  # models, times and scores, bit for bit
    computed = {name: e.embeddings_computed - prefill[name] for name, e in before.items()}  # type: ignore[attr-defined]
    assert computed["wake"] == computed["stop"] > 0
    # one embedding per step for both (the quiet gate skips the same steps for all)
    assert front_end.embeddings_computed - shared_prefill == computed["wake"]
    assert front_end.blocks_fed == len(blocks)
    for detector in (wake, stop, shared_wake, shared_stop):
        detector.close()


def test_a_detector_given_only_some_blocks_scores_as_if_given_all(
    blocks: list[np.ndarray], front_end: OpenWakeWordFrontEnd
) -> None:
    """The stop words run only while the satellite speaks: their scores on those blocks equal
    those of a detector that heard every block, and the front end still runs once."""
    shared_wake = WakeWordDetector(WAKE, front_end=front_end)
    shared_stop = WakeWordDetector(STOP, front_end=front_end)
    alone = OpenWakeWordEngine(STOP)
    speaking = range(len(blocks) // 3, len(blocks) * 3 // 4)  # "alexa" and what is around it
    expected, got = [], []
    for i, block in enumerate(blocks):
        shared_wake.process(block)
        frames = alone.process(block)
        if i in speaking:
            expected += frames
            got += shared_stop.scores(block)
    assert len(expected) > 20
    assert got == expected
    assert max(f.scores[0] for f in got) > 0.8  # "alexa" is in there
    shared_stop.reset()  # the stop detector alone starts over; the shared front end goes on
    assert shared_wake.process(blocks[0]) == []
    alone.close()
    shared_wake.close()
    shared_stop.close()


def test_models_of_a_shared_front_end_are_checked(front_end: OpenWakeWordFrontEnd) -> None:
    with pytest.raises(WakeWordError, match=r"'okay_nabu' is not one of the shared front end's"):
        WakeWordDetector(["okay_nabu"], front_end=front_end)
    first = WakeWordDetector(WAKE, front_end=front_end)
    with pytest.raises(WakeWordError, match=r"'hey_jarvis' already has an engine"):
        WakeWordDetector(WAKE, front_end=front_end)
    first.close()
    with pytest.raises(WakeWordError, match="cannot run microwakeword models"):
        WakeWordDetector(["okay_nabu"], engine="microwakeword", front_end=front_end)


def test_microwakeword_models_share_their_features() -> None:
    """Two microWakeWord models in one engine read one feature front end: their scores equal
    those of each model alone, and the features are computed once."""
    from realtime_voice_satellite.wakeword.microwakeword import MicroWakeWordEngine

    audio = np.concatenate(
        [Clip("okay nabu", "en-us", 140).render(RATE), Clip("alexa", "en-gb", 140).render(RATE)]
    )
    both = MicroWakeWordEngine(["okay_nabu", "alexa"])
    alone = [MicroWakeWordEngine(["okay_nabu"]), MicroWakeWordEngine(["alexa"])]
    frames: dict[str, list] = {"both": [], "okay_nabu": [], "alexa": []}  # type: ignore[type-arg]
    for i in range(0, len(audio), 320):
        block = audio[i : i + 320]
        frames["both"] += both.process(block)
        frames["okay_nabu"] += alone[0].process(block)
        frames["alexa"] += alone[1].process(block)
    for index, name in enumerate(("okay_nabu", "alexa")):
        own = {f.t: f.scores[0] for f in frames[name]}
        shared = {f.t: f.scores[index] for f in frames["both"] if f.t in own}
        assert shared == own
        assert max(own.values()) > 0.5
    assert both.feature_frames == alone[0].feature_frames == alone[1].feature_frames > 0
    for engine in (both, *alone):
        engine.close()
