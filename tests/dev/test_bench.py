"""``realtime-voice bench``: the command prints each area's figures beside the baseline measured in
the same run; the audio, satellite and wake-word idle areas on short inputs."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from realtime_voice_dev.bench import wakeword as wakeword_bench

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / ".venv" / "bin" / "realtime-voice"


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "bench", *args], capture_output=True, text=True, check=False, timeout=300
    )


def test_json_of_the_audio_and_satellite_areas() -> None:
    result = run_bench("--json", "--area", "audio", "--area", "satellite")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["machine"]["python"]
    figures = report["figures"]
    names = [f["name"] for f in figures]
    assert any(n.startswith("dsp chain per 20 ms chunk at 48 kHz, p99") for n in names), names
    assert any(n.startswith("satellite: wake detection -> first audio") for n in names), names
    assert not any("wake word" in n or "pipeline" in n for n in names), names  # areas not asked for
    assert any(n.startswith("echo: ERLE") for n in names), names
    for figure in figures:
        assert set(figure) == {"name", "value", "unit", "target", "baseline"}
        if figure["name"].startswith("echo: "):
            # echo cancellation's figures may be zero (false self-interruptions; the baseline's
            # ERLE and detections without a canceller); a latency has no baseline
            assert figure["value"] >= 0, figure
            assert math.isfinite(figure["value"]), figure
            assert figure["baseline"] is None or figure["baseline"] >= 0, figure
            continue
        assert figure["value"] > 0
        assert math.isfinite(figure["value"])
        assert figure["baseline"] is not None, figure
        assert figure["baseline"] > 0, figure


def test_table_of_one_area() -> None:
    result = run_bench("--area", "audio")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("machine: ")
    assert lines[1].split()[:2] == ["figure", "value"]
    assert len(lines) > 3
    assert all("us" in line.split() for line in lines[2:])


def test_an_unknown_area_is_named() -> None:
    result = run_bench("--area", "speakers")
    assert result.returncode == 2
    assert "invalid choice: 'speakers'" in result.stderr


def test_idle_cost_figures_beside_pyopen_wakeword_as_shipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The idle-cost figures on 2 s of audio (the bench uses 30): ours and the bare models', each
    beside pyopen-wakeword as shipped on the same audio."""
    monkeypatch.setattr(wakeword_bench, "IDLE_SECONDS", 2.0)
    figures = wakeword_bench._idle_figures(None)
    assert len(figures) == 4
    ours = [f for f in figures if "our DSP 48k + detector" in f.name]
    bare = [f for f in figures if "bare models every 80 ms" in f.name]
    assert len(ours) == 2
    assert len(bare) == 2
    for figure in figures:
        assert figure.unit == "s/s"
        assert figure.baseline is not None
        assert 0 < figure.baseline < 5
        assert 0 < figure.value < 5
