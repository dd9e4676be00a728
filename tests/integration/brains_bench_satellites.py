"""The satellite side of the brains bench (brains_bench.py), in a process of its own so that the
Home Assistant process's CPU is HA's alone: the Realtime stand-in and N satellites reduced to their
link (link_satellite.py), each talking as the real agent does: a wake word, then the microphone's
audio in 20 ms frames paced in real time, until HA stops the listening or an answer starts; in full
duplex (HA's ``listen`` with ``full_duplex``, the Live brain) until HA stops the listening, through
the answer, as the agent's LISTENING_DUPLEX and SPEAKING_DUPLEX phases do.

Run as ``python -m tests.integration.brains_bench_satellites``; one JSON object a line each way:
  {"cmd": "start", "satellites": N}
      -> {"standin": url, "satellites": [{"id", "name", "port", "access_key"}], "speech_bytes": n}
  {"cmd": "talk", "satellites": [id, ...], "seconds": s}
      -> {"rounds": [{"satellite": id, "latency_s": float | null, "error": str | null}]}
  {"cmd": "quit"} -> {}
``speech_bytes``: the link audio of an utterance from the wake word to its last speech frame.
``latency_s``: from the last speech frame sent to the answer's first audible frame received.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from realtime_voice_dev.corpus import load, synthesize
from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinConfig, StandinServer

from .link_satellite import LinkSatellite, silence

API_KEY = "sk-test-0123456789abcdef"
COMMAND = "turn on the kitchen light"
FRAME = protocol.AUDIO_FRAME_BYTES
FRAME_S = FRAME / (2 * protocol.AUDIO_RATE)
SILENT_FRAME = bytes(FRAME)
# A frame is speech when its RMS reaches the stand-in's VAD threshold (StandinConfig.vad_threshold).
SPEECH_RMS = 0.02
ROUND_TIMEOUT_S = 15.0
GAP_S = 0.3  # between one conversation's end and the next wake word


def utterance() -> tuple[list[bytes], int]:
    """The command as link frames (0.3 s of silence, espeak-ng speech up to its last speech
    frame), and how many frames there are up to and including that last speech frame."""
    pcm = silence(0.3) + load(synthesize(COMMAND), protocol.AUDIO_RATE).tobytes()
    frames = [pcm[i : i + FRAME].ljust(FRAME, b"\0") for i in range(0, len(pcm), FRAME)]
    rms = [
        float(np.sqrt(np.mean((np.frombuffer(f, "<i2").astype(np.float64) / 32768) ** 2)))
        for f in frames
    ]
    last = max(i for i, level in enumerate(rms) if level >= SPEECH_RMS)
    return frames[: last + 1], last + 1


@dataclass
class BenchSatellite(LinkSatellite):
    """A link satellite that notes, for the round it talks, when the first audible frame of an
    answer arrives and when the answer ends."""

    listening_over: asyncio.Event = field(default_factory=asyncio.Event)
    answer_over: asyncio.Event = field(default_factory=asyncio.Event)
    first_audio_at: float | None = None
    answer_stream: str | None = None
    error_tones: int = 0
    full_duplex: bool = False  # this round's listening goes on while the answer plays

    def new_round(self) -> None:
        self.listening_over.clear()
        self.answer_over.clear()
        self.first_audio_at = None
        self.answer_stream = None
        self.error_tones = 0
        self.full_duplex = False

    async def on_command(self, command: protocol.Command) -> None:
        match command:
            case protocol.StopListening():
                self.listening_over.set()
            case protocol.Listen(full_duplex=True):
                self.full_duplex = True
            case protocol.PlayStart(kind="chime"):
                self.error_tones += 1
            case protocol.PlayStart(stream_id=stream_id, kind="response"):
                if self.answer_stream is None:  # (full duplex: the first answer is measured)
                    self.answer_stream = stream_id
                if not self.full_duplex:
                    self.listening_over.set()  # the agent stops streaming when an answer starts
            case protocol.PlayEnd(stream_id=stream_id) if stream_id == self.answer_stream:
                self.answer_over.set()
        await super().on_command(command)

    def on_audio(self, pcm: bytes) -> None:
        if (
            self.first_audio_at is None
            and self._current_stream is not None
            and self._current_stream == self.answer_stream
            and np.frombuffer(pcm, "<i2").any()
        ):
            self.first_audio_at = time.monotonic()
        super().on_audio(pcm)


async def talk_once(sat: BenchSatellite, frames: list[bytes]) -> dict[str, Any]:
    """One conversation: wake word, the command paced in real time, silence after it until HA
    stops listening (in full duplex: also while the answer plays, until HA stops listening at the
    conversation's end); the time from the last speech frame sent to the answer's first audio."""
    assert sat.server is not None
    sat.new_round()
    await sat.server.send_event(protocol.Wake(model="hey_jarvis", score=0.9, t=1.0))
    await sat.server.send_event(protocol.ListenStart(reason="wake"))
    loop = asyncio.get_running_loop()
    start = loop.time()
    speech_end: float | None = None
    sent = 0
    while not sat.listening_over.is_set():
        if sent * FRAME_S > ROUND_TIMEOUT_S:
            return {"satellite": sat.satellite_id, "latency_s": None, "error": "still listening"}
        await sat.server.send_audio(frames[sent] if sent < len(frames) else SILENT_FRAME)
        sent += 1
        if sent == len(frames):
            speech_end = time.monotonic()
        await asyncio.sleep(max(0.0, start + sent * FRAME_S - loop.time()))
    try:
        await asyncio.wait_for(sat.answer_over.wait(), ROUND_TIMEOUT_S)
    except TimeoutError:
        return {"satellite": sat.satellite_id, "latency_s": None, "error": "no answer"}
    if speech_end is None or sat.first_audio_at is None:
        error = "cut before the end of speech" if speech_end is None else "silent answer"
        if sat.error_tones:
            error = "error tone"
        return {"satellite": sat.satellite_id, "latency_s": None, "error": error}
    return {
        "satellite": sat.satellite_id,
        "latency_s": sat.first_audio_at - speech_end,
        "error": None,
    }


async def talk(sat: BenchSatellite, frames: list[bytes], seconds: float) -> list[dict[str, Any]]:
    """Conversations one after the other until ``seconds`` have passed (the last one finishes)."""
    until = time.monotonic() + seconds
    rounds = []
    while time.monotonic() < until:
        rounds.append(await talk_once(sat, frames))
        await asyncio.sleep(GAP_S)
    return rounds


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    frames, _ = utterance()
    # 8 words: 0.96 s of tone (tests/realtime_standin/audio.py), about the test TTS's 1 s
    standin = StandinServer(
        StandinConfig(
            endpoint="ga", api_key=API_KEY, reply="Done, the kitchen light is on for you."
        )
    )
    await standin.start()
    satellites: dict[str, BenchSatellite] = {}

    def reply(answer: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()

    try:
        while line := await reader.readline():
            request = json.loads(line)
            match request["cmd"]:
                case "start":
                    for index in range(len(satellites), int(request["satellites"])):
                        sat = BenchSatellite(
                            name=f"Bench {index}", satellite_id=f"bench-{index:04d}"
                        )
                        # as the agent reports its canceller on (the Live brain needs it)
                        sat.info = replace(sat.info, echo_cancellation=True)
                        await sat.start()
                        satellites[sat.satellite_id] = sat
                    reply(
                        {
                            "standin": standin.url,
                            "satellites": [
                                {
                                    "id": s.satellite_id,
                                    "name": s.name,
                                    "port": s.port,
                                    "access_key": s.access_key,
                                }
                                for s in satellites.values()
                            ],
                            "speech_bytes": len(frames) * FRAME,
                        }
                    )
                case "talk":
                    talking = [satellites[sid] for sid in request["satellites"]]
                    results = await asyncio.gather(
                        *(talk(sat, frames, float(request["seconds"])) for sat in talking)
                    )
                    reply({"rounds": [r for rounds in results for r in rounds]})
                case "quit":
                    reply({})
                    return
                case other:
                    raise ValueError(f"unknown command {other!r}")
    finally:
        for sat in satellites.values():
            await sat.stop()
        await standin.stop()


if __name__ == "__main__":
    asyncio.run(serve())
