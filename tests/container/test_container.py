"""The satellite's container image (satellite/Containerfile), built and run with podman.

The image is built from the repository's root on a Debian bookworm base made locally
(scripts/setup-container: no registry is reached), as users build it on python:3.11-slim-bookworm.
The container runs the agent on a WAV file with the configuration and the state as mounted volumes
and the link published on a port of 127.0.0.1; the integration's own link client connects to it
as Home Assistant does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from realtime_voice_core.link import LinkAuthError, LinkEvent, SatelliteLinkClient
from realtime_voice_core.link import protocol as p
from realtime_voice_satellite import __version__
from realtime_voice_satellite.audio import read_wav, write_wav
from tests.helpers.network import free_port
from tests.satellite.harness import Script

from .podman import (
    ARCHES,
    CONTAINERFILE,
    HOST_ARCH,
    IMAGE,
    ROOT,
    base_image,
    build,
    limits,
    podman,
    wait_for_log,
)

# Cold (no base image, no layers cached): the base's debootstrap and the build's pip downloads,
# about 3.5 minutes, more than the suite's per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

KEY = "container-test-access-key-0123456789"
UID = 1000  # the image's user "satellite" (satellite/Containerfile)
COMPOSE = ROOT / "satellite" / "compose.yaml"
TEST_LABEL = "io.github.realtime-voice.test=container"


@dataclass(frozen=True)
class Image:
    tag: str
    arch: str

    @property
    def options(self) -> list[str]:
        """`podman run` options for a container of this image."""
        # qemu-user's default CPU makes OpenBLAS compute wrong results (scripts/arm64-run)
        return ["--env=QEMU_CPU=cortex-a72"] if self.arch == "arm64" else []


@pytest.fixture(scope="module")
def image(request: pytest.FixtureRequest) -> Image:
    """The image for the architecture the test is parametrized with (built once per module)."""
    arch: str = request.param
    # containers a killed run left behind (a timeout kills without the clean-up)
    for left in podman("ps", "--all", "--quiet", f"--filter=label={TEST_LABEL}").split():
        podman("rm", "--force", "--time", "2", left, check=False)
    start = time.monotonic()
    base = base_image(arch)
    made = time.monotonic() - start
    tag = f"{IMAGE}-{arch}"
    seconds = build(base, tag, arch)
    print(f"base image {base}: {made:.1f} s; image {tag} built in {seconds:.1f} s")
    return Image(tag, arch)


def owned_dir(path: Path) -> Path:
    """A directory the container's user may write (as a volume or a bind mount owned by it)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, UID, UID)
    return path


@contextlib.contextmanager
def container(name: str, *args: str) -> Iterator[str]:
    podman("run", "--detach", "--name", name, f"--label={TEST_LABEL}", *limits(), *args)
    try:
        yield name
    finally:
        podman("rm", "--force", "--time", "2", name, check=False)


PROBE = """
import grp, json, os, sounddevice
from importlib.metadata import distribution
dist = distribution("realtime-voice-satellite")
licenses = [f for f in dist.files or () if f.name == "LICENSE"]
print(json.dumps({
    "uid": os.getuid(),
    "group": grp.getgrgid(os.getgid()).gr_name,
    "portaudio": sounddevice.get_portaudio_version()[1],
    "version": dist.version,
    "license": licenses[0].read_text() if licenses else "",
}))
"""


