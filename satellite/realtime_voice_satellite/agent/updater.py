"""The satellite updating itself when Home Assistant asks (the link's ``update``; docs/satellite.md
"Updating").

pip installs exactly ``realtime-voice-satellite==VERSION`` into the environment the agent runs from
(``sys.executable -m pip``), by pip's own rules for where packages come from (``PIP_INDEX_URL``,
pip.conf): the index the satellite was installed from. When pip fails (the index is down, it has
no such version, the environment is read-only or the disk full) pip puts back what it had removed,
and the running agent, whose code is loaded, goes on as it was; the failure is reported with its
cause. When it succeeds the agent stops cleanly and replaces itself by the new version with
``os.execv`` of its own command line: the same process id, so systemd, a terminal and a container
runtime all keep it as their process.

A container image (``REALTIME_VOICE_UPDATES=image``, set by satellite/Containerfile) refuses: what
pip would change there is lost when the container is recreated from its image, and the image's
environment is not the satellite user's to write. The image is what updates (docs/container.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..link import protocol as p

_LOGGER = logging.getLogger(__name__)

DISTRIBUTION = "realtime-voice-satellite"
# How this satellite is updated: "image" in the container (satellite/Containerfile), else by pip.
UPDATES_ENV = "REALTIME_VOICE_UPDATES"
# The longest an install may take: a new release may bring new dependencies to download on a Pi.
INSTALL_TIMEOUT_S = 900.0
# What pip prints as it goes, and how far along that is (pip has no machine-readable progress).
_STEPS = (
    ("Collecting ", 10),
    ("Downloading ", 30),
    ("Installing collected packages", 70),
    ("Successfully installed", 90),
)
# pip's errors, and the cause each names first (pip's own line follows it in the message).
_CAUSES = (
    (re.compile(r"No space left on device|\[Errno 28\]"), "the satellite's disk is full"),
    (
        re.compile(r"Read-only file system|Permission denied|\[Errno (30|13)\]"),
        "the satellite's environment is not writable",
    ),
    (
        re.compile(r"Retrying \(Retry|NewConnectionError|Connection refused|timed out"),
        "the package index cannot be reached",
    ),
    (
        re.compile(r"No matching distribution found|Could not find a version"),
        "the package index has no such version",
    ),
)
_MAX_ERROR = 600  # characters of pip's message that go to Home Assistant

Report = Callable[[p.UpdateProgress], None]


class UpdateError(Exception):
    """The update did not happen; the text says why (it goes to Home Assistant as it is)."""


@dataclass
class Installer:
    """Installs one release with pip into ``python``'s environment (the agent's by default)."""

    python: str = sys.executable
    timeout_s: float = INSTALL_TIMEOUT_S

    async def install(self, version: str, report: Report) -> None:
        """Install ``version``; progress goes to ``report``. Raises UpdateError."""
        if not p.RELEASE_VERSION.fullmatch(version):  # the link checked it; this is the pip line
            raise UpdateError(f"{version!r} is not a release version")
        if os.environ.get(UPDATES_ENV) == "image":
            raise UpdateError(
                f"this satellite runs in a container, which updates with its image: use the "
                f"image of version {version} and recreate the container (docs/container.md)"
            )
        where = await self._site_packages()
        if not os.access(where, os.W_OK):
            raise UpdateError(
                f"the satellite's environment is not writable: {where} (user {_user()}); "
                f"update it by hand there: {self.python} -m pip install {DISTRIBUTION}=={version}"
            )
        report(p.UpdateProgress(version, "installing", 0))
        output = await self._pip(version, report)
        installed = (await self._run("-c", _VERSION_OF_PACKAGE)).strip()
        if installed != version:
            raise UpdateError(
                f"pip installed {DISTRIBUTION}=={version}, but the environment has version "
                f"{installed or '(none)'}:\n{_tail(output)}"
            )

    async def _pip(self, version: str, report: Report) -> str:
        args = ["-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
        args += ["--progress-bar", "off", f"{DISTRIBUTION}=={version}"]
        process = await asyncio.create_subprocess_exec(
            self.python,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert process.stdout is not None
        lines: list[str] = []
        progress = 0
        try:
            async with asyncio.timeout(self.timeout_s):
                async for raw in process.stdout:
                    line = raw.decode(errors="replace").rstrip()
                    lines.append(line)
                    _LOGGER.debug("pip: %s", line)
                    step = next((v for prefix, v in _STEPS if line.startswith(prefix)), 0)
                    if step > progress:
                        progress = step
                        report(p.UpdateProgress(version, "installing", progress))
                code = await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise UpdateError(
                f"pip did not install {DISTRIBUTION}=={version} within {self.timeout_s:.0f} s"
            ) from None
        except BaseException:  # the agent stopping: pip must not go on alone
            if process.returncode is None:
                process.kill()
                await process.wait()
            raise
        if code != 0:
            raise UpdateError(pip_failure(version, lines))
        return "\n".join(lines)

    async def _site_packages(self) -> str:
        return (
            await self._run("-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
        ).strip()

    async def _run(self, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            self.python,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate()
        if process.returncode != 0:
            raise UpdateError(f"{self.python} {' '.join(args)} failed: {_tail(out.decode())}")
        return out.decode(errors="replace")


_VERSION_OF_PACKAGE = (
    "import importlib.metadata as m\n"
    "try: print(m.version('realtime-voice-satellite'))\n"
    "except m.PackageNotFoundError: print('')"
)


def pip_failure(version: str, lines: Sequence[str]) -> str:
    """What went wrong, for Home Assistant: the cause, pip's own error line(s), where it looked."""
    text = "\n".join(lines)
    cause = next((what for pattern, what in _CAUSES if pattern.search(text)), "pip failed")
    errors = [line.removeprefix("ERROR: ").strip() for line in lines if line.startswith("ERROR:")]
    detail = "; ".join(dict.fromkeys(errors)) or _tail(text)
    looked = next((line for line in lines if line.startswith("Looking in indexes:")), "")
    message = f"{cause}: pip could not install {DISTRIBUTION}=={version}: {detail}"
    if looked:
        message += f" ({looked.rstrip('.')})"
    return message[:_MAX_ERROR]


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


def restart_in_place() -> None:
    """Replace this process by a new run of its own command line (the version now installed).

    ``sys.orig_argv`` is the interpreter's command line as it was started (the console script,
    ``-m`` or flags included); ``sys.executable`` is the environment's Python."""
    _LOGGER.info("restarting in place: %s", " ".join(sys.orig_argv))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, sys.orig_argv)
