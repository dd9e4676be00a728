"""``realtime-voice satellite --doctor --config FILE``: what stands between this Pi and a working
satellite, one line per check, each problem with its fix; exit code 0 when all is well, else 1.

Each check is a function of a :class:`Context` with one job; it returns a :class:`Result`, or a
skipped one when what it needs failed before (no PortAudio: no device checks).
"""

from __future__ import annotations

import errno
import grp
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import platforms
from ..agent.audio_io import AudioDeviceError
from ..agent.config import ConfigError, SatelliteConfig, load_config
from ..agent.credentials import state_dir
from ..agent.service import SERVICE, executable
from ..wakeword import WakeWordDetector, WakeWordError
from .devices import Device, check_rate, find_device, import_sounddevice, list_devices, try_open

# A clock before this is certainly wrong (a Pi without a real-time clock starts at its last
# shutdown, or in 1970): TLS certificates are then "not yet valid".
PLAUSIBLE_SINCE = time.mktime((2025, 1, 1, 0, 0, 0, 0, 0, -1))


@dataclass(frozen=True)
class Result:
    name: str
    status: str  # OK, FAIL or SKIP
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4} {self.name}: {self.detail}"
        return f"{text} -> fix: {self.fix}" if self.fix else text


def ok(name: str, detail: str) -> Result:
    return Result(name, "OK", detail)


def fail(name: str, detail: str, fix: str) -> Result:
    return Result(name, "FAIL", detail, fix)


def skip(name: str, detail: str) -> Result:
    return Result(name, "SKIP", detail)


@dataclass
class Context:
    """What the checks look at; the defaults are this machine's."""

    config_path: Path
    snd_dir: Path = Path("/dev/snd")
    now: Callable[[], float] = time.time
    config: SatelliteConfig | None = None
    config_error: str | None = None
    sd: Any = None
    portaudio_error: str | None = None
    devices: dict[str, Device] = field(default_factory=dict)  # kind -> the configured device

    def load(self) -> None:
        try:
            self.config = load_config(self.config_path)
        except ConfigError as err:
            self.config_error = str(err)
        try:
            self.sd = import_sounddevice()
        except AudioDeviceError as err:
            self.portaudio_error = f"PortAudio could not be loaded ({err.__cause__ or err})"

    @property
    def settings(self) -> SatelliteConfig:
        """The configuration, or the defaults when it cannot be read (the devices and the port
        are still worth checking)."""
        return self.config or SatelliteConfig()


def check_python(ctx: Context) -> Result:
    version = ".".join(map(str, sys.version_info[:3]))
    machine, bits = platforms.this_machine()
    # An older Python cannot install the package (requires-python), nor run this module.
    if (why := platforms.unsupported_reason(machine, bits)) is not None:
        return fail("python", why, "reflash the SD card with 64-bit Raspberry Pi OS")
    return ok("python", f"Python {version}, {bits}-bit, {machine}")


def check_config(ctx: Context) -> Result:
    if ctx.config_error is not None:
        return fail(
            "config",
            ctx.config_error,
            f"correct it, or write a new one: {executable()} satellite --setup --config {ctx.config_path}",
        )
    ignored = "".join(f"; {line}" for line in ctx.settings.ignored)
    return ok("config", f"{ctx.config_path} (satellite {ctx.settings.name!r}){ignored}")


def check_portaudio(ctx: Context) -> Result:
    if ctx.portaudio_error is not None:
        return fail("portaudio", ctx.portaudio_error, "sudo apt install libportaudio2")
    return ok("portaudio", str(ctx.sd.get_portaudio_version()[1]))


def _configured(ctx: Context, kind: str) -> str | int | None:
    audio = ctx.settings.audio
    return audio.input_device if kind == "input" else audio.output_device


