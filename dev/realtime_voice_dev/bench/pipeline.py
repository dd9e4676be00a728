"""Session path figures (issue #5) for ``realtime-voice bench``: model -> HA -> satellite -> speaker.

Home Assistant is not imported here (``core/`` never imports it): the HA side is made of the same
HA-free parts that ``session_manager.py`` drives, doing what it does per event (:class:`HaSide`):
a real :class:`RealtimeSession` connected to a minimal GA-speaking server written here
(:class:`GaServer`), a real :class:`SatelliteLinkClient` forwarding each ``AudioDelta``'s pcm with
``play_start``/``play_audio``/``play_end``, ``cancel_response`` on ``barge_in`` and ``truncate`` at
the played position on ``playback_stopped``, and the satellite's microphone audio to
``append_audio``. What the session manager adds around that (HA's state machine, entities, the
event bus on conversation start and end) is not measured. The satellite is a real
:class:`SatelliteAgent` whose speaker is :class:`RecordingSink` (pulls 20 ms blocks in real time,
as a sound card does, and notes when sound and silence come out) and whose wake word is
:class:`ScriptedDetector` (the detector interface, firing on request).

Figures:

- first model audio delta -> first sample at the satellite's output: from the server's send of the
  first ``response.output_audio.delta`` (100 ms deltas sent back to back, as the service sends
  faster than real time) to the output block that carries the first non-zero sample. It includes
  the Realtime hop, the session's parsing, the link, the agent's jitter buffer (default 120 ms
  prebuffer, filled by the second delta), resampling to the 48 kHz output and the wait for the
  next 20 ms output block; it excludes the sound card's own buffer. Baseline: the same delta
  relayed over two raw loopback WebSockets (json + base64 decode in the middle). For comparison,
  the same with 20 ms deltas paced in real time: then the prebuffer (and the resampler's start-up
  delay) must fill from real-time audio, and dominates.
- barge-in: wake word detection during playback -> first silent output block; baseline: the next
  output block after the detection (the floor set by 20 ms blocks). Next to it, not part of the
  session path: how long after the end of a spoken "hey jarvis" the agent's DSP + openWakeWord
  chain detects it at the barge-in threshold (offline, espeak-ng clips). And detection ->
  ``conversation.item.truncate`` received by the Realtime server (``barge_in`` and
  ``playback_stopped`` over the link, then ``response.cancel`` and ``truncate``); baseline: a
  small JSON message over two raw loopback WebSockets.
- ten satellites streaming at once: 10 sessions + 10 link clients in a process of their own
  (the HA side), 10 agents and the server in another; both directions at once, 20 ms frames in
  real time; CPU seconds per wall second of the HA process, in % of one core. Baseline: a raw
  relay of the same frames (raw WebSockets, json + base64 only) in the same kind of process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import multiprocessing
import random
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from realtime_voice_core.link import Audio, LinkError, SatelliteLinkClient
from realtime_voice_core.link import protocol as p
from realtime_voice_core.realtime import (
    RealtimeSession,
    RealtimeSettings,
    SessionDescription,
    open_session,
)
from realtime_voice_core.realtime import events as rt
from realtime_voice_satellite.agent.agent import SatelliteAgent
from realtime_voice_satellite.agent.audio_io import Pull
from realtime_voice_satellite.agent.build import build_agent
from realtime_voice_satellite.agent.config import parse_config, with_overrides
from realtime_voice_satellite.audio import DspChain, read_wav
from realtime_voice_satellite.wakeword import Detection, WakeWordDetector

from . import Figure

_LOGGER = logging.getLogger(__name__)

KEY = "bench-access-key-0123456789"
HOST = "127.0.0.1"
OUTPUT_RATE = 48_000  # a typical USB speaker: the player resamples 24 -> 48 kHz
MIC_RATE = 48_000
BLOCK_MS = 20
BYTES_PER_MS = 48  # PCM16 mono 24 kHz

# Sizes of the default run (the test makes them tiny).
FIRST_AUDIO_RUNS = 20
FIRST_AUDIO_MS = 300  # length of each answer in the first-audio runs
PACED_RUNS = 8  # first audio with deltas paced in real time (for comparison)
BARGE_IN_RUNS = 25
BARGE_IN_ANSWER_MS = 3000
DELTA_MS = 100  # size of each delta in the latency runs
RELAY_RUNS = 200
WAKE_CLIPS = (("en", 175), ("en-us", 150), ("en", 200), ("en-us", 175), ("en-gb-x-rp", 165))
SATELLITES = 10
LOAD_SECONDS = 8.0
LOAD_WARMUP_S = 1.0


def _tone(ms: int, offset: int = 0) -> bytes:
    """A 440 Hz tone whose first sample is not zero (PCM16 LE mono 24 kHz)."""
    n = ms * 24
    t = (np.arange(n) + offset) / 24_000
    return (np.cos(2 * np.pi * 440 * t) * 6000).astype("<i2").tobytes()


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


# --- a minimal GA Realtime server --------------------------------------------------------------


def _event_id() -> str:
    return "event_" + secrets.token_hex(8)


def _session_object(model: str) -> dict[str, Any]:
    pcm = {"type": "audio/pcm", "rate": 24000}
    return {
        "type": "realtime",
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "audio": {
            "input": {"format": pcm, "turn_detection": None, "transcription": None},
            "output": {"format": pcm, "voice": "marin", "speed": 1.0},
        },
    }


def _response_object(
    response_id: str, status: str, output: list[dict[str, Any]], audio_ms: int
) -> dict[str, Any]:
    done = status != "in_progress"
    audio_tokens = audio_ms // 50  # about 20 tokens a second of model audio
    return {
        "object": "realtime.response",
        "id": response_id,
        "status": status,
        "status_details": (
            {"type": "cancelled", "reason": "client_cancelled"} if status == "cancelled" else None
        ),
        "output": output,
        "conversation_id": "conv_bench",
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}},
        "metadata": None,
        "usage": (
            {
                "total_tokens": 10 + audio_tokens,
                "input_tokens": 10,
                "output_tokens": audio_tokens,
                "input_token_details": {"text_tokens": 10, "audio_tokens": 0, "cached_tokens": 0},
                "output_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
            }
            if done
            else None
        ),
    }


def _message_item(item_id: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [] if status == "in_progress" else [{"type": "output_audio"}],
    }


def response_events(
    response_id: str, item_id: str, deltas: list[str], status: str = "completed"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The GA events of one spoken answer: (before the audio, one per delta, after the audio)."""
    head: list[dict[str, Any]] = [
        {
            "type": "response.created",
            "event_id": _event_id(),
            "response": _response_object(response_id, "in_progress", [], 0),
        },
        {
            "type": "response.output_item.added",
            "event_id": _event_id(),
            "response_id": response_id,
            "output_index": 0,
            "item": _message_item(item_id, "in_progress"),
        },
    ]
    audio = [
        {
            "type": "response.output_audio.delta",
            "event_id": _event_id(),
            "response_id": response_id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "delta": delta,
        }
        for delta in deltas
    ]
    return head, audio, _tail(response_id, item_id, status, sum(len(d) for d in deltas))


