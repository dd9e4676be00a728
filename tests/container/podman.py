"""Building and running the satellite's image with podman, as this sandbox and CI allow.

What a plain ``podman run`` lacks here (a Firecracker VM, root without CAP_SYS_RESOURCE, cgroups in
hybrid mode):
- ``--runtime runc``: crun refuses hybrid cgroups ("drop all controllers from cgroupv2");
- ``--ulimit nofile=N:N --ulimit nproc=N:N`` at most this process's hard limits: podman's defaults
  (about a million) are above them, and only CAP_SYS_RESOURCE may raise a hard limit.
The network is podman's default (netavark's bridge): the build's pip reaches PyPI through it and
ports are published as usual.
"""

from __future__ import annotations

import platform
import resource
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup-container"
CONTAINERFILE = ROOT / "satellite" / "Containerfile"
IGNOREFILE = ROOT / "satellite" / "Containerfile.dockerignore"
IMAGE = "localhost/realtime-voice-satellite:test"
TITLE = "org.opencontainers.image.title=Realtime Voice satellite"  # satellite/Containerfile's label
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def arm64_runs() -> bool:
    """arm64 programs run here: natively, or through qemu-user registered with binfmt_misc (with
    the F flag, as scripts/setup-arm64 registers it, so that it works inside a container)."""
    if HOST_ARCH == "arm64":
        return True
    try:
        with open("/proc/sys/fs/binfmt_misc/qemu-aarch64") as entry:
            text = entry.read()
    except OSError:
        return False
    return text.startswith("enabled") and "flags: " in text and "F" in text.split("flags: ")[1]


# The image for this machine's architecture, and for arm64 (a Pi's) where it runs.
ARCHES = [HOST_ARCH] + (["arm64"] if HOST_ARCH != "arm64" and arm64_runs() else [])


class PodmanError(AssertionError):
    """A podman command failed; the message has its output."""


def limits() -> list[str]:
    """``--ulimit`` options a container may have here: the hard limits, at most 4096."""
    options = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        hard = resource.getrlimit(which)[1]
        value = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
        options += ["--ulimit", f"{name}={value}:{value}"]
    return options


def podman(*args: str, timeout: float = 120, check: bool = True) -> str:
    """``podman ARGS``: its output (stdout and stderr together)."""
    command = ["podman", "--runtime", "runc", *args]
    done = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise PodmanError(f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}")
    return done.stdout


def base_image(arch: str = "amd64") -> str:
    """The base of scripts/setup-container (podman installed, the base image made or up to date)."""
    done = subprocess.run(
        [str(SETUP), arch], stdout=subprocess.PIPE, text=True, timeout=1800, check=False
    )
    if done.returncode != 0:
        raise PodmanError(f"scripts/setup-container {arch} failed (its messages are above)")
    return done.stdout.strip().splitlines()[-1]


def build(base: str, tag: str, arch: str, extra: Sequence[str] = ()) -> float:
    """Builds satellite/Containerfile from the repository's root on ``base`` for ``arch``; the
    seconds it took."""
    start = time.monotonic()
    podman(
        "build",
        f"--arch={arch}",
        *limits(),
        "--ignorefile",
        str(IGNOREFILE),
        "--build-arg",
        f"BASE={base}",
        *extra,
        "--file",
        str(CONTAINERFILE),
        "--tag",
        tag,
        str(ROOT),
        timeout=1800,
    )
    # The image this one replaced under the same tag, now without a name: gone (the build stage's
    # images stay, the next build's cache).
    podman("image", "prune", "--force", f"--filter=label={TITLE}", check=False)
    return time.monotonic() - start


def logs(name: str) -> str:
    return podman("logs", name, check=False)


def wait_for_log(name: str, text: str, within: float) -> str:
    """The container's log once it has ``text``; fails when the container stops or time is up."""
    deadline = time.monotonic() + within
    while True:
        log = logs(name)
        if text in log:
            return log
        running = podman("inspect", "--format", "{{.State.Running}}", name, check=False).strip()
        if running != "true":
            raise PodmanError(f"container {name} stopped before {text!r}:\n{log}")
        if time.monotonic() > deadline:
            raise PodmanError(f"no {text!r} in container {name}'s log in {within:.0f} s:\n{log}")
        time.sleep(0.25)
