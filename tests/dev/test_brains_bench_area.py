"""``realtime-voice bench --area brains`` starts the brains bench in HA's test environment and gets
its figures back (briefly here; tests/integration/test_brains_bench.py checks the measurement)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest

from realtime_voice_dev import bench as bench_cli
from realtime_voice_dev.bench import brains

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not (ROOT / ".cache" / "ha" / "mode").exists(),
    reason="no Home Assistant environment (scripts/setup builds it)",
)


@pytest.mark.timeout(400)
def test_the_brains_area_gets_its_figures_from_ha(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        brains,
        "PLAN",
        {"concurrent": 1, "seconds": 1.0, "concurrent_seconds": 1.0, "idle_seconds": 0.2},
    )
    figures = bench_cli.collect((".brains",))

    names = [f.name for f in figures]
    for prefix in (
        "brains: end of speech -> first answer audio p50, Realtime",
        "brains: HA CPU, 1 at once, Assist pipeline",
        # Live (GPT-Live's stand-in) beside them, in the same run
        "brains: end of speech -> first answer audio p50, Live, 1 conversation",
        "brains: the VAD's end -> first answer audio p50, Live",
        "brains: HA CPU per active conversation (1 at once), Live",
    ):
        assert any(n.startswith(prefix) for n in names), (prefix, names)
    for figure in figures:
        assert figure.unit in ("ms", "% of core"), figure
        assert figure.baseline is not None, figure
        assert math.isfinite(figure.value), figure


@pytest.mark.parametrize(
    ("plan", "error"),
    [
        ({"satellites": 3}, r"unknown keys \['satellites'\]"),
        ({"concurrent": 2.5}, r"concurrent must be a positive int: 2\.5"),
    ],
)
def test_a_bad_plan_is_named(
    monkeypatch: pytest.MonkeyPatch, plan: dict[str, object], error: str
) -> None:
    """The run fails with HA's side naming the bad key or value."""
    monkeypatch.setattr(brains, "PLAN", plan)
    with pytest.raises(brains.BrainsBenchError, match=error):
        brains.collect()


def test_the_area_is_offered_by_the_command() -> None:
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "realtime-voice"), "bench", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "brains" in result.stdout