def _tail(response_id: str, item_id: str, status: str, b64_chars: int) -> list[dict[str, Any]]:
    audio_ms = b64_chars * 3 // 4 // BYTES_PER_MS
    item_status = "completed" if status == "completed" else "incomplete"
    return [
        {
            "type": "response.output_audio.done",
            "event_id": _event_id(),
            "response_id": response_id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
        },
        {
            "type": "response.done",
            "event_id": _event_id(),
            "response": _response_object(
                response_id, status, [_message_item(item_id, item_status)], audio_ms
            ),
        },
    ]


def server_event_examples() -> list[dict[str, Any]]:
    """One of each event :class:`GaServer` sends (for the test that validates them)."""
    model = "gpt-realtime"
    head, audio, tail = response_events("resp_1", "item_1", [base64.b64encode(_tone(20)).decode()])
    return [
        {"type": "session.created", "event_id": _event_id(), "session": _session_object(model)},
        {"type": "session.updated", "event_id": _event_id(), "session": _session_object(model)},
        *head,
        *audio,
        *tail,
        *_tail("resp_2", "item_2", "cancelled", 0)[1:],
        {
            "type": "conversation.item.truncated",
            "event_id": _event_id(),
            "item_id": "item_1",
            "content_index": 0,
            "audio_end_ms": 10,
        },
        _cancel_not_active(),
    ]


def _cancel_not_active() -> dict[str, Any]:
    return {
        "type": "error",
        "event_id": _event_id(),
        "error": {
            "type": "invalid_request_error",
            "code": "response_cancel_not_active",
            "message": "Cancellation failed: no active response found",
            "param": None,
            "event_id": None,
        },
    }


