"""Helpers for tests that drive a client against the Live stand-in (in-process or as a process).

``start_process`` needs only the standard library, so tests in Home Assistant's environment (which
cannot import ``openai.types.live``) can use it with the host .venv's python.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
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


@asynccontextmanager
async def start_process(
    args: Sequence[str] = (), *, python: str | Path | None = None, within: float = 60
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process, list[str]]]:
    """``python -m tests.live_standin --port 0 *args``: yields (url, process, stderr lines so far).

    Its stderr is read into the list as it comes; on exit the process is terminated and the rest
    is read, so a test can assert ``not any("protocol violation" in line for line in lines)`` after the block.
    ``python``: the host .venv's interpreter by default (``ROOT/.venv/bin/python``).
    """
    exe = str(python or ROOT / ".venv" / "bin" / "python")
    process = await asyncio.create_subprocess_exec(
        exe,
        "-m",
        "tests.live_standin",
        "--port",
        "0",
        *args,
        cwd=ROOT,
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