def check_device(ctx: Context, kind: str) -> Result:
    name = f"{kind} device"
    if ctx.sd is None:
        return skip(name, "no PortAudio")
    wanted = _configured(ctx, kind)
    listed = list_devices(ctx.sd, kind)
    if not listed:
        return fail(
            name,
            f"no {kind} device at all",
            f"plug in the {'microphone' if kind == 'input' else 'speaker'} or enable the sound "
            f"card (its overlay in /boot/firmware/config.txt); '{'arecord' if kind == 'input' else 'aplay'} -l' lists the cards",
        )
    try:
        device = find_device(ctx.sd, wanted, kind)
    except AudioDeviceError as err:
        there = "; ".join(f"{d.index} {d.name!r}" for d in listed)
        return fail(
            name,
            f"audio.{kind}_device: {err}; there are: {there}",
            f"set audio.{kind}_device to one of these (a part of its name is enough)",
        )
    ctx.devices[kind] = device
    return ok(name, f"{device.index} {device.name!r}")


def configured_rate(ctx: Context, kind: str, device: Device) -> int:
    """The rate the agent opens the device at: satellite.yaml's, else the device's own."""
    audio = ctx.settings.audio
    return (audio.input_rate if kind == "input" else audio.output_rate) or device.rate


def check_rate_of(ctx: Context, kind: str) -> Result:
    name = f"{kind} rate"
    device = ctx.devices.get(kind)
    if device is None:
        return skip(name, f"no {kind} device")
    rate = configured_rate(ctx, kind, device)
    if (why := check_rate(ctx.sd, device.index, kind, rate)) is not None:
        return fail(
            name,
            f"{rate} Hz on {device.name!r}: {why}",
            f"set audio.{kind}_rate to null (the device's own, {device.rate} Hz) or one it takes",
        )
    return ok(name, f"{rate} Hz, mono (the agent resamples to what it needs)")


def check_free(ctx: Context, kind: str) -> Result:
    name = f"{kind} free"
    device = ctx.devices.get(kind)
    if device is None:
        return skip(name, f"no {kind} device")
    rate = configured_rate(ctx, kind, device)
    if (why := try_open(ctx.sd, device.index, kind, rate)) is not None:
        return fail(
            name,
            f"{device.name!r} does not open: {why}",
            f"stop what holds it (if it is the satellite: sudo systemctl stop {SERVICE}, then "
            "run the doctor again)",
        )
    return ok(name, f"{device.name!r} opens")


def check_sound_permission(ctx: Context) -> Result:
    name = "sound permission"
    if not ctx.snd_dir.is_dir():
        return fail(
            name,
            f"{ctx.snd_dir} does not exist: the kernel sees no sound card",
            "plug in the USB sound card or enable the card's overlay in "
            "/boot/firmware/config.txt, then reboot",
        )
    denied = sorted(
        entry.name for entry in ctx.snd_dir.iterdir() if not os.access(entry, os.R_OK | os.W_OK)
    )
    if not denied:
        return ok(name, f"{ctx.snd_dir} is readable and writable")
    try:
        audio_gid = grp.getgrnam("audio").gr_gid
    except KeyError:
        audio_gid = None
    user = os.environ.get("USER") or str(os.getuid())
    if audio_gid is not None and audio_gid not in os.getgroups():
        fix = f"sudo usermod -aG audio {user}, then log out and in again"
    else:
        fix = f"the audio group must own {ctx.snd_dir}: ls -l {ctx.snd_dir}"
    return fail(name, f"no access to {ctx.snd_dir}/{denied[0]} (as {user})", fix)


