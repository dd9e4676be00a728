"""``realtime-voice satellite --setup --config FILE``: the guided first start.

Lists the sound devices and lets the owner pick (or takes ``--input-device``/``--output-device``),
finds a rate each device opens at, records 2 s and reports the microphone's level, plays a tone and
asks whether it was heard, writes satellite.yaml (an existing one only after a yes, keeping its
other keys), shows the access key as the agent does (on the terminal, never in the log) and says
what comes next. Answers come from stdin; at its end every question takes its default, and an
existing file is then left alone. It refuses to run as root for a service that runs as another
user (with sudo, as other steps of the install are run): the files would be root's, which the
service cannot read.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..agent.audio_io import AudioDeviceError
from ..agent.config import RETIRED, ConfigError, load_config, parse_config
from ..agent.credentials import show_access_key, stored_access_key
from ..agent.portaudio import explain
from ..agent.service import SERVICE, executable, service_user, sudo_user
from .devices import (
    Device,
    check_rate,
    find_device,
    import_sounddevice,
    level,
    list_devices,
    play_tone,
    record,
)

# The integration's name in Home Assistant (custom_components/realtime_voice/manifest.json).
INTEGRATION = "Realtime Voice Satellite"
# The unit's StateDirectory=, which scripts/install-satellite --service makes for the user: the
# access key made here must be the one the service finds.
SERVICE_STATE_DIR = Path("/var/lib/realtime-voice")
RECORD_S = 2.0
TRIES = 5  # answers that name no device before setup gives up
FALLBACK_RATES = (48_000, 44_100, 32_000, 16_000)
HEADER = (
    "# Written by 'realtime-voice satellite --setup'; every key is explained in\n"
    "# config/satellite.yaml.example of the repository.\n"
)


class SetupError(Exception):
    """Setup cannot go on; the message says why and what to do."""


Ask = Callable[[str], str]


def ask_stdin(prompt: str) -> str:
    """One answer from stdin; "" (the default) at its end."""
    try:
        return input(prompt).strip()
    except EOFError:
        print()
        return ""


def yes(ask: Ask, question: str, *, default: bool) -> bool:
    hint = "[Y/n]" if default else "[y/N]"
    while True:
        answer = ask(f"{question} {hint} ").lower()
        if not answer:
            return default
        if answer in ("y", "yes", "n", "no"):
            return answer.startswith("y")
        print("Please answer y or n.")


@dataclass
class Options:
    config: Path
    input_device: str | None = None
    output_device: str | None = None
    name: str | None = None
    state_dir: Path | None = None
    overwrite: bool = False
    ask: Ask = ask_stdin
    warnings: list[str] = field(default_factory=list)


def choose(sd: Any, kind: str, given: str | None, ask: Ask) -> Device:
    """The device for ``kind``: ``given`` (an index or a part of the name), else asked for."""
    listed = list_devices(sd, kind)
    if not listed:
        raise SetupError(
            f"there is no {kind} device: plug in the "
            f"{'microphone' if kind == 'input' else 'speaker'} or enable the sound card, "
            f"then run the setup again ('{'arecord' if kind == 'input' else 'aplay'} -l' lists the cards)"
        )
    print(f"\n{kind.capitalize()} devices (* the default):")
    for device in listed:
        print(device.line())
    for _ in range(TRIES):
        answer = given if given is not None else ask(f"{kind.capitalize()} device [default]: ")
        wanted: str | int | None = int(answer) if answer.isdigit() else answer or None
        try:
            device = find_device(sd, wanted, kind)
        except AudioDeviceError as err:
            if given is not None:
                raise SetupError(f"--{kind}-device {given!r}: {err}") from None
            print(f"{err}; give a number from the list, or a part of a name.")
            continue
        print(f"Using {kind} device {device.index}: {device.name}")
        return device
    # e.g. no default device and no more answers on stdin
    raise SetupError(f"no {kind} device chosen; give one with --{kind}-device")


def pick_rate(sd: Any, device: Device, kind: str) -> int:
    """The device's own rate if it opens at it, else a common one it takes (the agent resamples
    whatever it gets)."""
    first_error = None
    for rate in dict.fromkeys((device.rate, *FALLBACK_RATES)):
        why = check_rate(sd, device.index, kind, rate)
        if why is None:
            return rate
        first_error = first_error or why
    raise SetupError(
        f"{kind} device {device.name!r} opens at none of "
        f"{', '.join(map(str, dict.fromkeys((device.rate, *FALLBACK_RATES))))} Hz "
        f"mono ({first_error}); choose another device"
    )


def check_microphone(sd: Any, device: Device, rate: int, options: Options) -> None:
    print(f"\nMicrophone test: speak (or clap) for {RECORD_S:g} s now...", flush=True)
    try:
        heard = level(record(sd, device.index, rate, RECORD_S))
    except (ValueError, sd.PortAudioError) as err:
        options.warnings.append(f"the microphone could not record: {explain(err, 'input')}")
        print(f"WARNING: {options.warnings[-1]}")
        return
    print(f"Microphone level: peak {heard.peak_dbfs:.1f} dBFS, RMS {heard.rms_dbfs:.1f} dBFS")
    if heard.silent:
        options.warnings.append(
            f"the microphone heard nothing (peak {heard.peak_dbfs:.1f} dBFS): is it the right "
            "device, and is capture on and up in 'alsamixer' (F6: the card, F4: capture)?"
        )
    elif heard.clipping:
        options.warnings.append(
            "the microphone clips (peak at full scale): lower its capture level in 'alsamixer'"
        )
    else:
        return
    print(f"WARNING: {options.warnings[-1]}")


def check_speaker(sd: Any, device: Device, rate: int, options: Options) -> None:
    print("\nSpeaker test: playing a 1 s tone...", flush=True)
    try:
        play_tone(sd, device.index, rate)
    except (ValueError, sd.PortAudioError) as err:
        options.warnings.append(f"the speaker could not play: {explain(err, 'output')}")
        print(f"WARNING: {options.warnings[-1]}")
        return
    if not yes(options.ask, "Did you hear the tone?", default=True):
        options.warnings.append(
            "the tone was not heard: check the speaker's cable and power, the volume in "
            "'alsamixer', and the output device"
        )
        print(f"WARNING: {options.warnings[-1]}")


def device_setting(sd: Any, device: Device, kind: str) -> str | int:
    """The name (an index moves when a USB device comes or goes), unless another device answers
    to it too."""
    try:
        if find_device(sd, device.name, kind).index == device.index:
            return device.name
    except AudioDeviceError:
        pass
    return device.index


def existing_settings(path: Path) -> dict[str, Any]:
    """The keys of the file being replaced, to keep what setup does not ask about."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def drop_retired(keep: dict[str, Any]) -> list[str]:
    """Takes the keys satellite.yaml no longer has out of the settings being kept; says which."""
    dropped = []
    for dotted, why in RETIRED.items():
        *sections, key = dotted.split(".")
        holder: Any = keep
        for name in sections:
            holder = holder.get(name) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and key in holder:
            del holder[key]
            dropped.append(f"{dotted} is left out (it is no longer read): {why}.")
    return dropped