class GaServer:
    """Just enough of the GA Realtime API for the session path: a session, spoken answers, cancel.

    ``response.create`` starts an answer of ``answer_ms`` in ``delta_ms`` deltas, sent back to back
    or, with ``realtime``, one every ``delta_ms``; ``response.cancel`` stops it;
    ``conversation.item.truncate`` is acknowledged; appended audio is counted and dropped.
    """

    def __init__(self, *, answer_ms: int, delta_ms: int, realtime: bool = False) -> None:
        self.answer(answer_ms, delta_ms, realtime=realtime)
        self._server: Server | None = None
        self.first_delta_sent: list[float] = []  # perf_counter, one per answer
        self.cancel_received: list[float] = []
        self.truncate_received: list[float] = []
        self.truncated = asyncio.Event()
        self.appended = 0
        self.deltas_sent = 0

    def answer(self, answer_ms: int, delta_ms: int, *, realtime: bool = False) -> None:
        """How the next answers are spoken."""
        self.answer_ms = answer_ms
        self.delta_ms = delta_ms
        self.realtime = realtime
        # One second of tone (a whole number of 440 Hz periods), repeated as long as needed.
        self._deltas = [
            base64.b64encode(_tone(delta_ms, i * delta_ms * 24)).decode()
            for i in range(max(1, 1000 // delta_ms))
        ]

    async def start(self) -> str:
        self._server = await serve(self._serve, HOST, 0, compression=None, max_size=1 << 24)
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://{HOST}:{port}/v1/realtime"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        model = query.get("model", ["gpt-realtime"])[0]
        answer: asyncio.Task[None] | None = None
        await ws.send(
            json.dumps(
                {
                    "type": "session.created",
                    "event_id": _event_id(),
                    "session": _session_object(model),
                }
            )
        )
        try:
            async for frame in ws:
                if isinstance(frame, str) and frame.startswith(
                    '{"type":"input_audio_buffer.append"'
                ):
                    self.appended += 1  # the hot path: no parsing
                    continue
                event = json.loads(frame)
                kind = event.get("type")
                if kind == "session.update":
                    await ws.send(
                        json.dumps(
                            {
                                "type": "session.updated",
                                "event_id": _event_id(),
                                "session": _session_object(model),
                            }
                        )
                    )
                elif kind == "response.create":
                    if answer is not None and not answer.done():
                        answer.cancel()
                    answer = asyncio.create_task(self._answer(ws))
                elif kind == "response.cancel":
                    self.cancel_received.append(time.perf_counter())
                    if answer is not None and not answer.done():
                        answer.cancel()  # it sends response.done (cancelled)
                    else:
                        await ws.send(json.dumps(_cancel_not_active()))
                elif kind == "conversation.item.truncate":
                    self.truncate_received.append(time.perf_counter())
                    self.truncated.set()
                    await ws.send(
                        json.dumps(
                            {
                                "type": "conversation.item.truncated",
                                "event_id": _event_id(),
                                "item_id": event["item_id"],
                                "content_index": event["content_index"],
                                "audio_end_ms": event["audio_end_ms"],
                            }
                        )
                    )
        except ConnectionClosed:
            pass
        finally:
            if answer is not None:
                answer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await answer

    async def _answer(self, ws: ServerConnection) -> None:
        response_id = "resp_" + secrets.token_hex(8)
        item_id = "item_" + secrets.token_hex(8)
        head, _, _ = response_events(response_id, item_id, [])
        for event in head:
            await ws.send(json.dumps(event))
        template = {
            "type": "response.output_audio.delta",
            "response_id": response_id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
        }
        loop = asyncio.get_running_loop()
        due = loop.time()
        sent_chars = 0
        status = "completed"
        try:
            for index in range(max(1, self.answer_ms // self.delta_ms)):
                delta = self._deltas[index % len(self._deltas)]
                if self.realtime:
                    await asyncio.sleep(max(0.0, due - loop.time()))
                    due += self.delta_ms / 1000
                frame = json.dumps({**template, "event_id": _event_id(), "delta": delta})
                if index == 0:
                    self.first_delta_sent.append(time.perf_counter())
                await ws.send(frame)
                sent_chars += len(delta)
                self.deltas_sent += 1
        except asyncio.CancelledError:
            status = "cancelled"
        except ConnectionClosed:
            return
        with contextlib.suppress(ConnectionClosed):
            for event in _tail(response_id, item_id, status, sent_chars):
                if status == "cancelled" and event["type"] == "response.output_audio.done":
                    continue
                await ws.send(json.dumps(event))


# --- the satellite's ends: scripted wake word, paced microphone, recording speaker ------------


class ScriptedDetector:
    """The wake word detector's interface; :meth:`arm` makes the next microphone block a detection."""

    engine = "scripted"

    def __init__(self, name: str = "hey_jarvis") -> None:
        self.names = [name]
        self.thresholds: tuple[float, ...] = (0.5,)
        self.recommended_thresholds: tuple[float, ...] = (0.5,)
        self._armed = False
        self.fired_at = 0.0
        self.on_fire: Callable[[float], None] | None = None

    def arm(self) -> None:
        self._armed = True

    def reset(self) -> None:
        self._armed = False

    def process(self, samples_16k: np.ndarray) -> list[Detection]:
        if not self._armed:
            return []
        self._armed = False
        self.fired_at = time.perf_counter()
        if self.on_fire is not None:
            self.on_fire(self.fired_at)
        return [Detection(self.names[0], 0.0, 0.99)]

    def close(self) -> None:
        return None


class PacedSource:
    """A microphone in a quiet room: low noise, ``BLOCK_MS`` blocks in real time."""

    def __init__(self, rate: int = MIC_RATE) -> None:
        self.rate = rate
        self.block = rate * BLOCK_MS // 1000
        self._noise = (np.random.default_rng(1).standard_normal(self.block * 50) * 30).astype(
            np.int16
        )
        self._index = 0
        self._due = 0.0

    async def start(self) -> None:
        self._due = asyncio.get_running_loop().time()

    def shift(self, seconds: float) -> None:
        """Move the block clock against the speaker's (a real microphone has its own phase)."""
        self._due += seconds

    async def read(self) -> np.ndarray:
        loop = asyncio.get_running_loop()
        self._due += BLOCK_MS / 1000
        await asyncio.sleep(max(0.0, self._due - loop.time()))
        start = (self._index % 50) * self.block
        self._index += 1
        return self._noise[start : start + self.block]

    async def stop(self) -> None:
        return None


class RecordingSink:
    """The AudioSink protocol: pulls a block every ``BLOCK_MS`` in real time, as a sound card does.

    Notes the pull that carries the first non-zero sample after :meth:`expect_sound`, and the
    first silent pull (nothing playing, or zeros) after :meth:`expect_silence`.
    """

    def __init__(self, rate: int = OUTPUT_RATE) -> None:
        self.rate = rate
        self.block = rate * BLOCK_MS // 1000
        self._task: asyncio.Task[None] | None = None
        self.sound_at: float | None = None
        self.sounding = asyncio.Event()
        self._silence_after: float | None = None
        self.silence_at: float | None = None
        self.next_pull_at: float | None = None
        self.silent = asyncio.Event()
        self.blocks = 0

    def expect_sound(self) -> None:
        self.sound_at = None
        self.sounding.clear()

    def expect_silence(self, after: float) -> None:
        self._silence_after = after
        self.silence_at = None
        self.next_pull_at = None
        self.silent.clear()

    async def start(self, pull: Pull) -> None:
        self._task = asyncio.create_task(self._run(pull), name="recording-sink")

    async def _run(self, pull: Pull) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += BLOCK_MS / 1000
            await asyncio.sleep(max(0.0, due - loop.time()))
            now = time.perf_counter()
            block = pull(self.block)
            self.blocks += 1
            sound = block is not None and bool(block.any())
            if sound and self.sound_at is None:
                self.sound_at = now
                self.sounding.set()
            after = self._silence_after
            if after is not None and now >= after:
                if self.next_pull_at is None:
                    self.next_pull_at = now
                if not sound:
                    self.silence_at = now
                    self._silence_after = None
                    self.silent.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _agent(*, own_voice: bool = True) -> tuple[SatelliteAgent, ScriptedDetector, RecordingSink]:
    config = parse_config(
        f"link: {{access_key: {KEY}, host: {HOST}}}\nzeroconf: {{enabled: false}}\n",
        "pipeline-bench",
    )
    # Defaults otherwise (120 ms prebuffer, echo guard, own-voice check for barge-in); without
    # ``own_voice`` barge-in is off, which spares the load test's satellite process a wake word
    # model per agent and changes nothing on the HA side.
    config = with_overrides(
        config,
        link={"port": 0},
        wake_word={"barge_in_threshold": 0.8 if own_voice else 1.0},
    )
    detector = ScriptedDetector()
    sink = RecordingSink()
    agent = build_agent(config, PacedSource(), sink, detector=detector)  # type: ignore[arg-type]
    return agent, detector, sink


# --- the HA side: what session_manager does per event ------------------------------------------


@dataclass(slots=True)
class _Play:
    item_id: str | None = None
    content_index: int = 0
    started: bool = False


class HaSide:
    """The session manager's per-event work, on the HA-free parts it drives.

    Realtime -> link: ``ResponseStarted`` opens a playback; the first ``AudioDelta`` sends
    ``play_start``, every one ``play_audio(pcm)``; ``AudioDone`` sends ``play_end``.
    Link -> Realtime: ``Audio`` -> ``append_audio``; ``BargeIn`` -> ``cancel_response``;
    ``PlaybackStopped`` -> ``truncate(item_id, content_index, played_ms)``.
    """

    def __init__(
        self, session: RealtimeSession, link: SatelliteLinkClient, *, kind: p.PlayKind = "response"
    ) -> None:
        self.session = session
        self.link = link
        self.kind = kind
        self._plays: dict[str, _Play] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.ended: asyncio.Queue[tuple[str, int, bool]] = asyncio.Queue()
        # perf_counter when the first delta's pcm has been sent on the link, one per response
        self.first_forward_at: list[float] = []
        self.bytes_to_satellite = 0
        self.bytes_to_model = 0

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._from_model(), name="ha-side-realtime"),
            asyncio.create_task(self._from_satellite(), name="ha-side-link"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, LinkError):
                await task
        await self.session.close()
        await self.link.close()

    async def _from_model(self) -> None:
        async for event in self.session.events():
            match event:
                case rt.ResponseStarted(response_id=response_id, out_of_band=False):
                    self._plays[response_id] = _Play()
                case rt.AudioDelta(response_id=response_id, item_id=item_id, pcm=pcm):
                    play = self._plays.get(response_id)
                    if play is None:
                        continue  # cancelled or ended: no longer wanted
                    first = not play.started
                    if first:
                        play.started = True
                        play.item_id = item_id
                        play.content_index = event.content_index
                        await self.link.play_start(response_id, self.kind)
                    await self.link.play_audio(pcm)
                    if first:
                        self.first_forward_at.append(time.perf_counter())
                    self.bytes_to_satellite += len(pcm)
                case rt.AudioDone(response_id=response_id):
                    play = self._plays.get(response_id)
                    if play is not None and play.started:
                        await self.link.play_end(response_id)

    async def _from_satellite(self) -> None:
        async for event in self.link.events():
            match event:
                case Audio(pcm=pcm):
                    await self.session.append_audio(pcm)
                    self.bytes_to_model += len(pcm)
                case p.BargeIn():
                    await self.session.cancel_response()
                case p.PlaybackStopped(stream_id=stream_id, played_ms=played_ms):
                    play = self._plays.pop(stream_id, None)
                    if play is not None and play.item_id is not None:
                        await self.session.truncate(play.item_id, play.content_index, played_ms)
                    self.ended.put_nowait((stream_id, played_ms, True))
                case p.PlaybackFinished(stream_id=stream_id, played_ms=played_ms):
                    self._plays.pop(stream_id, None)
                    self.ended.put_nowait((stream_id, played_ms, False))


async def _open_ha_side(url: str, port: int, *, kind: p.PlayKind = "response") -> HaSide:
    session = await open_session(
        RealtimeSettings(api_key="bench-api-key", url=url, model_selection="new"),
        SessionDescription(),
    )
    link = SatelliteLinkClient(HOST, port, KEY)
    try:
        await link.connect()
    except BaseException:
        await session.close()
        raise
    side = HaSide(session, link, kind=kind)
    side.start()
    return side


# --- raw references ----------------------------------------------------------------------------


async def _raw_two_hops(payload: str, runs: int) -> list[float]:
    """ms from a server's send to the far end's receipt, over two raw loopback WebSockets with a
    relay that decodes the JSON (and the base64 audio, when there is some) in the middle."""
    received: asyncio.Queue[float] = asyncio.Queue()
    sends: asyncio.Queue[str | None] = asyncio.Queue()

    async def source(ws: ServerConnection) -> None:
        while (payload := await sends.get()) is not None:
            await ws.send(payload)

    async def far_end(ws: ServerConnection) -> None:
        async for frame in ws:
            if isinstance(frame, bytes):
                np.frombuffer(frame, dtype="<i2")
            received.put_nowait(time.perf_counter())

    async def relay(up: ClientConnection, down: ClientConnection) -> None:
        async for frame in up:
            event = json.loads(frame)
            if "delta" in event:
                await down.send(base64.b64decode(event["delta"]))
            else:
                await down.send(json.dumps(event))

    async with (
        serve(source, HOST, 0, compression=None, max_size=1 << 24) as src,
        serve(far_end, HOST, 0, compression=None, max_size=1 << 24) as dst,
    ):
        up = await connect(
            f"ws://{HOST}:{next(iter(src.sockets)).getsockname()[1]}",
            compression=None,
            max_size=1 << 24,
        )
        down = await connect(
            f"ws://{HOST}:{next(iter(dst.sockets)).getsockname()[1]}", compression=None
        )
        task = asyncio.create_task(relay(up, down))
        samples = []
        try:
            for index in range(runs + 10):
                sent = time.perf_counter()
                sends.put_nowait(payload)
                arrived = await asyncio.wait_for(received.get(), 5)
                if index >= 10:
                    samples.append((arrived - sent) * 1000)
                await asyncio.sleep(0.001)
        finally:
            sends.put_nowait(None)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await task
            await up.close()
            await down.close()
    return samples


# --- first audio and barge-in (one process) ---------------------------------------------------


async def _latencies(
    first_runs: int, paced_runs: int, barge_runs: int, relay_runs: int
) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {
        "first": [],
        "first_paced": [],
        "first_forward": [],
        "silence": [],
        "next_block": [],
        "cancel": [],
        "truncate": [],
    }
    delta_payload = json.dumps(
        {
            "type": "response.output_audio.delta",
            "event_id": _event_id(),
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "delta": base64.b64encode(_tone(DELTA_MS)).decode(),
        }
    )
    results["relay_delta"] = await _raw_two_hops(delta_payload, relay_runs)
    results["relay_event"] = await _raw_two_hops(
        json.dumps({"type": "barge_in", "model": "hey_jarvis", "score": 0.99, "stream_id": "s"}),
        relay_runs,
    )

    server = GaServer(answer_ms=FIRST_AUDIO_MS, delta_ms=DELTA_MS)
    url = await server.start()
    agent, detector, sink = _agent()
    await agent.start()
    side: HaSide | None = None
    try:
        side = await _open_ha_side(url, agent.server.port)
        session = side.session
        detector.on_fire = sink.expect_silence
        # First audio: short answers, each played to its end; deltas back to back (as the
        # service sends), then, for comparison, 20 ms deltas paced in real time.
        for key, runs, delta_ms, realtime in (
            ("first", first_runs, DELTA_MS, False),
            ("first_paced", paced_runs, BLOCK_MS, True),
        ):
            server.answer(FIRST_AUDIO_MS, delta_ms, realtime=realtime)
            for index in range(runs + 1):
                await asyncio.sleep(random.uniform(0.05, 0.05 + BLOCK_MS / 1000))  # any phase
                sink.expect_sound()
                await session.create_response()
                await asyncio.wait_for(sink.sounding.wait(), 5)
                assert sink.sound_at is not None
                await asyncio.wait_for(side.ended.get(), 5)
                if index == 0:
                    continue  # warm-up
                sent = server.first_delta_sent[-1]
                results[key].append((sink.sound_at - sent) * 1000)
                if key == "first":
                    results["first_forward"].append((side.first_forward_at[-1] - sent) * 1000)
        # Barge-in: a long answer, the wake word somewhere in it.
        server.answer(BARGE_IN_ANSWER_MS, DELTA_MS)
        for _ in range(barge_runs):
            sink.expect_sound()
            await session.create_response()
            await asyncio.wait_for(sink.sounding.wait(), 5)
            await asyncio.sleep(random.uniform(0.2, 0.4))
            agent.source.shift(random.uniform(0, BLOCK_MS / 1000))  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)
            server.truncated.clear()
            sink.silent.clear()
            cancels = len(server.cancel_received)
            detector.arm()  # the next microphone block is a detection: agent._hear -> _barge_in
            await asyncio.wait_for(sink.silent.wait(), 5)
            await asyncio.wait_for(server.truncated.wait(), 5)
            await asyncio.wait_for(side.ended.get(), 5)
            fired = detector.fired_at
            assert sink.silence_at is not None
            assert sink.next_pull_at is not None
            results["silence"].append((sink.silence_at - fired) * 1000)
            results["next_block"].append((sink.next_pull_at - fired) * 1000)
            results["truncate"].append((server.truncate_received[-1] - fired) * 1000)
            if len(server.cancel_received) > cancels:
                results["cancel"].append((server.cancel_received[cancels] - fired) * 1000)
            await side.link.stop_listening()  # what HA does when the user's turn ends
            await asyncio.sleep(0.1)
    finally:
        if side is not None:
            await side.stop()
        await agent.stop()
        await server.stop()
    return results


# --- the wake word's own delay during playback (offline, in audio time) ------------------------


def _wake_word_delays() -> tuple[list[float], int]:
    """ms from the end of a spoken "hey jarvis" to its detection by the agent's chain (DSP +
    openWakeWord with the satellite's defaults, at the barge-in threshold that applies during
    playback), fed in 20 ms blocks as the agent does; clean espeak-ng speech, no echo of the answer.
    Returns the delays and how many clips were tried (missed ones have no delay)."""
    if shutil.which("espeak-ng") is None:
        _LOGGER.warning("wake word delay skipped: espeak-ng is not installed")
        return [], 0
    wake = parse_config(f"link: {{access_key: {KEY}}}\n", "pipeline-bench").wake_word
    detector = WakeWordDetector(
        list(wake.models),
        wake.barge_in_threshold,
        trigger_level=wake.trigger_level,
        refractory_s=wake.refractory_s,
        warmup_s=wake.warmup_s,
        engine=wake.engine,  # type: ignore[arg-type]
    )
    delays: list[float] = []
    tried = 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for index, (voice, speed) in enumerate(WAKE_CLIPS):
                path = Path(tmp) / f"wake{index}.wav"
                subprocess.run(
                    ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), "hey jarvis"],
                    check=True,
                    capture_output=True,
                )
                clip, rate = read_wav(path)
                peak = int(np.abs(clip.astype(np.int32)).max())
                loud = np.flatnonzero(np.abs(clip.astype(np.int32)) > peak // 100)  # -40 dB
                lead = int(1.5 * rate)
                word_end = (lead + int(loud[-1]) + 1) / rate
                audio = np.concatenate(
                    [np.zeros(lead, np.int16), clip, np.zeros(int(1.5 * rate), np.int16)]
                )
                detector.reset()
                dsp = DspChain(rate)
                block = rate * BLOCK_MS // 1000
                tried += 1
                for start in range(0, len(audio) - block + 1, block):
                    frame = dsp.process(audio[start : start + block])
                    if len(frame.wake_16k) and detector.process(frame.wake_16k):
                        delays.append(((start + block) / rate - word_end) * 1000)
                        break
    finally:
        detector.close()
    return delays, tried


# --- ten satellites (three processes) --------------------------------------------------------


async def _raw_satellite(ws: ServerConnection) -> None:
    """The baseline's satellite end: 20 ms of microphone audio out every 20 ms, audio in dropped."""
    frame = _tone(BLOCK_MS)

    async def talk() -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += BLOCK_MS / 1000
            await asyncio.sleep(max(0.0, due - loop.time()))
            await ws.send(frame)

    task = asyncio.create_task(talk())
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await task


async def _satellites_main(conn: Any, count: int) -> None:
    server = GaServer(answer_ms=3_600_000, delta_ms=BLOCK_MS, realtime=True)
    url = await server.start()
    agents = [_agent(own_voice=False) for _ in range(count)]
    for agent, _, _ in agents:
        await agent.start()
    raw = [await serve(_raw_satellite, HOST, 0, compression=None) for _ in range(count)]
    conn.send(
        {
            "url": url,
            "agents": [agent.server.port for agent, _, _ in agents],
            "raw": [next(iter(s.sockets)).getsockname()[1] for s in raw],
        }
    )
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)  # "stop"
    underruns = sum(agent.player.underruns for agent, _, _ in agents)
    for s in raw:
        s.close(close_connections=True)
        await s.wait_closed()
    for agent, _, _ in agents:
        await agent.stop()
    await server.stop()
    conn.send({"underruns": underruns, "appended": server.appended, "deltas": server.deltas_sent})