@pytest.mark.parametrize("image", ARCHES, indirect=True)
def test_image_runs_the_agent_as_a_non_root_user_with_portaudio(image: Image) -> None:
    inspected = json.loads(podman("image", "inspect", image.tag))[0]
    assert inspected["Architecture"] == image.arch
    config = inspected["Config"]
    assert config["User"] == "satellite"
    assert set(config["Volumes"]) == {"/etc/realtime-voice", "/var/lib/realtime-voice"}
    assert config["Entrypoint"][:2] == ["realtime-voice", "satellite"]
    assert "10800/tcp" in config["ExposedPorts"]
    out = podman(
        "run",
        "--rm",
        *limits(),
        *image.options,
        "--entrypoint",
        "python",
        image.tag,
        "-c",
        PROBE,
    )
    found = json.loads(out.strip().splitlines()[-1])
    assert (found["uid"], found["group"]) == (UID, "audio")
    assert found["portaudio"].startswith("PortAudio V19")
    # the wheel built in the image is this checkout's, with the license text (a symlink to the
    # repository's LICENSE, which the build must have been given)
    assert found["version"] == __version__
    assert found["license"].lstrip().startswith("Apache License"), found["license"][:80]


def write_config(directory: Path) -> Path:
    """The mounted configuration: the access key Home Assistant would be given, no zeroconf."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "satellite.yaml").write_text(
        f"""name: Container satellite
link: {{access_key: {KEY}}}
zeroconf: {{enabled: false}}
wake_word: {{models: [hey_jarvis], threshold: 0.5, warmup_s: 1.0}}
log_level: info
"""
    )
    return directory


def wake_wav(path: Path) -> Path:
    """ "hey jarvis" twice (at 2 s and at 12 s: the second one surely after the test's client has
    connected), each with a command."""
    script = (
        Script()
        .pause(2.0)
        .say("hey jarvis")
        .pause(0.1)
        .say("turn on the light")
        .pause(8.0)
        .say("hey jarvis")
        .pause(0.1)
        .say("turn on the light")
        .pause(1.0)
    )
    write_wav(path, script.samples(), script.rate)
    return path


async def connect(port: int) -> SatelliteLinkClient:
    client = SatelliteLinkClient("127.0.0.1", port, KEY, ping_interval=1.0, ping_timeout=2.0)
    await client.connect()
    return client


async def next_event(client: SatelliteLinkClient, kind: type, within: float) -> LinkEvent:
    async def first() -> LinkEvent:
        async for event in client.events():
            if isinstance(event, kind):
                return event
        raise AssertionError(f"the link closed before a {kind.__name__} event")

    return await asyncio.wait_for(first(), within)


async def wait_audible(path: Path, within: float) -> None:
    """Until the growing output WAV has a sound above -30 dBFS in it."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            data = (await asyncio.to_thread(path.read_bytes))[44:]
            samples = np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.int32)
            if len(samples) and np.abs(samples).max() > 1000:
                return
        await asyncio.sleep(0.2)
    raise AssertionError(f"nothing audible in {path} within {within:.0f} s")


@pytest.mark.parametrize("image", ARCHES, indirect=True)
async def test_container_serves_the_link_and_detects_the_wake_word(
    image: Image, tmp_path: Path
) -> None:
    conf = write_config(tmp_path / "conf")
    state = owned_dir(tmp_path / "state")
    audio = owned_dir(tmp_path / "audio")
    wake_wav(audio / "in.wav")
    port = free_port()
    name = f"realtime-voice-test-{secrets.token_hex(4)}"
    volumes = [
        f"--volume={conf}:/etc/realtime-voice:ro",
        f"--volume={state}:/var/lib/realtime-voice",
        f"--volume={audio}:/audio",
        f"--publish=127.0.0.1:{port}:10800",
        *image.options,
    ]
    wav = ["--input-wav", "/audio/in.wav", "--output-wav", "/audio/out.wav"]

    with container(name, *volumes, image.tag, *wav):
        wait_for_log(name, "link listening on 0.0.0.0:10800", 90)
        client = await connect(port)
        try:
            info = client.info
            assert info is not None
            assert (info.name, info.version) == ("Container satellite", __version__)
            assert info.wake_words_active == ["hey_jarvis"]
            wake = await next_event(client, p.Wake, 40)
            assert isinstance(wake, p.Wake)
            assert wake.model == "hey_jarvis"
            first = (info.satellite_id, client.fingerprint)
            # the wake chime, played while HA listens (a disconnect would end the turn)
            await wait_audible(audio / "out.wav", 10)
        finally:
            await client.close()
        # the key is the mounted configuration's: another one is refused
        with pytest.raises(LinkAuthError):
            await SatelliteLinkClient("127.0.0.1", port, "another-key-" + KEY).connect()
        log = wait_for_log(name, "wake word hey_jarvis", 5)
        assert KEY not in log
        # The agent is PID 1 and stops cleanly on the SIGTERM of `podman stop`.
        podman("stop", "--time", "10", name)
        assert podman("inspect", "--format", "{{.State.ExitCode}}", name).strip() == "0"

    # What the agent wrote belongs to its user: the state (certificate, id) and the speaker's WAV.
    assert {f.name for f in state.iterdir()} >= {"satellite_id.json"}
    assert all(f.stat().st_uid == UID for f in state.iterdir())
    assert (audio / "out.wav").stat().st_uid == UID
    assert read_wav(audio / "out.wav")[1] == 24_000

    # A new container on the same state volume is the same satellite to Home Assistant.
    with container(f"{name}-again", *volumes, image.tag, *wav):
        wait_for_log(f"{name}-again", "link listening on 0.0.0.0:10800", 90)
        client = await connect(port)
        try:
            assert client.info is not None
            assert (client.info.satellite_id, client.fingerprint) == first
        finally:
            await client.close()


