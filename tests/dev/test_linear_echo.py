"""The bench-only linear echo canceller (dev/realtime_voice_dev/bench/linear_echo.py, #16): it
cancels a linear echo path and keeps a talker whole."""

from __future__ import annotations

import re

import numpy as np
import pytest

from realtime_voice_dev.bench.linear_echo import FRAME, LinearEchoCanceller

RATE = 16_000


def _db(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(a.dot(a) / max(b.dot(b), 1.0)))


def test_cancels_the_echo_and_keeps_the_talker() -> None:
    rng = np.random.default_rng(0)
    n = 8 * RATE
    far = rng.standard_normal(n) * 3000
    path = np.zeros(round(0.2 * RATE))
    path[1600], path[1700], path[2400] = 0.5, -0.2, 0.1  # 100 ms late, two reflections
    echo = np.convolve(far, path)[:n]
    talker = np.zeros(n)
    talker[5 * RATE : 6 * RATE] = rng.standard_normal(RATE) * 1000
    canceller = LinearEchoCanceller()
    out = canceller((echo + talker).astype(np.int16), far.astype(np.int16)).astype(np.float64)
    late = slice(3 * RATE, 5 * RATE)
    assert _db(echo[late], out[late]) > 25  # ERLE
    talk = slice(5 * RATE, 6 * RATE)
    assert abs(_db(out[talk], talker[talk])) < 2  # the talker neither removed nor doubled
    after = slice(6 * RATE + RATE // 2, n)
    assert _db(echo[after], out[after]) > 15  # the double-talk guard kept the filter


def test_a_remainder_passes_unchanged() -> None:
    canceller = LinearEchoCanceller(tail_s=0.1)
    mic = np.arange(FRAME + 7, dtype=np.int16)
    out = canceller(mic, np.zeros(FRAME + 7, dtype=np.int16))
    assert len(out) == FRAME + 7
    np.testing.assert_array_equal(out[FRAME:], mic[FRAME:])
    np.testing.assert_array_equal(out[:FRAME], mic[:FRAME])  # silence in the reference: no echo


def test_the_comparison_prints_the_linear_figures_beside_aec3s(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``python -m realtime_voice_dev.bench.linear_compare``, shortened: both detectors' figures
    from the same run."""
    from realtime_voice_dev.bench import linear_compare

    linear_compare.main(20.0, 2, 99.9, 1)
    out = capsys.readouterr().out
    for name in ("AEC3 (baseline)", "linear"):
        found = re.search(
            rf"^{re.escape(name)}: detected (\d+) %, silence within 400 ms", out, re.M
        )
        assert found, out
        cpu = re.search(
            rf"^{re.escape(name)}: false self-interruptions \d+ in (\d+) s .* "
            r"CPU while speaking ([\d.]+) ms/s",
            out,
            re.M,
        )
        assert cpu, out
        assert int(cpu[1]) >= 20
        assert float(cpu[2]) > 0