def _satellites_process(conn: Any, count: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_satellites_main(conn, count))


async def _ha_product(ports: dict[str, Any], seconds: float, warmup: float) -> dict[str, float]:
    sides = []
    try:
        for port in ports["agents"]:
            # The answer plays as kind "chime" so that the agent keeps streaming its microphone:
            # both directions at once (a real satellite is half-duplex; this is the HA side's
            # worst case). The HA side's work does not depend on the kind.
            sides.append(await _open_ha_side(ports["url"], port, kind="chime"))
        for side in sides:
            await side.link.listen(3600.0)
            await side.session.create_response()
        await asyncio.sleep(warmup)
        down = sum(s.bytes_to_satellite for s in sides)
        up = sum(s.bytes_to_model for s in sides)
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        down = sum(s.bytes_to_satellite for s in sides) - down
        up = sum(s.bytes_to_model for s in sides) - up
    finally:
        for side in sides:
            await side.stop()
    return {"cpu": cpu, "wall": wall, "down_ms": down / BYTES_PER_MS, "up_ms": up / BYTES_PER_MS}


async def _ha_raw(ports: dict[str, Any], seconds: float, warmup: float) -> dict[str, float]:
    counts = {"down": 0, "up": 0}

    async def relay(url: str, port: int) -> None:
        async with (
            connect(url, compression=None, max_size=1 << 24) as model,
            connect(f"ws://{HOST}:{port}", compression=None) as satellite,
        ):
            await model.send(json.dumps({"type": "response.create"}))

            async def down() -> None:
                async for frame in model:
                    event = json.loads(frame)
                    if event["type"] == "response.output_audio.delta":
                        pcm = base64.b64decode(event["delta"])
                        await satellite.send(pcm)
                        counts["down"] += len(pcm)

            async def up() -> None:
                async for frame in satellite:
                    await model.send(
                        '{"type":"input_audio_buffer.append","audio":"'
                        + base64.b64encode(frame).decode("ascii")  # type: ignore[arg-type]
                        + '"}'
                    )
                    counts["up"] += len(frame)

            await asyncio.gather(down(), up())

    tasks = [asyncio.create_task(relay(ports["url"], port)) for port in ports["raw"]]
    try:
        await asyncio.sleep(warmup)
        before = dict(counts)
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await task
    return {
        "cpu": cpu,
        "wall": wall,
        "down_ms": (counts["down"] - before["down"]) / BYTES_PER_MS,
        "up_ms": (counts["up"] - before["up"]) / BYTES_PER_MS,
    }