def compose_run_args(tmp_path: Path, volume: str) -> list[str]:
    """satellite/compose.yaml's service as `podman run` options: its volumes (./config a directory
    of the test's, the named volume ``volume``), groups and capabilities. Not its devices (this
    machine has no sound card) nor its host network (the port might be taken): the link is
    published on a free port instead."""
    compose = yaml.safe_load(COMPOSE.read_text())
    service = compose["services"]["satellite"]
    build = service["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == CONTAINERFILE
    assert build["args"]["USER_ID"] == str(UID)
    assert "/dev/snd:/dev/snd" in service["devices"]
    assert service["network_mode"] == "host"
    args = [f"--group-add={group}" for group in service.get("group_add", [])]
    args += [f"--cap-add={cap}" for cap in service.get("cap_add", [])]
    for spec in service["volumes"]:
        source, target = spec.split(":")[:2]
        if source == "./config":
            source = str(tmp_path / "conf")
        else:
            assert source in compose["volumes"], f"{source} is not a named volume"
            source = volume
        args.append(f"--volume={source}:{target}")
    return args


@pytest.mark.parametrize("image", [HOST_ARCH], indirect=True)  # the same image on arm64
async def test_compose_service_keeps_its_state_in_a_named_volume(
    image: Image, tmp_path: Path
) -> None:
    """A named volume starts with the image's ownership of /var/lib/realtime-voice: the agent,
    not root, can write its state there."""
    write_config(tmp_path / "conf")
    audio = owned_dir(tmp_path / "audio")
    write_wav(audio / "silence.wav", np.zeros(16_000, np.int16), 16_000)
    volume = f"realtime-voice-test-{secrets.token_hex(4)}"
    port = free_port()
    name = volume
    try:
        args = compose_run_args(tmp_path, volume)
        args += [f"--volume={audio}:/audio", f"--publish=127.0.0.1:{port}:10800", *image.options]
        args.append(image.tag)
        with container(
            name, *args, "--input-wav", "/audio/silence.wav", "--output-wav", "/audio/out.wav"
        ):
            wait_for_log(name, "link listening on 0.0.0.0:10800", 90)
            client = await connect(port)
            await client.close()
            listing = podman("exec", name, "ls", "-ln", "/var/lib/realtime-voice")
        files = [line.split() for line in listing.splitlines() if not line.startswith("total")]
        assert {f[-1] for f in files} >= {"satellite_id.json"}
        assert all(f[2] == str(UID) for f in files), listing
    finally:
        podman("volume", "rm", "--force", volume, check=False)