def check_link_port(ctx: Context) -> Result:
    link = ctx.settings.link
    name = "link port"
    family = socket.AF_INET6 if ":" in link.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((link.host, link.port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return fail(
                    name,
                    f"{link.host}:{link.port} is taken by another program",
                    f"if it is the satellite's service, that is fine (sudo systemctl status "
                    f"{SERVICE}); else set link.port to a free port "
                    f"(sudo ss -tlnp 'sport = :{link.port}' shows who holds it)",
                )
            return fail(
                name,
                f"cannot listen on {link.host}:{link.port}: {err.strerror}",
                "set link.host to 0.0.0.0 or an address of this machine",
            )
    return ok(name, f"{link.host}:{link.port} is free")


def _ntp_synchronised() -> bool | None:
    """timedatectl's NTPSynchronized; None where there is no timedatectl or no answer."""
    timedatectl = shutil.which("timedatectl")
    if timedatectl is None:
        return None
    try:
        answer = subprocess.run(
            [timedatectl, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = answer.stdout.strip()
    return {"yes": True, "no": False}.get(value) if answer.returncode == 0 else None


def check_clock(ctx: Context) -> Result:
    name = "clock"
    shown = time.strftime("%Y-%m-%d %H:%M", time.localtime(ctx.now()))
    if ctx.now() < PLAUSIBLE_SINCE:
        return fail(
            name,
            f"the clock says {shown}, which is in the past: TLS certificates look not yet valid",
            "connect the Pi to the network and let it synchronise (timedatectl; "
            "sudo systemctl restart systemd-timesyncd), or set it: sudo date -s 'YYYY-MM-DD HH:MM'",
        )
    synchronised = _ntp_synchronised()
    if synchronised is False:
        return fail(
            name,
            f"{shown}, not synchronised with a time server",
            "sudo timedatectl set-ntp true; the Pi needs network access to an NTP server",
        )
    note = "synchronised" if synchronised else "synchronisation unknown (no timedatectl answer)"
    return ok(name, f"{shown}, {note}")


def check_state_dir(ctx: Context) -> Result:
    """Where the access key, the certificate and the id are kept must be writable (the first
    start makes them)."""
    name = "state directory"
    if ctx.config is None:
        return skip(name, "no valid configuration")
    directory = state_dir(ctx.config)
    existing = next((p for p in (directory, *directory.parents) if p.exists()), directory)
    if os.access(existing, os.W_OK | os.X_OK) and existing.is_dir():
        made = "" if existing == directory else f" (to be made in {existing})"
        return ok(name, f"{directory}{made}")
    return fail(
        name,
        f"{directory} is not writable for {os.environ.get('USER') or os.getuid()}",
        f"sudo install -d -o USER -m 700 {directory} (USER: the service's), or set "
        "link.state_dir to a directory of yours",
    )


def check_wake_words(ctx: Context) -> Result:
    name = "wake words"
    if ctx.config is None:
        return skip(name, "no valid configuration")
    wake = ctx.config.wake_word
    loaded: list[str] = []
    try:
        for models, engine in (
            (wake.models, wake.engine),
            (wake.stop_words, wake.stop_word_engine or wake.engine),
        ):
            if models:
                detector = WakeWordDetector(list(models), None, engine=engine)  # type: ignore[arg-type]
                loaded.extend(detector.names)
                detector.close()
    except (WakeWordError, OSError) as err:
        return fail(
            name,
            str(err),
            "use a built-in model name or an existing model file in wake_word.models / stop_words",
        )
    return ok(name, f"{wake.engine}: {', '.join(loaded)}")


def checks() -> list[Callable[[Context], Result]]:
    def per_kind(check: Callable[[Context, str], Result], kind: str) -> Callable[[Context], Result]:
        return lambda ctx: check(ctx, kind)

    return [
        check_python,
        check_config,
        check_portaudio,
        *(per_kind(check_device, kind) for kind in ("input", "output")),
        *(per_kind(check_rate_of, kind) for kind in ("input", "output")),
        *(per_kind(check_free, kind) for kind in ("input", "output")),
        check_sound_permission,
        check_link_port,
        check_clock,
        check_state_dir,
        check_wake_words,
    ]


def run_doctor(ctx: Context) -> int:
    ctx.load()
    results = []
    for check in checks():
        result = check(ctx)
        print(result.line(), flush=True)
        results.append(result)
    failed = [r for r in results if r.status == "FAIL"]
    print(f"{len(failed)} problem(s) found" if failed else "all is well")
    return 1 if failed else 0
