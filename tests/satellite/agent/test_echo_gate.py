"""The echo gate (agent/echo_gate.py): what the full-duplex stream sends of each block while the
satellite speaks, from the voice barge-in's judgement of its frames."""

from __future__ import annotations

import numpy as np

from realtime_voice_satellite.agent.echo_gate import EchoGate

BLOCK = 480  # 20 ms at 24 kHz


def _block(level: int = 8000) -> bytes:
    t = np.arange(BLOCK)
    return (np.sin(t * 0.1) * level).astype("<i2").tobytes()


def _peak(pcm: bytes) -> int:
    return int(np.abs(np.frombuffer(pcm, "<i2").astype(np.int32)).max())


def test_closed_until_ready_then_what_rises_above_the_echo_passes_whole() -> None:
    gate = EchoGate()
    pcm = _block()
    # not converged: attenuated however the frames were judged
    assert _peak(gate(pcm, [False, False], ready=False)) <= 8000 * 0.011
    # converged, only echo: attenuated 40 dB, the same length (the stream keeps its timing)
    out = gate(pcm, [True, True], ready=True)
    assert len(out) == len(pcm)
    assert _peak(out) <= 8000 * 0.011
    # a frame above the residual: the gate opens over this block (a ramp, no step) ...
    ramp = np.frombuffer(gate(pcm, [True, False], ready=True), "<i2")
    assert np.abs(ramp[:20]).max() < 1000 < np.abs(ramp[-40:]).max()
    # ... and the next blocks pass whole
    assert gate(pcm, [False, False], ready=True) == pcm


def test_it_holds_open_for_a_words_tail_and_keeps_its_state_without_frames() -> None:
    gate = EchoGate(hold_ms=60)
    pcm = _block()
    gate(pcm, [False], ready=True)
    gate(pcm, [False], ready=True)
    # 60 ms of echo-only frames still pass (three blocks), then it closes
    assert [gate(pcm, [True], ready=True) == pcm for _ in range(3)] == [True, True, True]
    assert _peak(gate(pcm, [True], ready=True)) < 8000  # closing: a ramp down
    assert _peak(gate(pcm, [True], ready=True)) <= 8000 * 0.011
    # a block the voice barge-in made no judgement of (the canceller held its samples): as before
    assert _peak(gate(pcm, [], ready=True)) <= 8000 * 0.011
    # a new answer starts closed
    gate.reset()
    assert _peak(gate(pcm, [], ready=True)) <= 8000 * 0.011
    assert gate.attenuated_s > 0
