"""``realtime-voice satellite --setup``: the guided first start, through the console script's main()
with answers on stdin, real files and the agent's own loader; the sound cards are the stand-in
``sounddevice`` (fake_sounddevice.py), which answers as the real one does."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from realtime_voice_satellite.agent.config import load_config
from realtime_voice_satellite.agent.credentials import ACCESS_KEY_FILE, write_access_key
from realtime_voice_satellite.cli import main

from ..agent import fake_sounddevice as fake
from ..harness import KEY
from .test_doctor import portaudio_unfindable, without_portaudio

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def pa(monkeypatch: pytest.MonkeyPatch) -> fake.FakePortAudio:
    portaudio = fake.usb_headset_and_hdmi()
    monkeypatch.setitem(sys.modules, "sounddevice", fake.module(portaudio))
    return portaudio


def setup(monkeypatch: pytest.MonkeyPatch, config: Path, answers: list[str], *flags: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{a}\n" for a in answers)))
    return main(["satellite", "--setup", "--config", str(config), *flags])


def test_interactive_setup_writes_a_config_the_agent_loads_and_shows_the_key(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    config = tmp_path / "etc" / "satellite.yaml"
    state = tmp_path / "state"
    # microphone: "usb" (a part of the name), speaker: 0 (HDMI), the tone: heard, the name
    code = setup(monkeypatch, config, ["usb", "0", "y", "Kitchen"], "--state-dir", str(state))
    out = capsys.readouterr().out
    assert code == 0, out
    assert (
        "Input devices (* the default):\n    1  USB PnP Sound Device: Audio (hw:1,0) (1 ch, 48000 Hz)"
        in out
    )
    assert "*   3  default (32 ch, 44100 Hz)" in out
    assert "vc4-hdmi" not in out.split("Input devices")[1].split("Output devices")[0]
    assert "Using input device 1: USB PnP Sound Device: Audio (hw:1,0)" in out
    assert "Using output device 0: vc4-hdmi-0: MAI PCM i2s-hifi-0 (hw:0,0)" in out
    assert "Microphone level: peak -" in out
    assert "WARNING" not in out

    loaded = load_config(config)  # the agent's loader
    assert loaded.name == "Kitchen"
    assert loaded.audio.input_device == "USB PnP Sound Device: Audio (hw:1,0)"
    assert loaded.audio.output_device == "vc4-hdmi-0: MAI PCM i2s-hifi-0 (hw:0,0)"
    assert (loaded.audio.input_rate, loaded.audio.output_rate) == (None, None)  # their own
    assert loaded.link.state_dir == state
    assert config.stat().st_mode & 0o777 == 0o640

    # no key is made: the satellite pairs by a spoken code (issue #25)
    assert not (state / ACCESS_KEY_FILE).exists()
    assert "the satellite speaks a 6-digit code to type there" in out
    assert "realtime-voice satellite --doctor --config" in out
    assert "sudo systemctl restart realtime-voice-satellite" in out
    assert "Settings > Devices & services" in out
    assert "port 10800" in out

    # what was recorded and played: the chosen devices, at their rates
    assert pa.recorded == [{"device": 1, "rate": 48000, "frames": 96000}]
    (played,) = pa.played
    assert (played["device"], played["rate"]) == (0, 48000)
    assert -13 < 20 * math.log10(abs(played["data"]).max() / 32768) < -11


def test_flags_answer_everything_and_a_second_run_shows_a_key_made_since(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("STATE_DIRECTORY")  # not under systemd: the config's directory
    config = tmp_path / "satellite.yaml"
    flags = ("--input-device", "USB", "--output-device", "USB", "--name", "Hall")
    assert setup(monkeypatch, config, [], *flags) == 0  # stdin at its end: the tone "heard"
    first = capsys.readouterr().out
    assert "speaks a 6-digit code" in first
    # typed into HA for a satellite without a speaker; the state dir is the config's
    key = write_access_key(tmp_path)
    assert setup(monkeypatch, config, [], *flags, "--overwrite") == 0
    second = capsys.readouterr().out
    assert "The access key for satellite 'Hall'" in second
    assert f"    {key}\n" in second
    assert load_config(config).audio.output_device == "USB PnP Sound Device: Audio (hw:1,0)"


def test_the_services_state_directory_is_used_when_it_is_there(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """install-satellite --service made /var/lib/realtime-voice for the user: the config names it,
    so that a key made there (pairing, --new-access-key) is where the service (StateDirectory=)
    looks, not next to the config."""
    from realtime_voice_satellite.setup import guided as setup_module

    monkeypatch.delenv("STATE_DIRECTORY")
    service_state = tmp_path / "var-lib-realtime-voice"
    service_state.mkdir()
    monkeypatch.setattr(setup_module, "SERVICE_STATE_DIR", service_state)
    config = tmp_path / "etc" / "satellite.yaml"
    assert setup(monkeypatch, config, ["", "", "", ""]) == 0
    assert "type the code the satellite speaks" in capsys.readouterr().out
    assert load_config(config).link.state_dir == service_state
    assert not (config.parent / ACCESS_KEY_FILE).exists()


def test_an_existing_config_is_kept_unless_the_answer_is_yes(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "satellite.yaml"
    original = f"name: Old\nlink: {{port: 10900, access_key: {KEY}}}\naudio: {{volume: 0.5}}\n"
    config.write_text(original)
    for answers in ([], ["n"]):  # no answer (stdin at its end), then a no
        assert setup(monkeypatch, config, answers) == 1
        assert f"{config} is left as it is." in capsys.readouterr().out
        assert config.read_text() == original

    assert setup(monkeypatch, config, ["maybe", "y", "", "", "", ""]) == 0
    out = capsys.readouterr().out
    assert "Please answer y or n." in out
    loaded = load_config(config)
    assert loaded.name == "Old"  # the default offered was the file's
    assert (loaded.link.port, loaded.link.access_key, loaded.audio.volume) == (10900, KEY, 0.5)
    assert loaded.audio.input_device == "default"
    assert f"The access key is the one in {config} (link.access_key)." in out
    assert KEY not in out
    assert not (tmp_path / ACCESS_KEY_FILE).exists()


@pytest.mark.parametrize(
    ("heard", "warning"),
    [
        ("silence", "the microphone heard nothing (peak -inf dBFS)"),
        ("clipping", "the microphone clips (peak at full scale)"),
    ],
)
def test_a_microphone_that_hears_nothing_or_clips_is_warned_about(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    *,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    heard: str,
    warning: str,
) -> None:
    pa.devices[1].heard = heard
    code = setup(monkeypatch, tmp_path / "s.yaml", ["1", "1", "y", ""])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count(f"WARNING: {warning}") == 2  # at the test and again at the end
    assert "alsamixer" in out


def test_a_tone_not_heard_is_warned_about(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert setup(monkeypatch, tmp_path / "s.yaml", ["", "", "n", ""]) == 0
    out = capsys.readouterr().out
    assert "Did you hear the tone? [Y/n]" in out
    assert out.count("WARNING: the tone was not heard: check the speaker's cable and power") == 2


def test_a_device_that_does_not_take_its_own_rate_gets_one_it_takes(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pa.devices[1].rates = (16000,)  # says 48 kHz, opens at 16 kHz only
    config = tmp_path / "s.yaml"
    assert setup(monkeypatch, config, ["1", "1", "y", ""]) == 0
    loaded = load_config(config)
    assert (loaded.audio.input_rate, loaded.audio.output_rate) == (16000, 16000)
    assert pa.recorded[0]["rate"] == 16000

    pa.devices[1].rates = (8000,)  # none of the rates tried
    assert setup(monkeypatch, config, ["1", "1"], "--overwrite") == 1
    out = capsys.readouterr().out
    assert (
        "realtime-voice satellite --setup: input device 'USB PnP Sound Device: Audio (hw:1,0)' "
        "opens at none of 48000, 44100, 32000, 16000 Hz mono (Invalid sample rate "
        "[PaErrorCode -9997]: the device does not take this sample rate" in out
    )


def test_a_busy_microphone_is_named_with_the_fix(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pa.devices[1].busy = True
    assert setup(monkeypatch, tmp_path / "s.yaml", ["1", "0", "y", ""]) == 0
    out = capsys.readouterr().out
    assert (
        "WARNING: the microphone could not record: Error opening InputStream: Device unavailable "
        "[PaErrorCode -9985]: the device is busy: another program holds it" in out
    )
    pa.devices[1].busy = False
    pa.devices[0].busy = True
    assert setup(monkeypatch, tmp_path / "s.yaml", ["1", "0", ""], "--overwrite") == 0
    out = capsys.readouterr().out
    assert (
        "WARNING: the speaker could not play: Error opening OutputStream: Device unavailable" in out
    )


def test_a_wrong_device_is_asked_again_or_named(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "s.yaml"
    assert setup(monkeypatch, config, ["ReSpeaker", "7", "1", "", "y", ""]) == 0
    out = capsys.readouterr().out
    assert (
        "no input device 'ReSpeaker' (No input device matching 'ReSpeaker'); give a number" in out
    )
    assert "no input device 7 (Error querying device 7)" in out
    assert "Using input device 1" in out

    config.unlink()
    assert setup(monkeypatch, config, [], "--output-device", "ReSpeaker") == 1
    out = capsys.readouterr().out
    assert "--output-device 'ReSpeaker': no output device 'ReSpeaker'" in out
    assert not config.exists()


def test_no_default_device_and_no_answer_gives_up_saying_what_to_give(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pa.default_input = -1  # PortAudio has no default input device
    assert setup(monkeypatch, tmp_path / "s.yaml", []) == 1
    out = capsys.readouterr().out
    assert out.count("no default input device (Error querying device -1); give a number") == 5
    assert out.strip().endswith("no input device chosen; give one with --input-device")
    assert not (tmp_path / "s.yaml").exists()


def test_no_microphone_stops_the_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    speakers = fake.FakePortAudio([fake.FakeDevice("HDMI", outputs=2)], default_output=0)
    monkeypatch.setitem(sys.modules, "sounddevice", fake.module(speakers))
    assert setup(monkeypatch, tmp_path / "s.yaml", []) == 1
    assert "there is no input device: plug in the microphone" in capsys.readouterr().out
    assert not (tmp_path / "s.yaml").exists()


def test_a_config_that_cannot_be_written_is_named(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert setup(monkeypatch, blocker / "s.yaml", ["", "", "", ""]) == 1
    assert f"cannot write {blocker / 's.yaml'}" in capsys.readouterr().out


def test_kept_keys_that_are_invalid_are_reported_and_nothing_is_written(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "s.yaml"
    config.write_text("name: x\nlink: {port: 99999}\n")
    assert setup(monkeypatch, config, ["", "", "", ""], "--overwrite") == 1
    assert "link.port: expected an integer from 1 to 65535, got 99999" in capsys.readouterr().out
    assert yaml.safe_load(config.read_text()) == {"name": "x", "link": {"port": 99999}}


@pytest.mark.skipif(portaudio_unfindable() is None, reason="needs root and unshare")
def test_without_portaudio_the_setup_says_install_it(tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        [
            *without_portaudio(tmp_path),
            sys.executable,
            "-m",
            "realtime_voice_satellite.cli",
            "satellite",
            "--setup",
            "--config",
            str(tmp_path / "s.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=120,
        env={"PATH": str(tmp_path), "PYTHONPATH": ":".join(sys.path)},
    )
    assert result.returncode == 1
    assert result.stdout.strip() == (
        "realtime-voice satellite --setup: sound devices need PortAudio, which could not be "
        "loaded (PortAudio library not found); install it: sudo apt install libportaudio2"
    )


def test_a_name_two_devices_answer_to_is_written_as_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two identical USB microphones: the name would open the first, so the index is kept."""
    twins = fake.FakePortAudio(
        [
            fake.FakeDevice("USB PnP Sound Device: Audio (hw:1,0)", inputs=1),
            fake.FakeDevice("USB PnP Sound Device: Audio (hw:1,0)", inputs=1, outputs=2),
        ],
        default_input=0,
        default_output=1,
    )
    monkeypatch.setitem(sys.modules, "sounddevice", fake.module(twins))
    config = tmp_path / "s.yaml"
    config.write_text("name: [unclosed\n")  # not YAML: replaced whole
    assert setup(monkeypatch, config, ["y", "1", "", "", "Den"]) == 0
    loaded = load_config(config)
    assert (loaded.name, loaded.audio.input_device) == ("Den", 1)
    assert loaded.audio.output_device == "USB PnP Sound Device: Audio (hw:1,0)"  # the only output


