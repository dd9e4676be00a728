"""A satellite's stable id: Home Assistant's unique id for its device.

Generated on first start and stored in the state directory (``link.state_dir``) with what identifies
the hardware, so that it stays the same across restarts, renames and another ``link.port``, and two
Pis from one cloned SD card (same machine-id, same state directory) do not share it: when the stored
hardware is not this machine's, the clone makes an id of its own. The hardware is a Pi's serial
number, else the addresses of the physical network adapters (one of them still present: the same
machine). A satellite that ran before ids were stored (its state directory has the link's
certificate) keeps the id it had, derived from the machine id and the port, so that its Home
Assistant device stays the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from .certificate import CERT_FILE
from .config import ConfigError

_LOGGER = logging.getLogger(__name__)

ID_FILE = "satellite_id.json"
MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))


@dataclass(frozen=True, slots=True)
class Hardware:
    serial: str | None  # a Raspberry Pi's serial number
    macs: frozenset[str]  # addresses of the physical network adapters

    def is_same_machine_as(self, stored: Hardware) -> bool:
        if self.serial and stored.serial:
            return self.serial == stored.serial
        if self.macs and stored.macs:
            return bool(self.macs & stored.macs)
        return True  # nothing to tell them apart by: keep the id


def read_hardware(root: Path = Path("/")) -> Hardware:
    """This machine's hardware as sysfs (under ``root``) shows it."""
    try:
        raw = (root / "sys/firmware/devicetree/base/serial-number").read_bytes()
        serial = raw.rstrip(b"\x00\n").decode("ascii", "replace").strip() or None
    except OSError:
        serial = None
    macs = set()
    net = root / "sys/class/net"
    adapters = sorted(net.iterdir()) if net.is_dir() else []
    for adapter in adapters:
        if not (adapter / "device").exists():  # loopback, bridges, veth, tunnels
            continue
        try:
            mac = (adapter / "address").read_text().strip().lower()
        except OSError:
            continue
        if mac and mac != "00:00:00:00:00:00":
            macs.add(mac)
    return Hardware(serial, frozenset(macs))


def machine_id(files: tuple[Path, ...] = MACHINE_ID_FILES) -> str:
    for path in files:
        try:
            value = path.read_text().strip()
        except OSError:
            continue
        if value:
            return value
    return socket.gethostname()


def legacy_satellite_id(port: int, files: tuple[Path, ...] = MACHINE_ID_FILES) -> str:
    """The id satellites had before it was stored: a hash of the machine id and the port."""
    digest = hashlib.sha256(f"realtime-voice:{machine_id(files)}:{port}".encode()).hexdigest()
    return digest[:16]


def satellite_id(
    directory: Path,
    port: int,
    *,
    hardware: Hardware | None = None,
    machine_id_files: tuple[Path, ...] = MACHINE_ID_FILES,
) -> str:
    """The id stored in ``directory``; made (and stored) there first if there is none yet, or if
    the one there was made on other hardware (a cloned SD card)."""
    hardware = hardware if hardware is not None else read_hardware()
    path = directory / ID_FILE
    stored = _read(path)
    if stored is not None:
        stored_id, stored_hardware = stored
        if hardware.is_same_machine_as(stored_hardware):
            return stored_id
        new_id = secrets.token_hex(8)
        _LOGGER.warning(
            "%s was made on other hardware (a copy of another satellite's SD card?): this "
            "satellite is a new device for Home Assistant, id %s",
            path,
            new_id,
        )
    elif (directory / CERT_FILE).exists():
        new_id = legacy_satellite_id(port, machine_id_files)  # ran before ids were stored
    else:
        new_id = secrets.token_hex(8)
    _write(path, new_id, hardware)
    return new_id


def _read(path: Path) -> tuple[str, Hardware] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        satellite = data["id"]
        hardware = Hardware(data.get("serial"), frozenset(data.get("macs", [])))
        if not isinstance(satellite, str) or not satellite:
            raise ValueError("no id")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ConfigError(
            f"{path}: cannot read the satellite's id: {err.strerror} "
            "(set link.state_dir to a directory the satellite may write)"
        ) from None
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(
            f"{path}: damaged ({err}); delete it to make a new id (Home Assistant then sees a new "
            "device), or restore it from a backup"
        ) from None
    return satellite, hardware


def _write(path: Path, satellite: str, hardware: Hardware) -> None:
    data = {"id": satellite, "serial": hardware.serial, "macs": sorted(hardware.macs)}
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(data, out)
            out.write("\n")
        partial.replace(path)
    except OSError as err:
        raise ConfigError(
            f"{path}: cannot store the satellite's id: {err.strerror} "
            "(set link.state_dir to a directory the satellite may write)"
        ) from None
