"""The capture figures of ``realtime-voice bench --area satellite`` (#14 item 5), on the real
agent and models: each figure beside its baseline from the same run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from realtime_voice_dev.bench import capture
from realtime_voice_dev.bench.satellite import _say
from realtime_voice_dev.corpus import espeak_available

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")


def test_capture_figures_beside_their_baselines(tmp_path: Path) -> None:
    figures = {f.name: f for f in capture.collect_from(lambda text: _say(text, tmp_path), tmp_path)}
    cpu = figures["satellite: capture CPU per audio s, wake + stop words, shared"]
    micro = figures["satellite: capture CPU per audio s, wake + stop words, shared, microWakeWord"]
    latency = figures["satellite: mic block -> decision, max, loop blocked 1 s"]
    decided = figures["satellite: mic blocks decided on, loop blocked 1 s"]
    for figure in (cpu, micro, latency, decided):
        assert figure.value > 0
        assert math.isfinite(figure.value)
        assert figure.baseline is not None
        assert figure.baseline > 0
    # a blocked loop delays the decisions by as long as it is blocked, and loses nothing
    assert latency.value > capture.BLOCKED_S * 1000 * 0.9  # the blocks captured meanwhile waited
    assert decided.value == decided.baseline == 100.0
