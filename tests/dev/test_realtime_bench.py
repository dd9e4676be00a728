"""``realtime-voice bench`` gets the realtime figures, each with the reference of the same run.

Figures, not a timed test: nothing here asserts a speed.
"""

from __future__ import annotations

import pytest

from realtime_voice_dev.bench import realtime as bench

pytestmark = pytest.mark.usefixtures("socket_enabled")  # loopback only (HA's test plugin)


def test_collect_returns_send_and_receive_percentiles_with_baselines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bench, "ROUNDS", 200)
    monkeypatch.setattr(bench, "WARMUP", 20)
    figures = bench.collect()
    names = [f.name for f in figures]
    assert len(names) == 4
    assert sum("send 20 ms frame" in n for n in names) == 2
    assert sum("audio delta" in n for n in names) == 2
    for figure in figures:
        assert figure.unit == "us"
        assert figure.baseline is not None
        assert figure.value > 0
        assert figure.baseline > 0
