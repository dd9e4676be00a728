"""``realtime-voice bench`` gets the session path figures of issue #5, each named, finite, with baselines.

Figures, not a timed test: nothing here asserts a speed.
"""

from __future__ import annotations

import math
import shutil
from typing import Any

import pytest
from openai.types.realtime import RealtimeServerEvent
from pydantic import BaseModel, TypeAdapter

from realtime_voice_dev import bench as bench_cli
from realtime_voice_dev.bench import pipeline as bench

pytestmark = pytest.mark.usefixtures("socket_enabled")  # loopback only (HA's test plugin)


def _undeclared(model: Any, where: str = "") -> list[str]:
    """Keys that the openai type does not declare, anywhere in the parsed event."""
    found: list[str] = []
    if isinstance(model, BaseModel):
        found += [f"{where}.{key}" for key in model.model_extra or {}]
        for name in type(model).model_fields:
            found += _undeclared(getattr(model, name), f"{where}.{name}")
    elif isinstance(model, list):
        for index, item in enumerate(model):
            found += _undeclared(item, f"{where}[{index}]")
    return found


def test_the_bench_server_sends_valid_ga_events() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)
    examples = bench.server_event_examples()
    kinds = {event["type"] for event in examples}
    assert {
        "session.created",
        "session.updated",
        "response.created",
        "response.output_item.added",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.done",
        "conversation.item.truncated",
        "error",
    } <= kinds
    for event in examples:
        parsed = adapter.validate_python(event)
        assert parsed.type == event["type"]
        assert _undeclared(parsed, event["type"]) == []


def test_the_area_is_part_of_the_bench() -> None:
    assert ".pipeline" in bench_cli.AREAS


def test_collect_returns_named_finite_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "FIRST_AUDIO_RUNS": 2,
        "PACED_RUNS": 1,
        "WAKE_CLIPS": (("en", 175),),
        "BARGE_IN_RUNS": 2,
        "BARGE_IN_ANSWER_MS": 1500,
        "RELAY_RUNS": 10,
        "SATELLITES": 2,
        "LOAD_SECONDS": 0.5,
        "LOAD_WARMUP_S": 0.3,
    }.items():
        monkeypatch.setattr(bench, name, value)
    figures = bench.collect()
    wake = [f for f in figures if f.name.startswith("wake word during playback: ")]
    if shutil.which("espeak-ng"):
        assert len(wake) == 1
        assert wake[0].unit == "ms"
        assert wake[0].baseline is None
        assert wake[0].name.endswith("/1 detected)")
        assert "0/1" in wake[0].name or math.isfinite(wake[0].value)
    else:
        assert wake == []
    figures = [f for f in figures if f not in wake]
    names = [f.name for f in figures]
    assert len(names) == len(set(names)) == 8
    assert all(n.startswith("session (HA-free parts): ") for n in names)
    assert sum("first delta -> satellite output" in n for n in names) == 3
    assert sum("barge-in -> silence at output" in n for n in names) == 2
    assert any("barge-in -> truncate at server" in n for n in names)
    assert any("2 satellites streaming, HA-side CPU" in n for n in names)
    for figure in figures:
        assert math.isfinite(figure.value), figure
        assert figure.value >= 0
        assert figure.baseline is not None
        assert math.isfinite(figure.baseline), figure
        assert figure.unit in ("ms", "% of core")
    targets = {f.name.split(": ", 1)[1]: f.target for f in figures}
    assert targets["first delta -> satellite output p50"] == "< 60 ms"
    assert targets["barge-in -> silence at output p50"] == "< 150 ms"
    assert targets["2 satellites streaming, HA-side CPU"] == "< 20%"
