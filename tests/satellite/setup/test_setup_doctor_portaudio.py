"""``--setup`` and ``--doctor`` on the real sounddevice and PortAudio, with the ALSA devices that
test_audio_io_portaudio.py makes from a JACK server's dummy card (its fixtures; skipped without
jackd): devices listed and opened by PortAudio, 2 s really recorded (the dummy card's silence,
which setup must call silence) and a tone really played."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from realtime_voice_satellite.agent.config import load_config
from realtime_voice_satellite.cli import main

from ..agent.test_audio_io_portaudio import RATE, Rig, devices, rig
from .test_doctor import write_config

__all__ = ["devices", "rig"]  # the fixtures, used by name

pytestmark = pytest.mark.timeout(60)


def test_setup_records_and_plays_on_real_devices(
    tmp_path: Path,
    devices: Rig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "satellite.yaml"
    monkeypatch.setattr(sys, "stdin", io.StringIO("satmic\nsatspk\ny\nDummy\n"))
    assert main(["satellite", "--setup", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    listed = out.split("Input devices (* the default):\n", 1)[1].split("\n\n", 1)[0]
    assert f"  satmic (1 ch, {RATE} Hz)" in listed
    assert "satspk" not in listed  # an output only
    assert "Microphone level: peak -inf dBFS, RMS -inf dBFS" in out  # the dummy card's silence
    assert "WARNING: the microphone heard nothing" in out
    loaded = load_config(config)
    assert (loaded.name, loaded.audio.input_device, loaded.audio.output_device) == (
        "Dummy",
        "satmic",
        "satspk",
    )
    assert (loaded.audio.input_rate, loaded.audio.output_rate) == (None, None)  # their own


def test_doctor_on_real_devices(
    tmp_path: Path, devices: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "audio: {input_device: satmic, output_device: satspk}\n")
    main(["satellite", "--doctor", "--config", str(config)])
    lines = {line[5:].split(":", 1)[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["input device"].startswith(
        f"OK   input device: {devices.index('satmic')} 'satmic'"
    )
    assert lines["output device"].startswith("OK   output device:")
    assert (
        lines["input rate"]
        == f"OK   input rate: {RATE} Hz, mono (the agent resamples to what it needs)"
    )
    assert lines["input free"] == "OK   input free: 'satmic' opens"
    assert lines["output free"] == "OK   output free: 'satspk' opens"
    assert lines["portaudio"].startswith("OK   portaudio: PortAudio V19")

    missing = write_config(tmp_path, "audio: {input_device: satnone, output_rate: 12345}\n")
    main(["satellite", "--doctor", "--config", str(missing)])
    lines = {line[5:].split(":", 1)[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "No input device matching 'satnone'" in lines["input device"]
    assert "'satmic'" in lines["input device"]  # what there is
    assert "Invalid sample rate [PaErrorCode -9997]" in lines["output rate"]
