"""``realtime-voice satellite --config FILE [--input-wav PATH] [--output-wav PATH] [--echo IR]``:
runs the agent.

A satellite without an access key opens pairing mode at start: Home Assistant asks it for a code,
which it speaks (and prints on a terminal, or with ``--output-wav``), and the user types it there.
``--pair`` asks the running satellite (or its next start) to open pairing mode again.
``--new-access-key`` makes a new access key in the state directory, prints it once and exits (for a
satellite without a speaker: the key is typed into Home Assistant). ``--setup`` is the guided
first start that writes FILE (setup/guided.py); ``--doctor`` checks this machine and FILE
(setup/doctor.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from ..agent.audio_io import (
    AudioDeviceError,
    AudioSink,
    AudioSource,
    DeviceSink,
    DeviceSource,
    WavFileSink,
    WavFileSource,
)
from ..agent.config import ConfigError, SatelliteConfig, load_config
from ..agent.credentials import (
    private_dir,
    request_pairing,
    show_access_key,
    state_dir,
    stored_access_key,
    write_access_key,
)
from ..agent.room import EchoRoomSource, load_impulse_response
from ..agent.updater import restart_in_place
from ..audio.wav import WavError
from ..wakeword import WakeWordError

_LOGGER = logging.getLogger(__name__)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="the satellite's YAML file")
    parser.add_argument(
        "--input-wav",
        type=Path,
        help="read this WAV (paced in real time, then silence) instead of the microphone",
    )
    parser.add_argument(
        "--output-wav", type=Path, help="write what is played to this WAV instead of the speaker"
    )
    parser.add_argument(
        "--echo",
        metavar="IR.wav|default",
        help="with --input-wav: a room, where the input also hears what the satellite plays, "
        "through this impulse response (a WAV file of at most 2 s; 'default': a small room)",
    )
    parser.add_argument(
        "--new-access-key",
        action="store_true",
        help="make a new access key (printed once, to enter in Home Assistant) and exit",
    )
    parser.add_argument(
        "--pair",
        action="store_true",
        help="open pairing mode on the running satellite (or at its next start) for 5 minutes, "
        "to pair it with a Home Assistant by the code it speaks, and exit",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--setup",
        action="store_true",
        help="guided first start: choose and test the microphone and speaker, write --config "
        "(an existing file only after a yes), show the access key",
    )
    mode.add_argument(
        "--doctor",
        action="store_true",
        help="check this machine and --config: each problem with its fix (exit code 1 if any)",
    )
    setup = parser.add_argument_group("--setup answers (asked for when not given)")
    setup.add_argument("--input-device", help="microphone: index or a part of its name")
    setup.add_argument("--output-device", help="speaker: index or a part of its name")
    setup.add_argument("--name", help="the satellite's name in Home Assistant")
    setup.add_argument(
        "--state-dir",
        type=Path,
        help="link.state_dir to write (the service's: /var/lib/realtime-voice)",
    )
    setup.add_argument(
        "--overwrite", action="store_true", help="replace an existing --config without asking"
    )


def show_pairing_code(code: str) -> None:
    """On the terminal only (stdout), never in the log."""
    print(f"Pairing code for Home Assistant: {code[:3]} {code[3:]}", flush=True)


def make_source(config: SatelliteConfig, input_wav: Path | None) -> AudioSource:
    if input_wav is not None:
        return WavFileSource(input_wav, block_ms=config.audio.block_ms)
    return DeviceSource(
        config.audio.input_device, config.audio.input_rate, block_ms=config.audio.block_ms
    )


def make_sink(config: SatelliteConfig, output_wav: Path | None) -> AudioSink:
    if output_wav is not None:
        return WavFileSink(
            output_wav, config.audio.output_rate or 24_000, block_ms=config.audio.block_ms
        )
    return DeviceSink(
        config.audio.output_device, config.audio.output_rate, block_ms=config.audio.block_ms
    )


async def run_agent(
    config: SatelliteConfig,
    source: AudioSource,
    sink: AudioSink,
    show_code: Callable[[str], None] | None = None,
) -> bool:
    """Runs until SIGINT or SIGTERM (False), or until an update installed a new version that is
    to replace this process (True: the caller re-executes, after everything here has stopped)."""
    from ..agent.advertiser import ZeroconfAdvertiser
    from ..agent.build import build_agent

    agent = build_agent(config, source, sink, show_code=show_code)
    if isinstance(source, EchoRoomSource):
        source.hear(agent.playback_tap)
    advertiser = (
        ZeroconfAdvertiser(config.name, config.link.port, agent.satellite_id)
        if config.zeroconf.enabled
        else None
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await agent.start()
    try:
        if advertiser is not None:
            await advertiser.start()
        _LOGGER.info("satellite %r ready on port %s", config.name, agent.server.port)
        waits = [
            asyncio.create_task(stop.wait()),
            asyncio.create_task(agent.restart_requested.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
    finally:
        if advertiser is not None:
            await advertiser.stop()
        await agent.stop()
    return agent.restart_requested.is_set() and not stop.is_set()


def run(args: argparse.Namespace) -> int:
    if args.doctor:
        from ..setup.doctor import Context, run_doctor

        return run_doctor(Context(args.config))
    setup_only = [
        f"--{name.replace('_', '-')}"
        for name in ("input_device", "output_device", "name", "state_dir", "overwrite")
        if getattr(args, name) not in (None, False)
    ]
    if setup_only and not args.setup:
        print(f"realtime-voice satellite: {', '.join(setup_only)} go with --setup", file=sys.stderr)
        return 2
    if args.setup:
        from ..setup.guided import Options, run_setup

        return run_setup(
            Options(
                args.config,
                input_device=args.input_device,
                output_device=args.output_device,
                name=args.name,
                state_dir=args.state_dir,
                overwrite=args.overwrite,
            )
        )
    try:
        config = load_config(args.config)
        for ignored in config.ignored:  # on the terminal, and in the journal under systemd
            print(f"realtime-voice satellite: {ignored}", file=sys.stderr)
        tightened: int | OSError | None
        try:
            tightened = private_dir(state_dir(config))
        except OSError as err:  # e.g. read-only; writing a key or certificate there would say so
            tightened = err
        if args.new_access_key:
            if config.link.access_key:
                raise ConfigError(
                    f"{args.config}: link.access_key is set there and wins over a generated key; "
                    "remove it, then make a new one"
                )
            show_access_key(write_access_key(state_dir(config)), config, new=True)
            return 0
        if args.pair:
            path = request_pairing(config)
            print(
                f"Pairing requested ({path}): the satellite opens pairing mode for 5 minutes, now "
                "if it is running, else when it starts. Add it in Home Assistant (or re-authenticate "
                "it there): the satellite speaks the code to type.",
                flush=True,
            )
            return 0
        paired = stored_access_key(config) is not None
    except ConfigError as err:
        print(f"realtime-voice satellite: {err}", file=sys.stderr)
        return 2
    # The code on a terminal only (under systemd stdout goes to the journal, a log), or in file
    # mode (--output-wav), where nothing is heard: tests and demos read it there.
    shown = sys.stdout.isatty() or args.output_wav is not None
    if not paired and shown:
        print(
            f"Satellite {config.name!r} is not paired yet: add it in Home Assistant "
            "(Settings > Devices & services); it speaks a 6-digit code to type there.",
            flush=True,
        )
    configure_logging(config.log_level)
    if isinstance(tightened, OSError):
        _LOGGER.warning(
            "cannot make the state directory %s private (mode 0700): %s",
            state_dir(config),
            tightened.strerror,
        )
    elif tightened is not None:
        _LOGGER.info(
            "made the state directory %s private (mode 0700, was %04o): it holds the access key "
            "and the link's private key",
            state_dir(config),
            tightened,
        )
    try:
        source = make_source(config, args.input_wav)
        if args.echo is not None:
            if not isinstance(source, WavFileSource):
                print("realtime-voice satellite: --echo needs --input-wav", file=sys.stderr)
                return 2
            source = EchoRoomSource(source, load_impulse_response(args.echo, source.rate))
        sink = make_sink(config, args.output_wav)
        restart = asyncio.run(run_agent(config, source, sink, show_pairing_code if shown else None))
    except ConfigError as err:
        print(f"realtime-voice satellite: {err}", file=sys.stderr)
        return 2
    except (AudioDeviceError, WavError, WakeWordError, OSError) as err:
        print(f"realtime-voice satellite: {err}", file=sys.stderr)
        return 1
    if restart:  # an update installed a new version: run it, as the same process
        restart_in_place()
    return 0


def configure_logging(level: str) -> None:
    """The satellite's log: ``level`` (satellite.yaml's ``log_level``) and up. websockets' own
    lines (two INFO lines for every connection, also those that never authenticate: anyone on
    the network could fill the SD card with them) only at ``debug``."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("websockets").setLevel(logging.WARNING)
