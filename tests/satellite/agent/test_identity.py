"""The satellite's id (Home Assistant's unique id for its device) survives what Pi owners do (issue
#14 item 4): a generated id stored on first start in the state directory, so another port in
satellite.yaml is the same device, and two Pis from one cloned SD card (same machine-id, same state
directory) do not collide: the clone notices other hardware and makes its own id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realtime_voice_satellite.agent.config import ConfigError, with_overrides
from realtime_voice_satellite.agent.credentials import link_certificate
from realtime_voice_satellite.agent.identity import (
    ID_FILE,
    Hardware,
    legacy_satellite_id,
    read_hardware,
    satellite_id,
)

from ..harness import config

PI_A = Hardware(serial="10000000a1b2c3d4", macs=frozenset({"dc:a6:32:00:00:01"}))
PI_B = Hardware(serial="10000000e5f60718", macs=frozenset({"dc:a6:32:00:00:02"}))


def machine_id_file(tmp_path: Path, value: str = "0123456789abcdef0123456789abcdef") -> Path:
    path = tmp_path / "machine-id"
    path.write_text(value + "\n")
    return path


def test_the_id_is_made_once_and_kept_when_the_port_changes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = satellite_id(state, 10800, hardware=PI_A)
    assert len(first) == 16
    assert int(first, 16) >= 0
    assert satellite_id(state, 10800, hardware=PI_A) == first
    assert satellite_id(state, 10801, hardware=PI_A) == first  # another port: the same device
    stored = json.loads((state / ID_FILE).read_text())
    assert stored["id"] == first
    assert (state / ID_FILE).stat().st_mode & 0o777 == 0o600


def test_two_new_satellites_on_one_machine_id_do_not_collide(tmp_path: Path) -> None:
    """Not a hash of machine-id and port: two fresh Pis from one image, same machine-id, port."""
    machine = machine_id_file(tmp_path)
    one = satellite_id(tmp_path / "one", 10800, hardware=PI_A, machine_id_files=(machine,))
    two = satellite_id(tmp_path / "two", 10800, hardware=PI_A, machine_id_files=(machine,))
    assert one != two


def test_a_cloned_sd_card_gets_its_own_id_and_the_original_keeps_its_own(tmp_path: Path) -> None:
    original = tmp_path / "original"
    first = satellite_id(original, 10800, hardware=PI_A)
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ID_FILE).write_bytes((original / ID_FILE).read_bytes())  # the card, copied
    cloned = satellite_id(clone, 10800, hardware=PI_B)
    assert cloned != first
    assert satellite_id(clone, 10800, hardware=PI_B) == cloned  # and keeps it
    assert satellite_id(original, 10800, hardware=PI_A) == first


def test_the_same_pi_with_another_network_adapter_keeps_its_id(tmp_path: Path) -> None:
    """Without a serial number (not a Pi) the network adapters decide: one of them still there is
    the same machine (a USB adapter added or removed), none is a clone."""
    state = tmp_path / "state"
    pc = Hardware(serial=None, macs=frozenset({"00:11:22:33:44:55"}))
    first = satellite_id(state, 10800, hardware=pc)
    more = Hardware(serial=None, macs=frozenset({"00:11:22:33:44:55", "7c:10:c9:00:00:09"}))
    assert satellite_id(state, 10800, hardware=more) == first
    other = Hardware(serial=None, macs=frozenset({"00:aa:bb:cc:dd:ee"}))
    assert satellite_id(state, 10800, hardware=other) != first
    unknown = Hardware(serial=None, macs=frozenset())
    assert satellite_id(state, 10800, hardware=unknown) == satellite_id(
        state, 10800, hardware=unknown
    )


def test_a_satellite_that_ran_before_keeps_the_id_its_device_has_in_home_assistant(
    tmp_path: Path,
) -> None:
    """Updating: a state directory with the link's certificate but no stored id is a satellite
    that ran with the id derived from machine-id and port; it keeps that id (then stored)."""
    machine = machine_id_file(tmp_path)
    state = tmp_path / "state"
    link_certificate(with_overrides(config(), link={"state_dir": state}))
    legacy = legacy_satellite_id(10800, (machine,))
    assert satellite_id(state, 10800, hardware=PI_A, machine_id_files=(machine,)) == legacy
    assert satellite_id(state, 10801, hardware=PI_A, machine_id_files=(machine,)) == legacy


def test_a_damaged_id_file_is_named_with_the_fix(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / ID_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match=rf"{ID_FILE}.*delete it"):
        satellite_id(state, 10800, hardware=PI_A)


def test_a_state_directory_it_cannot_write_is_named(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(ConfigError, match=r"link\.state_dir"):
        satellite_id(blocked / "state", 10800, hardware=PI_A)


def test_the_hardware_is_read_from_sysfs(tmp_path: Path) -> None:
    """A Pi's serial number from the device tree; the addresses of physical network adapters
    (those with a device), not of loopback, bridges or containers' virtual ones."""
    (tmp_path / "sys/firmware/devicetree/base").mkdir(parents=True)
    (tmp_path / "sys/firmware/devicetree/base/serial-number").write_bytes(b"10000000a1b2c3d4\x00")
    for name, mac, physical in (
        ("eth0", "dc:a6:32:00:00:01", True),
        ("wlan0", "dc:a6:32:00:00:02", True),
        ("lo", "00:00:00:00:00:00", False),
        ("docker0", "02:42:ac:11:00:02", False),
    ):
        adapter = tmp_path / "sys/class/net" / name
        adapter.mkdir(parents=True)
        (adapter / "address").write_text(mac + "\n")
        if physical:
            (adapter / "device").mkdir()
    assert read_hardware(tmp_path) == Hardware(
        "10000000a1b2c3d4", frozenset({"dc:a6:32:00:00:01", "dc:a6:32:00:00:02"})
    )
    assert read_hardware(tmp_path / "nothing") == Hardware(None, frozenset())
