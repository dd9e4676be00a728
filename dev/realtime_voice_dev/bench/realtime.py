"""Benchmarks of the realtime client: overhead per 20 ms audio frame sent and per audio delta received.

Both run against a local sink (a websockets server on 127.0.0.1 that discards what it gets), with
a reference measured in the same run: the bare minimum without the client (json + base64 + send
on a raw websockets connection; json.loads + base64 decode for a received delta).
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import time
from collections.abc import Awaitable, Callable

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from realtime_voice_core.realtime.connection import RealtimeSocket
from realtime_voice_core.realtime.session import RealtimeSession
from realtime_voice_core.realtime.settings import RealtimeSettings, SessionDescription

from . import Figure

FRAME = bytes(range(256)) * 3 + bytes(192)  # 20 ms of PCM16 at 24 kHz: 960 bytes
DELTA_MS = 100  # the stand-in's and a typical service delta
ROUNDS = 3000
WARMUP = 300


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) / 1000, p99 / 1000


async def _time_async(call: Callable[[], Awaitable[None]]) -> list[int]:
    samples = []
    for index in range(WARMUP + ROUNDS):
        start = time.perf_counter_ns()
        await call()
        if index >= WARMUP:
            samples.append(time.perf_counter_ns() - start)
    return samples


def _time_sync(call: Callable[[], None]) -> list[int]:
    samples = []
    for index in range(WARMUP + ROUNDS):
        start = time.perf_counter_ns()
        call()
        if index >= WARMUP:
            samples.append(time.perf_counter_ns() - start)
    return samples


async def _sink(ws: ServerConnection) -> None:
    async for _ in ws:
        pass


async def _measure() -> dict[str, tuple[float, float]]:
    async with serve(_sink, "127.0.0.1", 0, compression=None) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with connect(url, compression=None) as raw:

            async def raw_send() -> None:
                await raw.send(
                    json.dumps(
                        {
                            "type": "input_audio_buffer.append",
                            "audio": base64.b64encode(FRAME).decode(),
                        }
                    )
                )

            raw_send_ns = await _time_async(raw_send)
        ws = await connect(url, compression=None)
        link = RealtimeSocket(ws, "ga", "gpt-realtime")
        session = RealtimeSession(
            RealtimeSettings(api_key="bench", url=url),
            SessionDescription(),
            link=link,
            requested_model="gpt-realtime",
            voice="marin",
            connect_ms=0.0,
        )
        try:
            client_send_ns = await _time_async(lambda: session.append_audio(FRAME))
            delta = json.dumps(
                {
                    "type": "response.output_audio.delta",
                    "event_id": "event_1",
                    "response_id": "resp_1",
                    "item_id": "item_1",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": base64.b64encode(bytes(48 * DELTA_MS)).decode(),
                }
            )

            def raw_receive() -> None:
                base64.b64decode(json.loads(delta)["delta"])

            def client_receive() -> None:
                session._on_frame(delta, link)  # the reader's per-frame work
                session._queue.get_nowait()  # what the consumer's events() does

            raw_receive_ns = _time_sync(raw_receive)
            client_receive_ns = _time_sync(client_receive)
        finally:
            await session.close()
    return {
        "raw_send": _percentiles(raw_send_ns),
        "client_send": _percentiles(client_send_ns),
        "raw_receive": _percentiles(raw_receive_ns),
        "client_receive": _percentiles(client_receive_ns),
    }


def collect() -> list[Figure]:
    m = asyncio.run(_measure())
    figures = []
    for kind, label in (
        ("send", "realtime: send 20 ms frame (encode+send)"),
        ("receive", f"realtime: receive {DELTA_MS} ms audio delta (parse+decode)"),
    ):
        for index, pct in enumerate(("p50", "p99")):
            figures.append(
                Figure(
                    f"{label} {pct}",
                    round(m[f"client_{kind}"][index], 2),
                    "us",
                    target="< 200 us" if pct == "p50" else "< 1000 us",
                    baseline=round(m[f"raw_{kind}"][index], 2),
                )
            )
    return figures