def service_state_dir(given: Path | None, keep: dict[str, Any]) -> Path | None:
    """link.state_dir to write: the one given; else, when the file sets none, the service's if it
    is there for this user (else the loader's default: the config file's directory)."""
    if given is not None:
        return given
    if (keep.get("link") or {}).get("state_dir") is None and os.access(SERVICE_STATE_DIR, os.W_OK):
        return SERVICE_STATE_DIR
    return None


def render(settings: dict[str, Any], path: Path) -> str:
    """The YAML text, checked by the agent's own loader before it is written."""
    text = HEADER + yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)
    parse_config(text, str(path))
    return text


def write_config(path: Path, text: str) -> None:
    """Written whole or not at all, readable by the owner and the group (the service's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = path.with_name(f".{path.name}.new")
    descriptor = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(new, path)


def next_steps(path: Path, name: str, port: int) -> str:
    command = executable()
    return (
        "\nNext steps:\n"
        f"  1. Check everything:  {command} satellite --doctor --config {path}\n"
        f"  2. Start the service: sudo systemctl restart {SERVICE}\n"
        f"     (or run it here:   {command} satellite --config {path})\n"
        "  3. In Home Assistant: Settings > Devices & services: the discovered satellite "
        f"{name!r} (or Add integration > {INTEGRATION} with this Pi's address and port {port}), "
        "then type the code the satellite speaks."
    )


def refused_as_root(options: Options) -> str | None:
    """Why setup must not run as root here, with the command to run instead; None when it may
    (not root, or root's own satellite: no service user, not run through sudo)."""
    if os.geteuid() != 0:
        return None
    user = service_user() or sudo_user()
    if user is None or user == "root":
        return None
    path = options.config.absolute()
    return (
        f"do not run it as root (sudo): {path} and the access key would belong to root, and the "
        f"service runs as {user!r}, which could not read them. Run it as {user} instead:\n"
        f"    sudo -u {user} {executable()} satellite --setup --config {path}"
    )


def run_setup(options: Options) -> int:
    if (why := refused_as_root(options)) is not None:
        print(f"realtime-voice satellite --setup: {why}")
        return 1
    path = options.config
    keep: dict[str, Any] = {}
    if path.exists():
        if not options.overwrite and not yes(
            options.ask, f"{path} exists. Replace it (its other settings are kept)?", default=False
        ):
            print(f"{path} is left as it is.")
            return 1
        keep = existing_settings(path)
        for dropped in drop_retired(keep):
            print(dropped)
    try:
        sd = import_sounddevice()
        devices = {
            kind: choose(sd, kind, given, options.ask)
            for kind, given in (("input", options.input_device), ("output", options.output_device))
        }
        rates = {kind: pick_rate(sd, device, kind) for kind, device in devices.items()}
    except (SetupError, AudioDeviceError) as err:
        print(f"realtime-voice satellite --setup: {err}")
        return 1
    check_microphone(sd, devices["input"], rates["input"], options)
    check_speaker(sd, devices["output"], rates["output"], options)

    default_name = str(keep.get("name") or socket.gethostname())
    name = options.name or options.ask(f"\nSatellite name [{default_name}]: ") or default_name
    audio = dict(keep.get("audio") or {})
    for kind, device in devices.items():
        audio[f"{kind}_device"] = device_setting(sd, device, kind)
        audio[f"{kind}_rate"] = None if rates[kind] == device.rate else rates[kind]
    settings = {**keep, "name": name, "audio": audio}
    state = service_state_dir(options.state_dir, keep)
    if state is not None:
        settings["link"] = {**(keep.get("link") or {}), "state_dir": str(state)}
    try:
        write_config(path, render(settings, path))
        config = load_config(path)
        key = stored_access_key(config)
    except ConfigError as err:
        print(f"realtime-voice satellite --setup: {err}")
        return 1
    except OSError as err:
        print(f"realtime-voice satellite --setup: cannot write {path}: {err.strerror}")
        return 1
    print(f"\nWrote {path}.")

    if (keep.get("link") or {}).get("access_key"):
        print(f"The access key is the one in {path} (link.access_key).")
    elif key is not None:
        show_access_key(key, config, new=False)
    else:
        print(
            "Pairing: once the service runs, add the satellite in Home Assistant; the satellite "
            "speaks a 6-digit code to type there (pairing mode is open for 5 minutes after a "
            "start without a key; realtime-voice satellite --pair opens it again)."
        )
    for warning in options.warnings:
        print(f"WARNING: {warning}")
    print(next_steps(path, config.name, config.link.port))
    return 0
