"""The GPT-Live stand-in as Home Assistant's test environment runs it: a process of this
interpreter (openai 3.10, no ``openai.types.live``) with the host .venv's openai package linked in
(tests/live_standin/testing.py), reached over loopback with aiohttp as an integration would."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from tests.live_standin.testing import (
    TEST_KEY,
    append,
    has_live_types,
    silence,
    start_process,
    tone,
)


async def _until(ws: aiohttp.ClientWebSocketResponse, kind: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while not seen or seen[-1]["type"] != kind:
            seen.append(json.loads((await ws.receive()).data))
    return seen


async def test_the_live_standin_runs_from_home_assistants_environment() -> None:
    assert not has_live_types()  # HA 2026.10's openai: the reason for the linked package
    args = ["--transcript", "Turn on the kitchen light", "--api-key", TEST_KEY]
    async with (
        start_process(args) as (url, _process, lines),
        aiohttp.ClientSession() as http,
        http.ws_connect(url, headers={"Authorization": f"Bearer {TEST_KEY}"}) as ws,
    ):
        start = {"model": "gpt-live-1.1", "delegation": {"type": "client"}}
        await ws.send_str(json.dumps({"type": "session.start", "session": start}))
        await _until(ws, "session.started")
        for chunk in (tone(300), silence(500)):
            await ws.send_str(append(chunk))
        created = (await _until(ws, "session.delegation.created"))[-1]
        commentary = {
            "type": "session.commentary.append",
            "content": "The kitchen light is on.",
            "delegation_id": created["delegation"]["id"],
        }
        await ws.send_str(json.dumps(commentary))
        await ws.send_str(append(silence(1000)))
        await ws.send_str(json.dumps({"type": "session.close"}))
        events = await _until(ws, "session.closed")
    said = "".join(e["delta"] for e in events if e["type"] == "session.output_transcript.delta")
    assert said == "The kitchen light is on."
    assert not [line for line in lines if "protocol violation" in line]
