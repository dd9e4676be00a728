"""The GPT-Live stand-in itself, driven by a plain WebSocket client: it answers like the service,
talks and stops like the model, and cannot drift from ``openai.types.live``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import ssl
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.stack import TestTls as Tls  # not collected as a test class
from tests.live_standin import LiveProtocolError, LiveStandinConfig, LiveStandinServer, g711
from tests.live_standin.testing import (
    ROOT,
    TEST_KEY,
    append,
    silence,
    standin_command,
    start_process,
    tone,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")  # loopback only (HA's test plugin)
AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
START: dict[str, Any] = {
    "model": "gpt-live-1.1",
    "instructions": "You are a voice assistant for a home.",
    "audio": {"format": {"type": "audio/pcm", "rate": 24000}, "output": {"voice": "marin"}},
    "delegation": {"type": "client"},
}
REPLY_MS = 480  # the stand-in's tone for its four-word default reply (120 ms a word)


class Client:
    """A plain WebSocket Live client: events are collected as they come; ``sync`` waits until
    the stand-in has handled everything sent before it (a harmless ``session.update``)."""

    def __init__(self, ws: ClientConnection, rate: int = 24000) -> None:
        self.ws = ws
        self.rate = rate
        self.events: list[dict[str, Any]] = []
        self.sent_audio: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in self.ws:
                async with self._arrived:
                    self.events.append(json.loads(frame))
                    self._arrived.notify_all()
        async with self._arrived:
            self._arrived.notify_all()

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def wait_for(self, kind: str, within: float = 5.0, **match: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next(
                (
                    e
                    for e in self.events
                    if e["type"] == kind and all(e.get(k) == v for k, v in match.items())
                ),
                None,
            )

        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: found() is not None or self._reader.done())
        event = found()
        assert event is not None, f"no {kind} {match}: {self.types()}"
        return event

    async def sync(self) -> None:
        eid = f"sync-{next(self._ids)}"
        await self.send({"type": "session.update", "event_id": eid, "session": {}})
        await self.wait_for("session.updated", client_event_id=eid)

    async def start(self, **session: Any) -> dict[str, Any]:
        await self.send({"type": "session.start", "event_id": "start", "session": START | session})
        return await self.wait_for("session.started")

    async def feed(self, pcm: bytes, chunk_ms: int = 20) -> None:
        """Send ``pcm`` as the microphone would, in ``chunk_ms`` appends, then sync."""
        step = self.rate * chunk_ms // 1000 * 2
        for offset in range(0, len(pcm), step):
            await self.send_audio(pcm[offset : offset + step], sync=False)
        await self.sync()

    async def send_audio(self, pcm: bytes, *, sync: bool = True) -> None:
        frame = append(pcm)
        self.sent_audio.append(json.loads(frame))
        await self.ws.send(frame)
        if sync:
            await self.sync()

    async def closed(self, within: float = 5.0) -> int | None:
        """Wait until the stand-in has closed the WebSocket; the close code it sent."""
        await asyncio.wait_for(asyncio.shield(self._reader), within)
        received = self.ws.protocol.close_rcvd
        return received.code if received else None

    def types(self) -> list[str]:
        return [e["type"] for e in self.events if e["type"] != "session.updated"]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def audio(self) -> bytes:
        return b"".join(base64.b64decode(e["delta"]) for e in self.of("session.output_audio.delta"))

    def audio_ms(self) -> int:
        """Output audio received, silence included."""
        return len(self.audio()) // 2 * 1000 // self.rate

    def voice_ms(self) -> int:
        """How much of the output audio is its voice (20 ms blocks that are not silent)."""
        samples = np.frombuffer(self.audio(), dtype="<i2")
        block = self.rate // 50
        blocks = samples[: len(samples) // block * block].reshape(-1, block)
        return int(np.count_nonzero(np.abs(blocks).max(axis=1) > 300)) * 20

    def said(self) -> str:
        return "".join(e["delta"] for e in self.of("session.output_transcript.delta"))

    def heard(self) -> str:
        return "".join(e["delta"] for e in self.of("session.input_transcript.delta"))


@contextlib.asynccontextmanager
async def live(
    config: LiveStandinConfig | None = None,
) -> AsyncIterator[tuple[LiveStandinServer, Client]]:
    async with (
        LiveStandinServer(config or LiveStandinConfig()) as server,
        connect(server.url, additional_headers=AUTH) as ws,
    ):
        client = Client(ws)
        yield server, client


async def test_handshake_resolves_the_session() -> None:
    async with live() as (server, client):
        started = await client.start()
        await client.send({"type": "session.close", "event_id": "bye"})
        closed = await client.wait_for("session.closed")
    assert started["client_event_id"] == "start"
    session = started["session"]
    assert session["model"] == "gpt-live-1.1"
    assert session["status"] == "active"
    assert session["audio"] == START["audio"]
    assert session["delegation"] == {"type": "client"}
    assert session["instructions"] == START["instructions"]
    assert (closed["reason"], closed["client_event_id"]) == ("close_requested", "bye")
    assert closed["session"]["id"] == session["id"]
    assert server.client_violations == []
    assert [c.auth for c in server.connections] == ["bearer"]


async def test_an_unknown_field_in_session_start_is_refused_without_a_session() -> None:
    async with live() as (server, client):
        await client.send(
            {"type": "session.start", "event_id": "s", "session": START | {"voice": "marin"}}
        )
        error = await client.wait_for("error")
        code = await client.closed()
    assert error["error"] == {
        "type": "invalid_request_error",
        "code": "unknown_parameter",
        "message": "Unknown parameter: 'session.voice'.",
        "param": "session.voice",
        "client_event_id": "s",
    }
    assert "session.started" not in client.types()
    assert code == 1008
    assert [(v[1], v[2].param) for v in server.client_violations] == [
        ("session.start", "session.voice")
    ]


async def test_a_bad_command_is_an_error_and_the_session_goes_on() -> None:
    async with live() as (server, client):
        await client.start()
        await client.send({"type": "response.cancel", "event_id": "e1"})  # not a Live event
        await client.send(
            {"type": "session.thinking.append", "event_id": "e2", "content": "hm"}
        )  # delegation_id is required (nullable)
        await client.send(
            {"type": "session.input_audio.mute", "event_id": "e3", "extra": True}
        )  # unknown field
        await client.send({"type": "session.input_audio.append", "audio": "!!!"})
        await client.feed(tone(300) + silence(600))  # still listening
        await client.wait_for("session.output_audio.delta")
    errors = [(e["error"]["code"], e["error"].get("param")) for e in client.of("error")]
    assert errors == [
        ("invalid_value", "type"),
        ("missing_required_parameter", "delegation_id"),
        ("unknown_parameter", "extra"),
        ("invalid_value", "audio"),
    ]
    assert [e.get("client_event_id") for e in client.of("error")] == ["e1", "e2", "e3", None]
    assert len(server.client_violations) == 4


async def test_events_before_session_start_are_refused() -> None:
    async with live() as (server, client):
        await client.send({"type": "session.input_audio.append", "audio": ""})
        error = await client.wait_for("error")
        started = await client.start()
    assert error["error"]["code"] == "session_not_started"
    assert started["type"] == "session.started"
    assert [v[2].code for v in server.client_violations] == ["session_not_started"]


async def test_it_talks_after_half_a_second_of_silence() -> None:
    async with live(LiveStandinConfig(transcript="What time is it?")) as (server, client):
        await client.start()
        await client.feed(tone(400) + silence(480))
        assert client.voice_ms() == 0  # 480 ms is not yet the end of the turn
        await client.feed(silence(20))
        await client.feed(silence(REPLY_MS + 200))
    fragments = client.of("session.input_transcript.delta")
    assert client.heard() == "What time is it?"
    assert [(f["delta"], f["start_ms"], f["end_ms"]) for f in fragments] == [
        ("What ", 0, 200),  # a fragment every 200 ms of speech
        ("time ", 200, 400),
        ("is it?", 400, 400),  # the rest when the turn ends
    ]
    assert client.voice_ms() == REPLY_MS
    assert client.said() == "It is twelve o'clock."
    # its voice starts after the output it had already sent (silence, output_lead_ms ahead)
    assert client.of("session.output_transcript.delta")[0]["start_ms"] == 900 + 200
    assert server.interruptions == 0
    assert server.client_violations == []


async def test_output_flows_with_the_clock_silence_included() -> None:
    async with live() as (_server, client):
        await client.start()
        await client.feed(silence(1000))
        assert client.audio_ms() == 1000 + 200  # output_lead_ms ahead of the clock, no more
        assert client.voice_ms() == 0
        await client.feed(silence(100))
        assert client.audio_ms() == 1300
    async with live(LiveStandinConfig(continuous_output=False)) as (_server, client):
        await client.start()
        await client.feed(tone(300) + silence(500))
        assert client.audio_ms() == 200  # only its voice, and only the lead ahead
        await client.feed(silence(1000))
        assert client.audio_ms() == client.voice_ms() == REPLY_MS


async def test_speech_over_its_voice_stops_it_and_is_a_turn() -> None:
    config = LiveStandinConfig(
        transcripts=("What time is it?", "Stop"), reply="one two three four five six seven eight"
    )
    async with live(config) as (server, client):
        await client.start()
        await client.feed(tone(300) + silence(500))  # turn ends at 800, its voice at 1000
        await client.feed(silence(400))
        await client.feed(tone(200))  # the user (or a leaking echo) speaks over it at 1200
        stopped_at = client.voice_ms()
        await client.feed(silence(480))
        assert client.voice_ms() == stopped_at  # not a sample more of the first answer
        await client.feed(silence(20))  # 500 ms after the speech: the next turn
        second = client.of("session.input_transcript.delta")[-1]
        await client.feed(silence(2000))
    assert server.interruptions == 1
    assert stopped_at == 600  # 1000..1400 on the timeline, plus the lead already sent
    assert client.heard() == "What time is it?Stop"
    assert (second["delta"], second["end_ms"]) == ("Stop", 1400)
    assert server.answers == [config.reply, config.reply]
    assert client.voice_ms() == stopped_at + 960  # the second answer, whole
    assert server.client_violations == []


async def test_silence_or_quiet_noise_while_it_speaks_does_not_stop_it() -> None:
    config = LiveStandinConfig(reply="one two three four five six seven eight")
    async with live(config) as (server, client):
        await client.start()
        await client.feed(tone(300) + silence(500))
        # quiet noise, then speech too short to be the user (a click or a cough)
        await client.feed(silence(300) + tone(400, amplitude=0.01) + tone(100))
        await client.feed(silence(1000))
    assert server.interruptions == 0
    assert client.voice_ms() == 960
    assert client.said() == config.reply
    assert client.heard() == "What time is it?"  # one turn
    assert server.user_turns == 1


async def _echo_loop(client: Client, gain: float, ms: int, latency_ms: int = 60) -> None:
    """The microphone hears the speaker: each 20 ms of input is its own output, played at the
    clock, ``latency_ms`` late and scaled by ``gain`` (0.5: no echo cancellation; 0.01: -40 dB)."""
    clock = sum(len(base64.b64decode(e["audio"])) for e in client.sent_audio) // 48
    for _ in range(ms // 20):
        out = np.frombuffer(client.audio(), dtype="<i2")
        start = (clock - latency_ms) * 24
        block = out[max(0, start) : max(0, start) + 480].astype(np.float32) * gain
        block = np.pad(block, (0, 480 - len(block)))
        await client.send_audio(block.astype("<i2").tobytes())
        clock += 20


async def test_a_satellite_whose_echo_leaks_interrupts_itself() -> None:
    config = LiveStandinConfig(reply="one two three four five six seven eight")
    async with live(config) as (server, client):
        await client.start()
        await client.feed(tone(300) + silence(500))
        await _echo_loop(client, gain=0.5, ms=1500)
    assert server.interruptions == 1  # its own voice, heard back, stopped it
    assert client.voice_ms() < 960


async def test_a_cancelled_echo_does_not_interrupt_it() -> None:
    config = LiveStandinConfig(reply="one two three four five six seven eight")
    async with live(config) as (server, client):
        await client.start()
        await client.feed(tone(300) + silence(500))
        await _echo_loop(client, gain=0.01, ms=1500)
    assert server.interruptions == 0
    assert client.voice_ms() == 960
    assert server.user_turns == 1


async def test_a_house_request_is_delegated_and_the_commentary_spoken() -> None:
    config = LiveStandinConfig(transcripts=("Turn on the kitchen light",))
    async with live(config) as (server, client):
        await client.start()
        await client.feed(tone(300) + silence(500))
        created = await client.wait_for("session.delegation.created")
        await client.feed(silence(1000))
        assert client.voice_ms() == 0  # it waits for the house
        delegation_id = created["delegation"]["id"]
        await client.send(
            {
                "type": "session.thinking.append",
                "event_id": "t",
                "content": "HA's agent is working on it.",
                "delegation_id": delegation_id,
            }
        )
        await client.feed(silence(200))
        assert client.voice_ms() == 0  # thinking is silent
        await client.send(
            {
                "type": "session.commentary.append",
                "event_id": "c",
                "content": "The kitchen light is on.",
                "delegation_id": delegation_id,
            }
        )
        await client.feed(silence(1000))
    assert created["delegation"] == {"id": delegation_id, "target": "client", "type": "delegation"}
    assert created["offset_ms"] == 800
    assert "content" not in created  # no task text: the app rebuilds it from the transcript
    assert client.of("session.thinking.appended")[0]["client_event_id"] == "t"
    assert client.of("session.commentary.appended")[0]["client_event_id"] == "c"
    assert client.said() == "The kitchen light is on."
    assert server.client_violations == []


async def test_appends_name_a_known_delegation_and_stay_within_500_tokens() -> None:
    async with live() as (server, client):
        await client.start()
        await client.send(
            {"type": "session.commentary.append", "content": "x", "delegation_id": "nope"}
        )
        await client.send(
            {"type": "session.commentary.append", "content": "word " * 600, "delegation_id": None}
        )
        await client.send(
            {"type": "session.commentary.append", "content": "Hello.", "delegation_id": None}
        )
        await client.feed(silence(400))
    assert [(e["error"]["code"], e["error"]["param"]) for e in client.of("error")] == [
        ("invalid_value", "delegation_id"),
        ("string_above_max_length", "content"),
    ]
    assert client.said() == "Hello."  # general commentary is spoken too
    assert len(server.client_violations) == 2


async def test_usage_follows_the_input_audio_clock() -> None:
    async with live(LiveStandinConfig(usage_interval_ms=1000)) as (_server, client):
        await client.start()
        await client.feed(silence(2500))
        await client.send({"type": "session.close"})
        closed = await client.wait_for("session.closed")
    # every usage_interval_ms of the clock, and a last one as the session closes
    assert [e["usage"]["seconds"] for e in client.of("session.usage.updated")] == [1.0, 2.0, 2.5]
    assert closed["usage"] == {"seconds": 2.5}


async def test_mute_makes_it_deaf_but_the_clock_runs() -> None:
    async with live() as (server, client):
        await client.start()
        await client.send({"type": "session.input_audio.mute", "event_id": "m"})
        await client.feed(tone(300) + silence(600))
        await client.send({"type": "session.input_audio.unmute", "event_id": "u"})
        await client.feed(tone(300) + silence(600))
    assert client.of("session.input_audio.muted")[0]["client_event_id"] == "m"
    assert client.of("session.input_audio.unmuted")[0]["client_event_id"] == "u"
    assert client.of("session.input_transcript.delta")[0]["start_ms"] == 900
    assert server.user_turns == 1


async def test_it_closes_the_session_at_its_own_limit() -> None:
    async with live(LiveStandinConfig(max_session_ms=1000)) as (_server, client):
        await client.start()
        for _ in range(10):
            await client.ws.send(append(silence(100)))
        closed = await client.wait_for("session.closed")
        assert await client.closed() == 1000
    assert (closed["reason"], closed["usage"]) == ("expired", {"seconds": 1.0})


async def test_16_khz_in_and_out() -> None:
    async with live() as (_server, client):
        client.rate = 16000
        await client.start(audio={"format": {"type": "audio/pcm", "rate": 16000}})
        await client.feed(tone(300, rate=16000) + silence(500, rate=16000))
        await client.feed(silence(1000, rate=16000))
    assert client.voice_ms() == REPLY_MS
    assert client.audio_ms() == 1800 + 200


@pytest.mark.parametrize(
    ("encoding", "encode", "decode"),
    [
        ("audio/pcmu", g711.ulaw_encode, g711.ulaw_decode),
        ("audio/pcma", g711.alaw_encode, g711.alaw_decode),
    ],
)
async def test_g711_in_and_out(encoding: str, encode: Any, decode: Any) -> None:
    """pcmu and pcma (the types' other AudioFormats) at 8 kHz: a byte a sample both ways."""
    async with live() as (server, client):
        started = await client.start(audio={"format": {"type": encoding, "rate": 8000}})
        for pcm in (tone(300, rate=8000) + silence(500, rate=8000), silence(1000, rate=8000)):
            for offset in range(0, len(pcm), 320):
                await client.send_audio(encode(pcm[offset : offset + 320]), sync=False)
            await client.sync()
    assert started["session"]["audio"]["format"] == {"type": encoding, "rate": 8000}
    out = b"".join(base64.b64decode(e["delta"]) for e in client.of("session.output_audio.delta"))
    assert len(out) == 8 * (1800 + 200)  # a byte a sample at 8 kHz, the clock plus the lead
    samples = np.frombuffer(decode(out), dtype="<i2")
    loud = np.abs(samples[: len(samples) // 160 * 160].reshape(-1, 160)).max(axis=1) > 300
    assert int(np.count_nonzero(loud)) * 20 == REPLY_MS
    assert client.heard() == "What time is it?"
    assert server.client_violations == []


def test_g711_matches_the_reference_codec() -> None:
    """Values from Python 3.12's audioop (the ITU reference code), gone since 3.13."""
    pcm = np.array(
        [0, 1, -1, 100, -100, 1000, -1000, 5000, -5000, 32767, -32768, 12345, -12345], "<i2"
    ).tobytes()
    assert g711.ulaw_encode(pcm).hex() == "ffff7ef272ce4eab2b80009717"
    assert g711.alaw_encode(pcm).hex() == "d5d555d353fa7a8606aa2abd3d"
    ulaw = np.frombuffer(g711.ulaw_decode(bytes([0, 0x7F, 0x80, 0xFF, 0x35])), "<i2")
    alaw = np.frombuffer(g711.alaw_decode(bytes([0, 0x55, 0xD5, 0x80, 0x35])), "<i2")
    assert ulaw.tolist() == [-32124, 0, 32124, 0, -3260]
    assert alaw.tolist() == [-5504, -8, 8, 5504, -8448]


async def test_it_pauses_mid_answer_without_an_event() -> None:
    config = LiveStandinConfig(reply="one two three four", pause_ms=800)
    async with live(config) as (_server, client):
        await client.start()
        await client.feed(tone(300) + silence(500))
        await client.feed(silence(2000))
    samples = np.frombuffer(client.audio(), dtype="<i2")
    loud = np.abs(samples[: len(samples) // 480 * 480].reshape(-1, 480)).max(axis=1) > 300
    runs = [len(list(group)) * 20 for key, group in itertools.groupby(loud) if key]
    assert runs == [300, 300]  # two halves of the answer (at least 300 ms each), 800 ms apart
    first = int(np.argmax(loud))
    assert not loud[first + 15 : first + 15 + 40].any()
    assert client.said() == "one two three four"


@pytest.mark.parametrize("during", ["answer", "delegation"])
async def test_it_closes_a_session_on_its_side_once(during: str) -> None:
    config = LiveStandinConfig(
        transcript="Turn on the light" if during == "delegation" else "What time is it?",
        reply="one two three four five six seven eight",
        close_during=during,  # type: ignore[arg-type]
    )
    async with live(config) as (server, client):
        await client.start()
        with contextlib.suppress(ConnectionClosed):
            for pcm in [tone(300), silence(500)] + [silence(100)] * 10:
                await client.send_audio(pcm, sync=False)
        closed = await client.wait_for("session.closed")
        assert await client.closed() == 1000
        async with connect(server.url, additional_headers=AUTH) as ws:
            again = Client(ws)  # the next session is not closed
            await again.start()
            await again.feed(tone(300) + silence(500))
            await again.feed(silence(1000))
            assert "session.closed" not in again.types()
    assert closed["reason"] == "connection_lost"
    assert server.scripted_closes == 1
    if during == "answer":
        assert 0 < client.voice_ms() < 960  # halfway through its answer
    else:
        assert client.types().index("session.delegation.created") < client.types().index(
            "session.closed"
        )
    assert server.client_violations == []


async def test_a_delegation_never_answered_does_not_hold_the_session() -> None:
    config = LiveStandinConfig(transcripts=("Turn on the kitchen light", "What time is it?"))
    async with live(config) as (server, client):
        await client.start()
        await client.feed(tone(300) + silence(500))
        created = await client.wait_for("session.delegation.created")
        await client.feed(silence(1000))
        assert client.voice_ms() == 0  # no answer from the house: nothing to say about it
        await client.feed(tone(300) + silence(500))  # the next turn is heard and answered
        await client.feed(silence(1000))
        assert client.said() == "It is twelve o'clock."
        await client.send(
            {
                "type": "session.commentary.append",
                "content": "The kitchen light is on.",
                "delegation_id": created["delegation"]["id"],
            }
        )
        await client.feed(silence(1000))  # a late answer is still spoken
        await client.send({"type": "session.close"})
        closed = await client.wait_for("session.closed")
    assert client.said() == "It is twelve o'clock.The kitchen light is on."
    assert closed["reason"] == "close_requested"
    assert server.client_violations == []


async def test_a_key_without_access() -> None:
    async with live(LiveStandinConfig(access="model_not_found")) as (server, client):
        await client.send({"type": "session.start", "event_id": "s", "session": START})
        error = await client.wait_for("error")
        assert await client.closed() == 1008
    assert (error["error"]["code"], error["error"]["param"]) == ("model_not_found", "session.model")
    assert server.connections[0].refused == "model_not_found"
    assert server.client_violations == []
    async with LiveStandinServer(LiveStandinConfig(access="http_403")) as server:
        with pytest.raises(InvalidStatus) as caught:
            await connect(server.url, additional_headers=AUTH)
    assert caught.value.response.status_code == 403


async def test_a_wrong_key() -> None:
    async with LiveStandinServer(LiveStandinConfig(api_key="sk-right")) as server:
        async with connect(server.url, additional_headers=AUTH) as ws:
            client = Client(ws)
            error = await client.wait_for("error")
            assert await client.closed() == 3000
        with pytest.raises(InvalidStatus) as caught:
            await connect(server.url)  # no key at all
    assert error["error"]["code"] == "invalid_api_key"
    assert caught.value.response.status_code == 401
    config = LiveStandinConfig(api_key="sk-right", auth_failure="http")
    async with LiveStandinServer(config) as server:
        with pytest.raises(InvalidStatus) as caught:
            await connect(server.url, additional_headers=AUTH)
    assert caught.value.response.status_code == 401
    assert [c.refused for c in server.connections] == ["http_401"]


async def test_an_unknown_model_is_not_found() -> None:
    async with live() as (_server, client):
        await client.send({"type": "session.start", "session": START | {"model": "gpt-live-9"}})
        error = await client.wait_for("error")
    assert error["error"]["code"] == "model_not_found"


async def test_the_stand_in_refuses_to_send_what_the_types_reject() -> None:
    async with live() as (server, client):
        await client.start()
        (session,) = server._sessions
        with pytest.raises(LiveProtocolError, match="end_ms"):
            await server._send(session, "session.output_transcript.delta", delta="x")
    assert [v[0] for v in server.violations] == ["server"]


async def test_as_a_process(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {"transcripts": ["Turn off the lights", "Thanks"], "replies": ["You're welcome."]}
        )
    )
    script_args = ["--script", str(script), "--api-key", TEST_KEY]
    async with start_process(script_args) as (url, _process, lines):
        assert url.startswith("ws://127.0.0.1:")
        assert url.endswith("/v1/live/sessions")
        async with connect(url, additional_headers=AUTH) as ws:
            client = Client(ws)
            await client.start()
            await client.feed(tone(300) + silence(500))
            created = await client.wait_for("session.delegation.created")
            await client.send(
                {
                    "type": "session.commentary.append",
                    "content": "The lights are off.",
                    "delegation_id": created["delegation"]["id"],
                }
            )
            await client.feed(silence(1500))
            await client.feed(tone(300) + silence(500) + silence(1500))
            await client.send({"type": "session.close"})
            await client.wait_for("session.closed")
        assert client.heard() == "Turn off the lightsThanks"  # fragments of two turns
        assert client.said() == "The lights are off.You're welcome."
    err = "\n".join(lines)
    assert "SIMULATION" in err
    assert "protocol violation" not in err
    assert TEST_KEY not in err


async def test_as_a_process_behind_tls(tmp_path: Path) -> None:
    tls = Tls.create(tmp_path / "tls")
    args = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--access", "model_not_found"]
    async with start_process(args) as (url, _process, lines):
        assert url.startswith("wss://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(tls.bundle))
        async with connect(url, additional_headers=AUTH, ssl=context) as ws:
            client = Client(ws)
            await client.send({"type": "session.start", "session": START})
            error = await client.wait_for("error")
            assert await client.closed() == 1008
    assert error["error"]["code"] == "model_not_found"
    assert "protocol violation" not in "\n".join(lines)
    async with start_process(["--access", "http-403"]) as (url, _process, _lines):
        with pytest.raises(InvalidStatus) as caught:
            await connect(url, additional_headers=AUTH)
    assert caught.value.response.status_code == 403


async def test_close_drains_the_answer_it_is_giving() -> None:
    config = LiveStandinConfig(reply="one two three four five six seven eight")
    async with live(config) as (_server, client):
        await client.start()
        await client.feed(tone(300) + silence(500) + silence(300))  # 500 ms of its voice sent
        await client.send({"type": "session.close", "event_id": "bye"})
        closed = await client.wait_for("session.closed")
        assert await client.closed() == 1000
    assert client.voice_ms() == 960  # the rest of the answer went out before session.closed
    assert client.said() == config.reply
    assert client.types()[-2:] == ["session.usage.updated", "session.closed"]
    assert closed["usage"] == {"seconds": 1.1}


async def test_controls_for_tests() -> None:
    async with live() as (server, client):
        await client.start()
        await server.send_info("data_channel_permissions", "A notice.")
        info = await client.wait_for("info")
        await server.close_sessions("content")
        closed = await client.wait_for("session.closed")
        assert await client.closed() == 1000
    assert (info["code"], info["message"]) == ("data_channel_permissions", "A notice.")
    assert closed["reason"] == "content"
    async with live() as (server, client):
        await client.start()
        await server.wait_live(1)
        assert server.drop_connections() == 1
        assert await client.closed() is None  # no close frame, no session.closed
    assert "session.closed" not in client.types()


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ({"audio": {"output": {"voice": "nobody"}}}, "session.audio.output.voice"),
        (
            {"audio": {"format": {"type": "audio/pcmu", "rate": 16000}}},
            "session.audio.format.rate",
        ),
        (
            {"delegation": {"type": "responses", "responses": {"model": "gpt-5"}}},
            "session.delegation.type",
        ),
    ],
)
async def test_what_it_refuses_in_session_start(session: dict[str, Any], param: str) -> None:
    async with live() as (server, client):
        await client.send({"type": "session.start", "session": START | session})
        error = await client.wait_for("error")
        assert await client.closed() == 1008
    assert (error["error"]["code"], error["error"]["param"]) == ("invalid_value", param)
    # an unknown voice or a G.711 rate is the client's mistake; Responses delegation the stand-in's
    assert len(server.client_violations) == (0 if "delegation" in param else 1)
    if "rate" in param:
        assert "16000" in error["error"]["message"]


async def test_one_start_per_session_and_the_delegation_type_stays() -> None:
    async with live() as (server, client):
        await client.start()
        await client.send({"type": "session.start", "event_id": "again", "session": START})
        await client.send(
            {
                "type": "session.update",
                "event_id": "u",
                "session": {"delegation": {"type": "responses"}},
            }
        )
        await client.send({"type": "response.create", "event_id": "r"})  # no Responses here
        await client.send(
            {
                "type": "session.instructions.append",
                "content": "Say this to the user: The washing machine is done.",
                "delegation_id": None,
            }
        )
        await client.feed(silence(1500))
    codes = [(e["error"]["code"], e.get("client_event_id")) for e in client.of("error")]
    assert codes == [
        ("session_already_started", "again"),
        ("invalid_value", "u"),
        ("invalid_value", "r"),
    ]
    assert client.said() == "The washing machine is done."  # "say ...:" instructions are spoken
    assert len(client.of("session.instructions.appended")) == 1
    assert [v[2].code for v in server.client_violations] == [
        "session_already_started",
        "invalid_value",
        "invalid_value",
    ]


async def test_the_process_with_the_host_openai_package_on_pythonpath() -> None:
    """How it runs in Home Assistant's test environment (openai 3.10): that interpreter with the
    host .venv's openai package linked in front of its own."""
    async with (
        start_process(["--transcript", "Hello"], shim=True) as (url, process, lines),
        connect(url, additional_headers=AUTH) as ws,
    ):
        client = Client(ws)
        await client.start()
        await client.feed(tone(300) + silence(500))
    assert client.heard() == "Hello"
    with tempfile.TemporaryDirectory() as folder:
        _command, env = standin_command(Path(folder), shim=True)
        link = Path(folder) / "openai"
        assert env["PYTHONPATH"].split(os.pathsep)[0] == folder
        assert (
            link.resolve() == next(ROOT.glob(".venv/lib/python3*/site-packages/openai")).resolve()
        )
    assert process.returncode is not None
    assert "protocol violation" not in "\n".join(lines)


async def test_the_process_helper_imports_without_openai_types_live() -> None:
    """HA 2026.10's environment has openai 3.10 (no ``openai.types.live``); its tests start the
    stand-in with ``tests.live_standin.testing``, which must import there."""
    code = (
        "import sys; sys.modules['openai.types.live'] = None\n"
        "from tests.live_standin.testing import start_process, tone, append\n"
        "try:\n    import tests.live_standin.server\nexcept ImportError:\n    print('blocked')\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    out, _err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    assert out.decode().strip() == "blocked"  # the block works, and testing did not need it
