"""Helpers for tests that drive a client against the Live stand-in (in-process or as a process).

This module needs only the standard library, so tests in Home Assistant's environment (openai 3.10,
no ``openai.types.live``) import it too; ``start_process`` runs the stand-in there anyway (see
``standin_command``).
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import math
import os
import struct
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

TEST_KEY = "sk-test-live-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]


def tone(ms: int, rate: int = 24000, amplitude: float = 0.3) -> bytes:
    """A 300 Hz tone (speech, as far as the stand-in's VAD is concerned), PCM16 mono."""
    count = rate * ms // 1000
    return struct.pack(
        f"<{count}h",
        *(int(amplitude * 32767 * math.sin(2 * math.pi * 300 * i / rate)) for i in range(count)),
    )


def silence(ms: int, rate: int = 24000) -> bytes:
    return bytes(rate * ms // 1000 * 2)


def append(pcm: bytes) -> str:
    """A ``session.input_audio.append`` frame."""
    return json.dumps(
        {"type": "session.input_audio.append", "audio": base64.b64encode(pcm).decode()}
    )


def has_live_types() -> bool:
    """Whether this interpreter's openai package has ``openai.types.live`` (openai >= 3.26)."""
    try:
        return importlib.util.find_spec("openai.types.live") is not None
    except ImportError:  # no openai at all
        return False


def standin_command(folder: Path, *, shim: bool | None = None) -> tuple[list[str], dict[str, str]]:
    """The interpreter command and environment that run ``python -m tests.live_standin`` here.

    Where this interpreter has ``openai.types.live`` (the host .venv), it is used as it is.
    Elsewhere (Home Assistant's test environment, openai 3.10, inside its root filesystem where the
    host's Python is not visible) this interpreter runs it with the host .venv's ``openai`` package
    (pure Python, found through the repository) first on ``PYTHONPATH``; the rest (pydantic,
    websockets, numpy) is the environment's own. The link to it is made in ``folder``. ``shim``
    forces one way or the other (tests).
    """
    env = dict(os.environ)
    if shim is None:
        shim = not has_live_types()
    if shim:
        found = sorted(ROOT.glob(".venv/lib/python3*/site-packages/openai"))
        if not found:
            raise RuntimeError(
                "the Live stand-in needs openai >= 3.26 (openai.types.live): this interpreter has "
                f"none and the repository's .venv has no openai package ({ROOT / '.venv'})"
            )
        (folder / "openai").symlink_to(found[-1], target_is_directory=True)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH")) if p)
    return [sys.executable], env


@asynccontextmanager
async def start_process(
    args: Sequence[str] = (), *, shim: bool | None = None, within: float = 60
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process, list[str]]]:
    """``python -m tests.live_standin --port 0 *args``: yields (url, process, stderr lines so far).

    Its stderr is read into the list as it comes; on exit the process is terminated and the rest
    is read, so a test can assert ``not any("protocol violation" in line for line in lines)``
    after the block. ``shim``: see ``standin_command``.
    """
    with tempfile.TemporaryDirectory(prefix="live-standin-") as folder:
        async with _run(args, standin_command(Path(folder), shim=shim), within) as started:
            yield started


@asynccontextmanager
async def _run(
    args: Sequence[str], how: tuple[list[str], dict[str, str]], within: float
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process, list[str]]]:
    command, env = how
    process = await asyncio.create_subprocess_exec(
        *command,
        "-m",
        "tests.live_standin",
        "--port",
        "0",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    lines: list[str] = []

    async def drain(stream: asyncio.StreamReader) -> None:
        # Read stderr as it comes: a full pipe would block the stand-in.
        async for line in stream:
            lines.append(line.decode(errors="replace").rstrip("\n"))

    reader = asyncio.create_task(drain(process.stderr))
    try:
        url = (await asyncio.wait_for(process.stdout.readline(), within)).decode().strip()
        if not url.startswith(("ws://", "wss://")):
            await process.wait()
            await reader
            raise RuntimeError(f"the Live stand-in did not start: {url!r} {lines[-5:]}")
        yield url, process, lines
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), within)
        await asyncio.wait_for(reader, within)