def _ha_process(conn: Any, mode: str, ports: dict[str, Any], seconds: float, warmup: float) -> None:
    logging.basicConfig(level=logging.WARNING)
    run = _ha_product if mode == "product" else _ha_raw
    conn.send(asyncio.run(run(ports, seconds, warmup)))


def _receive(conn: Any, process: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not conn.poll(0.2):
        if not process.is_alive():
            raise RuntimeError(f"{process.name} ended (exit code {process.exitcode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{process.name} gave no answer in {timeout:.0f} s")
    return conn.recv()


def _load(count: int, seconds: float, warmup: float) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")  # no copied event loop or threads
    sat_conn, sat_child = ctx.Pipe()
    satellites = ctx.Process(
        target=_satellites_process, args=(sat_child, count), name="bench-satellites", daemon=True
    )
    satellites.start()
    results: dict[str, Any] = {}
    try:
        ports = _receive(sat_conn, satellites, 120)
        for mode in ("product", "raw"):
            ha_conn, ha_child = ctx.Pipe()
            ha = ctx.Process(
                target=_ha_process,
                args=(ha_child, mode, ports, seconds, warmup),
                name=f"bench-ha-{mode}",
                daemon=True,
            )
            ha.start()
            try:
                results[mode] = _receive(ha_conn, ha, 120 + seconds)
            finally:
                ha.join(30)
                if ha.is_alive():
                    ha.kill()
                    ha.join()
        sat_conn.send("stop")
        results["satellites"] = _receive(sat_conn, satellites, 60)
    finally:
        satellites.join(30)
        if satellites.is_alive():
            satellites.kill()
            satellites.join()
    return results


# --- figures ----------------------------------------------------------------------------------


def collect() -> list[Figure]:
    lat = asyncio.run(_latencies(FIRST_AUDIO_RUNS, PACED_RUNS, BARGE_IN_RUNS, RELAY_RUNS))
    _LOGGER.debug("latencies (ms): %s", lat)
    wake_delays, wake_tried = _wake_word_delays()
    _LOGGER.debug("wake word delays (ms): %s of %d clips", wake_delays, wake_tried)
    load = _load(SATELLITES, LOAD_SECONDS, LOAD_WARMUP_S)
    _LOGGER.debug("load: %s", load)
    product, raw = load["product"], load["raw"]
    for name, result in (("HA side", product), ("raw relay", raw)):
        for direction in ("down_ms", "up_ms"):
            # Each direction carries SATELLITES streams of real-time audio.
            if result[direction] < 0.9 * SATELLITES * result["wall"] * 1000:
                _LOGGER.warning(
                    "%s relayed %.0f ms of audio %s in %.1f s for %d satellites: it did not keep up",
                    name,
                    result[direction],
                    "to the satellites" if direction == "down_ms" else "to the model",
                    result["wall"],
                    SATELLITES,
                )
    relay_delta = _percentile(lat["relay_delta"], 50)
    relay_event = _percentile(lat["relay_event"], 50)
    prefix = "session (HA-free parts)"
    figures = [
        Figure(
            f"{prefix}: first delta -> satellite output p50",
            round(_percentile(lat["first"], 50), 2),
            "ms",
            "< 60 ms",
            round(relay_delta, 3),
        ),
        Figure(
            f"{prefix}: first delta -> satellite output p95",
            round(_percentile(lat["first"], 95), 2),
            "ms",
            "< 60 ms",
            round(_percentile(lat["relay_delta"], 95), 3),
        ),
        Figure(
            f"{prefix}: first delta -> satellite output p50, real-time deltas",
            round(_percentile(lat["first_paced"], 50), 2),
            "ms",
            None,
            round(relay_delta, 3),
        ),
        Figure(
            f"{prefix}: first delta -> sent on the link p50",
            round(_percentile(lat["first_forward"], 50), 3),
            "ms",
            None,
            round(relay_delta, 3),
        ),
        Figure(
            f"{prefix}: barge-in -> silence at output p50",
            round(_percentile(lat["silence"], 50), 2),
            "ms",
            "< 150 ms",
            round(_percentile(lat["next_block"], 50), 2),
        ),
        Figure(
            f"{prefix}: barge-in -> silence at output max",
            round(max(lat["silence"], default=float("nan")), 2),
            "ms",
            "< 150 ms",
            round(max(lat["next_block"], default=float("nan")), 2),
        ),
        Figure(
            f"{prefix}: barge-in -> truncate at server p50",
            round(_percentile(lat["truncate"], 50), 2),
            "ms",
            None,
            round(relay_event, 3),
        ),
        Figure(
            f"{prefix}: {SATELLITES} satellites streaming, HA-side CPU",
            round(product["cpu"] / product["wall"] * 100, 2),
            "% of core",
            "< 20%",
            round(raw["cpu"] / raw["wall"] * 100, 2),
        ),
    ]
    if wake_tried:
        # Not the session path: what the wake word itself takes before barge-in starts.
        figures.insert(
            6,
            Figure(
                f"wake word during playback: end of spoken word -> detection p50 "
                f"({len(wake_delays)}/{wake_tried} detected)",
                round(_percentile(wake_delays, 50), 1),
                "ms",
                None,
                None,
            ),
        )
    return figures


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO)
    for figure in collect():
        print(figure)