def test_setup_answers_without_setup_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "s.yaml"
    assert main(["satellite", "--config", str(config), "--input-device", "USB", "--overwrite"]) == 2
    assert capsys.readouterr().err == (
        "realtime-voice satellite: --input-device, --overwrite go with --setup\n"
    )
    assert not config.exists()


def test_next_steps_name_the_command_with_its_full_path_and_the_integrations_name(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The virtual environment's bin is not on PATH: a bare 'realtime-voice' is 'command not found'."""
    config = tmp_path / "satellite.yaml"
    assert setup(monkeypatch, config, ["", "", "", "Hall"]) == 0
    steps = capsys.readouterr().out.split("Next steps:", 1)[1]
    command = Path(sys.executable).parent / "realtime-voice"  # this virtual environment's
    assert command.is_file()
    assert f"  1. Check everything:  {command} satellite --doctor --config {config}\n" in steps
    assert f"(or run it here:   {command} satellite --config {config})" in steps
    assert " realtime-voice satellite" not in steps  # no bare command left
    manifest = json.loads((ROOT / "custom_components/realtime_voice/manifest.json").read_text())
    assert f"Add integration > {manifest['name']} with this Pi's address" in steps


def unit_for(user: str) -> str:
    """The unit as scripts/install-satellite --service writes it for USER."""
    unit = (ROOT / "scripts" / "realtime-voice-satellite.service").read_text()
    return re.sub(r"^User=.*$", f"User={user}", unit, flags=re.M)


@pytest.mark.parametrize("how", ["installed unit", "sudo"])
def test_setup_run_as_root_for_a_service_user_refuses_naming_the_command(
    how: str,
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With sudo the config (0640) and the key (0600) would be root's: the service, which runs as
    the unit's user, could not read them and would exit 2 without a restart."""
    from realtime_voice_satellite.agent import service

    if how == "installed unit":
        unit = tmp_path / "realtime-voice-satellite.service"
        unit.write_text(unit_for("pi"))
        monkeypatch.setattr(service, "UNIT_FILE", unit)
    else:
        monkeypatch.setenv("SUDO_USER", "pi")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    config = tmp_path / "etc" / "satellite.yaml"
    state = tmp_path / "state"
    assert setup(monkeypatch, config, ["", "", "", ""], "--state-dir", str(state)) == 1
    out = capsys.readouterr().out
    command = Path(sys.executable).parent / "realtime-voice"
    assert out == (
        f"realtime-voice satellite --setup: do not run it as root (sudo): {config} and the access "
        "key would belong to root, and the service runs as 'pi', which could not read them. Run "
        f"it as pi instead:\n    sudo -u pi {command} satellite --setup --config {config}\n"
    )
    assert not config.parent.exists()
    assert not state.exists()
    assert pa.recorded == []


def test_setup_as_root_without_a_service_user_or_sudo_goes_on(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Root's own satellite (root logged in, no service installed): the files are root's, and so
    is the agent that reads them. The same for a unit that runs as root."""
    from realtime_voice_satellite.agent import service

    unit = tmp_path / "realtime-voice-satellite.service"
    unit.write_text(unit_for("root"))
    monkeypatch.setattr(service, "UNIT_FILE", unit)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert setup(monkeypatch, tmp_path / "satellite.yaml", ["", "", "", ""]) == 0
    assert "Wrote" in capsys.readouterr().out


def test_a_retired_key_of_the_file_being_replaced_is_left_out_saying_so(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "satellite.yaml"
    config.write_text("name: Old\nconversation: {follow_up_s: 5.0, chime: false}\n")
    assert setup(monkeypatch, config, ["y", "", "", "", ""]) == 0
    out = capsys.readouterr().out
    assert "conversation.follow_up_s is left out (it is no longer read): Home Assistant" in out
    assert "follow_up_s" not in config.read_text()
    loaded = load_config(config)
    assert (loaded.ignored, loaded.conversation.chime) == ((), False)  # the rest is kept
