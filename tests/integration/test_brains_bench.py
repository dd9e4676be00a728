"""The brains bench (brains_bench.py) run briefly, so that a change that breaks it is caught: every
brain (Realtime, the Assist pipeline, Live and the floor) answers every conversation, alone and two
at once, and each figure is there beside its baseline."""

from __future__ import annotations

import math

import pytest
from homeassistant.core import HomeAssistant

from realtime_voice_dev.corpus import espeak_available

from .brains_bench import (  # noqa: F401 (fixtures)
    HA_VAD_SILENCE_MS,
    Plan,
    bench_providers,
    enable_event_loop_debug,
    hass_config_dir,
    measure,
)

pytestmark = pytest.mark.skipif(
    not espeak_available(), reason="espeak-ng is needed to synthesize speech"
)

# The Realtime stand-in's server VAD waits this long after the last speech frame (the Realtime
# brain's turn_detection, silence_duration_ms), the Live stand-in's turn detection as long (its
# silence_ms); HA's VAD at its default sensitivity 0.7 s.
REALTIME_VAD_SILENCE_S = 0.5
LIVE_SILENCE_S = 0.5
BRAINS = ("canned", "realtime", "pipeline", "live")


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("entities_enabled", "bench_providers")
async def test_every_brain_answers_and_every_figure_has_its_baseline(hass: HomeAssistant) -> None:
    plan = Plan(concurrent=2, seconds=2.0, concurrent_seconds=2.0, idle_seconds=0.5)
    report = await measure(hass, plan)

    assert report["errors"] == {}  # (also: no protocol violation seen by the Live stand-in)
    results = report["results"]
    assert set(results) == set(BRAINS)
    for brain in BRAINS:
        assert len(results[brain]["one"]["latencies_s"]) >= 1, brain
        assert len(results[brain]["many"]["latencies_s"]) >= 2, brain
        assert results[brain]["one"]["cpu"] > results[brain]["idle_cpu"], brain
    # "end of speech" is the last speech frame, not the end of the silence after it: a brain
    # with a voice activity detection answers after its silence at the earliest; the canned
    # brain (the floor) answers the moment it has the utterance
    for brain in ("realtime", "pipeline"):  # (HA's VAD waits longer: 0.7 s)
        assert min(results[brain]["one"]["latencies_s"]) >= REALTIME_VAD_SILENCE_S, brain
    live = results["live"]["one"]["latencies_s"] + results["live"]["many"]["latencies_s"]
    assert min(live) >= LIVE_SILENCE_S
    # the Live stand-in's own wait, in its input clock: its 500 ms of silence, then up to 80 ms
    # to where its output (100 ms deltas ahead of its clock) has got, and the audio on its way
    # (a frame or a few when HA's loop is slow: the median, not the maximum, is bounded)
    live_waits = results["live"]["one"]["vad_wait_s"] + results["live"]["many"]["vad_wait_s"]
    assert len(live_waits) == len(live)
    assert min(live_waits) >= LIVE_SILENCE_S
    assert sorted(live_waits)[len(live_waits) // 2] <= LIVE_SILENCE_S + 0.12, live_waits
    assert max(results["canned"]["one"]["latencies_s"]) < REALTIME_VAD_SILENCE_S
    # HA's VAD heard the end of the pipeline's audio (where, in that audio: after its silence)
    vad_waits = results["pipeline"]["one"]["vad_wait_s"] + results["pipeline"]["many"]["vad_wait_s"]
    assert len(vad_waits) >= 3
    assert min(vad_waits) >= HA_VAD_SILENCE_MS / 1000

    figures = report["figures"]
    names = [f["name"] for f in figures]
    assert len(names) == len(set(names)) == 25
    for brain in ("Realtime", "Assist pipeline", "Live"):
        for prefix in (
            f"brains: end of speech -> first answer audio p50, {brain}, 1 conversation",
            f"brains: end of speech -> first answer audio p95, {brain}, 1 conversation",
            f"brains: end of speech -> first answer audio p50, {brain}, 2 at once",
            f"brains: the VAD's end -> first answer audio p50, {brain}, 1 conversation",
            f"brains: HA CPU, 2 at once, {brain};",
            f"brains: HA CPU per active conversation (2 at once), {brain}",
        ):
            assert any(n.startswith(prefix) for n in names), (prefix, names)
    for figure in figures:
        assert math.isfinite(figure["value"]), figure
        assert figure["baseline"] is not None, figure
        assert math.isfinite(figure["baseline"]), figure
        if "per active" not in figure["name"] and "VAD's end" not in figure["name"]:
            # (not the differences: those may be near zero)
            assert figure["value"] > 0, figure
            assert figure["baseline"] > 0, figure
