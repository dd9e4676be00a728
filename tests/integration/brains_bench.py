"""The brains bench (issue #26 item 5), inside real Home Assistant (HA's test harness, as the
integration tests run): the time from the end of the user's speech to the first answer audio at the
satellite, and HA's CPU per active conversation, for the Realtime brain beside the Assist pipeline
brain and the Live brain (GPT-Live, full duplex), each beside a floor measured in the same run.

The services answer at once, so the figures are our overhead (and HA's, for the pipeline): the
Realtime stand-in (tests/realtime_standin) sends its answer as soon as its voice activity detection
hears the end; the pipeline's STT (pipeline_providers.py) gives its transcript as soon as HA's VAD
ends the audio, its conversation agent answers at once, its TTS gives a 1 s WAV at once; the Live
stand-in (tests/live_standin, a process of its own) answers as soon as its turn detection has heard
500 ms of silence, without delegating (as the Realtime stand-in answers without a tool). The floor
is the same satellite -> HA -> satellite loop with a canned brain that answers the moment it has the
whole utterance (it knows its length) with 1 s of canned audio: link, conversation engine and stream
sender, no service and no voice activity detection.

The satellites and the stand-in run in a process of their own (brains_bench_satellites.py), so that
this process's CPU is HA's. Not collected by a plain test run (the name does not start with
``test_``): ``realtime-voice bench --area brains`` runs it (dev/realtime_voice_dev/bench/brains.py),
and test_brains_bench.py runs it briefly. The plan comes from the environment variable
``REALTIME_VOICE_BENCH_BRAINS`` (JSON: Plan's fields and ``out``, the file for the figures).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from homeassistant.components import conversation
from homeassistant.components.assist_pipeline import (
    PipelineEvent,
    PipelineEventType,
    async_update_pipeline,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import intent
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.realtime_voice.const import (
    CONF_ACCESS_KEY,
    CONF_ACCOUNT,
    CONF_CONVERSATION_MODE,
    CONF_FOLLOW_UP_SECONDS,
    CONF_HOST,
    CONF_LIVE_URL,
    CONF_PORT,
    CONF_SATELLITE_ID,
    DOMAIN,
    MODE_LIVE,
    MODE_PIPELINE,
    MODE_REALTIME,
)
from custom_components.realtime_voice.core.conversation import (
    BrainAbilities,
    SpeakError,
    Turn,
)
from custom_components.realtime_voice.core.conversation import brain as b
from custom_components.realtime_voice.core.live import LiveSession
from custom_components.realtime_voice.core.realtime import TurnDetection
from custom_components.realtime_voice.live_brain import LiveBrain
from custom_components.realtime_voice.pipeline_brain import PipelineBrain
from custom_components.realtime_voice.session_manager import SessionManager
from tests.live_standin.testing import start_process

from .conftest import account_for
from .pipeline_providers import (
    Providers,
    hass_config_dir,  # noqa: F401 (fixtures)
    providers_in,
)
from .waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk-test-0123456789abcdef"  # the satellite process's stand-in accepts only this key
PLAN_VARIABLE = "REALTIME_VOICE_BENCH_BRAINS"
ANSWER_RATE = 24_000
LINK_BYTES_PER_MS = 48  # PCM16 mono 24 kHz
HA_VAD_SILENCE_MS = 700  # HA's VAD at its default sensitivity (assist_pipeline.vad, "default")
# The Realtime brain's server VAD answers after this much silence (the stand-in's VAD waits exactly
# that much audio after the last frame it hears as speech, the satellite process's definition).
REALTIME_VAD_WAIT_S = TurnDetection().silence_duration_ms / 1000
# The Live stand-in's turn detection ends the user's turn after this much silence (its
# LiveStandinConfig.silence_ms; not imported: tests.live_standin.server needs openai.types.live,
# which HA's openai lacks), with the same threshold as the Realtime stand-in's VAD. Its answer
# starts where its output, streamed in 100 ms deltas ahead of its clock, has got to: up to 80 ms
# of audio later (measured: the session's input clock when the answer's first audio came).
LIVE_VAD_WAIT_S = 0.5
# What the Live stand-in hears and answers: the same words as the Realtime stand-in's answer, and
# no delegation (a pattern that never matches), so that both answer without HA's agent.
LIVE_SCRIPT = {
    "transcript": "Turn on the kitchen light.",
    "reply": "Done, the kitchen light is on for you.",
    "delegate_pattern": "(?!)",
}
# The canned brain's answer: 1 s of a 440 Hz tone in 100 ms deltas, as the stand-in (0.96 s of
# tone, in 100 ms deltas) and the test TTS (a 1 s WAV) answer.
CANNED_ANSWER = (
    (0.3 * 32767 * np.sin(2 * np.pi * 440.0 * np.arange(ANSWER_RATE) / ANSWER_RATE))
    .astype("<i2")
    .tobytes()
)
DELTA_BYTES = ANSWER_RATE * 2 // 10
# Brains in the order they run, with the names the figures give them.
BRAINS = {
    "canned": "floor (canned brain)",
    "realtime": "Realtime",
    "pipeline": "Assist pipeline",
    "live": "Live",
}
# The brains measured beside the floor, and the satellite entry's mode for each brain.
SERVICE_BRAINS = ("realtime", "pipeline", "live")
MODES = {
    "canned": MODE_PIPELINE,  # (its brain replaced by the canned one)
    "realtime": MODE_REALTIME,
    "pipeline": MODE_PIPELINE,
    "live": MODE_LIVE,
}


@dataclass(frozen=True, slots=True)
class Plan:
    concurrent: int = 5  # conversations at once for the second CPU figure
    seconds: float = 30.0  # one satellite talking, conversation after conversation
    concurrent_seconds: float = 10.0  # ``concurrent`` satellites talking
    idle_seconds: float = 5.0  # the satellites linked, nobody talking

    @classmethod
    def from_environment(cls) -> tuple[Plan, Path | None]:
        raw = json.loads(os.environ.get(PLAN_VARIABLE) or "{}")
        out = raw.pop("out", None)
        known = {f.name: f.type for f in fields(cls)}
        if unknown := set(raw) - set(known):
            raise ValueError(
                f"{PLAN_VARIABLE}: unknown keys {sorted(unknown)} (known: {sorted(known)})"
            )
        for key, value in raw.items():
            kind = int if known[key] == "int" else (int, float)
            if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
                raise ValueError(
                    f"{PLAN_VARIABLE}: {key} must be a positive {known[key]}: {value!r}"
                )
        return cls(**raw), Path(out) if out else None


class CannedBrain:
    """The floor: answers the moment it has heard ``speech_bytes`` of the user's audio (the whole
    utterance from the wake word), with canned audio; no service, no voice activity detection."""

    def __init__(self, hass: HomeAssistant, speech_bytes: int) -> None:
        self.hass = hass
        self.speech_bytes = speech_bytes
        self._handler: Callable[[b.BrainEvent], Awaitable[None]] | None = None
        self._heard = 0
        self._answered = True
        self._answers = 0

    @property
    def abilities(self) -> BrainAbilities:
        return BrainAbilities()

    def attach(self, handler: b.BrainEventHandler) -> None:
        self._handler = handler

    async def start(self) -> None:
        return

    async def stop(self) -> None:
        return

    async def start_turn(self, turn: Turn, take_audio: Callable[[], bytes]) -> None:
        self._heard, self._answered = 0, False
        await self.send_audio(take_audio())

    async def send_audio(self, pcm: bytes) -> None:
        self._heard += len(pcm)
        if not self._answered and self._heard >= self.speech_bytes:
            self._answered = True
            self.hass.async_create_task(self._answer(), eager_start=False)

    async def _answer(self) -> None:
        assert self._handler is not None
        self._answers += 1
        answer_id = f"canned-{self._answers}"
        await self._handler(b.SpeechStopped())
        await self._handler(b.AnswerStarted(answer_id))
        for start in range(0, len(CANNED_ANSWER), DELTA_BYTES):
            await self._handler(
                b.AnswerAudio(answer_id, CANNED_ANSWER[start : start + DELTA_BYTES])
            )
        await self._handler(b.AnswerAudioDone(answer_id))
        await self._handler(b.AnswerDone(answer_id, "done"))

    async def next_turn(self) -> None:
        return

    async def cancel(self) -> None:
        return

    async def truncate(self, answer_id: str, played_ms: int) -> None:
        return

    async def end_turn(self, *, answering: bool, listening: bool) -> None:
        self._answered = True

    def drop_context(self, done: Callable[[], None]) -> None:
        done()

    def listen_at_least_s(self) -> float:
        return 0.0

    async def speak(self, text: str) -> AsyncIterator[bytes]:
        raise SpeakError("the canned brain does not speak announcements")
        yield b""  # an async generator, as the protocol's speak is


class InstantAgent(conversation.AbstractConversationAgent):
    """The pipeline's conversation agent: answers every command at once."""

    @property
    def supported_languages(self) -> str:
        return "*"

    async def async_process(
        self, user_input: conversation.ConversationInput
    ) -> conversation.ConversationResult:
        response = intent.IntentResponse(language=user_input.language)
        response.async_set_speech("Done, the kitchen light is on.")
        return conversation.ConversationResult(
            response=response, conversation_id=user_input.conversation_id
        )


@pytest.fixture(autouse=True)
async def enable_event_loop_debug() -> None:
    """HA's test harness runs the event loop in debug mode (slow); a real hass does not."""
    asyncio.get_running_loop().set_debug(False)


@pytest.fixture
async def bench_providers(hass: HomeAssistant) -> AsyncIterator[Providers]:
    """The test STT and TTS in "Test pipeline", with the instant agent."""
    async with providers_in(hass) as providers:
        owner = MockConfigEntry(domain="test")
        owner.add_to_hass(hass)
        conversation.async_set_agent(hass, owner, InstantAgent())
        assert providers.pipeline is not None
        await async_update_pipeline(hass, providers.pipeline, conversation_engine=owner.entry_id)
        yield providers


class Satellites:
    """The satellite process (brains_bench_satellites.py), one JSON line a request."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> Satellites:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.brains_bench_satellites",
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def ask(self, **request: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the satellite process ended (exit {await self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def close(self) -> None:
        if self.process.returncode is None:
            await self.ask(cmd="quit")
        await self.process.wait()


def cpu_seconds() -> float:
    """This process's CPU time, and its finished children's (HA's ffmpeg conversions; the
    satellite process is still running, so not counted)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def cpu_share() -> Iterator[list[float]]:
    """CPU seconds per wall second of what runs in the block (into the list it yields)."""
    result: list[float] = []
    cpu, wall = cpu_seconds(), time.monotonic()
    yield result
    result.append((cpu_seconds() - cpu) / (time.monotonic() - wall))


def satellite_entry(
    sat: dict[str, Any], mode: str, account: MockConfigEntry | None, live_url: str
) -> MockConfigEntry:
    data = {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: sat["port"],
        CONF_ACCESS_KEY: sat["access_key"],
        CONF_SATELLITE_ID: sat["id"],
    }
    if account is not None:
        data[CONF_ACCOUNT] = account.entry_id
    return MockConfigEntry(
        domain=DOMAIN,
        title=sat["name"],
        unique_id=sat["id"],
        version=2,
        data=data,
        options={
            CONF_CONVERSATION_MODE: mode,
            CONF_FOLLOW_UP_SECONDS: 0.0,
            **({CONF_LIVE_URL: live_url} if mode == MODE_LIVE else {}),
        },
    )


async def load_satellites(
    hass: HomeAssistant,
    brain: str,
    satellites: list[dict[str, Any]],
    started: dict[str, Any],
) -> list[MockConfigEntry]:
    """An entry for each satellite with ``brain``, linked (and its Realtime session open, its
    pipeline chosen; Live: the Realtime session beside it open, no Live session before a wake
    word). ``started``: the services' URLs (``standin``, ``live``) and ``speech_bytes``."""
    account = None
    if brain in ("realtime", "live"):
        account = account_for(started["standin"], API_KEY)
        account.add_to_hass(hass)
    entries = [satellite_entry(sat, MODES[brain], account, started["live"]) for sat in satellites]
    make_brain = SessionManager._make_brain

    def canned(manager: SessionManager) -> Any:
        make_brain(manager)  # the pipeline brain stays for what the entities read
        return CannedBrain(hass, started["speech_bytes"])

    with patch.object(SessionManager, "_make_brain", canned) if brain == "canned" else _nothing():
        for entry in entries:
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    for entry in entries:
        await wait_until(lambda entry=entry: entry.runtime_data.link.available, within=20)  # type: ignore[misc]
        if brain in ("realtime", "live"):
            await wait_until(
                lambda entry=entry: entry.runtime_data.manager.session is not None, within=20
            )  # type: ignore[misc]
        if brain == "pipeline":
            select = er.async_get(hass).async_get_entity_id(
                "select", DOMAIN, f"{entry.unique_id}-pipeline"
            )
            await hass.services.async_call(
                "select",
                "select_option",
                {"entity_id": select, "option": "Test pipeline"},
                blocking=True,
            )
    if account is not None:
        entries.append(account)
    return entries


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def measure_brain(
    hass: HomeAssistant, satellites: Satellites, started: dict[str, Any], brain: str, plan: Plan
) -> dict[str, Any]:
    """Idle CPU, then one satellite talking, then ``plan.concurrent`` at once."""
    linked = started["satellites"][: plan.concurrent]
    entries = await load_satellites(hass, brain, linked, started)
    await asyncio.sleep(1.0)  # what setting up started settles
    result: dict[str, Any] = {}
    # where in the run's audio (ms from the wake word) the brain's turn detection ended the
    # user's turn: HA's stt-vad-end; for Live, the session's input clock (the audio sent to it:
    # its clock moves only with input) when the answer's first audio came
    vad_ends_ms: list[float] = []
    on_pipeline_event = PipelineBrain.on_pipeline_event
    append_audio = LiveSession.append_audio
    emit = LiveBrain._emit
    appended: dict[str, int] = {}  # Live session id -> bytes of audio sent to it

    def noting_vad_end(brain: PipelineBrain, event: PipelineEvent) -> None:
        if event.type == PipelineEventType.STT_VAD_END and event.data:
            vad_ends_ms.append(float(event.data["timestamp"]))
        on_pipeline_event(brain, event)

    async def counting_append(session: LiveSession, pcm: bytes) -> bool:
        appended[session.session_id] = appended.get(session.session_id, 0) + len(pcm)
        return await append_audio(session, pcm)

    async def noting_answer_start(live: LiveBrain, event: b.BrainEvent) -> None:
        session = live.live_session
        if isinstance(event, b.AnswerStarted) and session is not None:
            vad_ends_ms.append(appended.get(session.session_id, 0) / LINK_BYTES_PER_MS)
        await emit(live, event)

    with cpu_share() as idle:
        await asyncio.sleep(plan.idle_seconds)
    result["idle_cpu"] = idle[0]
    for key, count, seconds in (
        ("one", 1, plan.seconds),
        ("many", plan.concurrent, plan.concurrent_seconds),
    ):
        ids = [sat["id"] for sat in linked[:count]]
        vad_ends_ms.clear()
        with (
            patch.object(PipelineBrain, "on_pipeline_event", noting_vad_end),
            patch.object(LiveSession, "append_audio", counting_append),
            patch.object(LiveBrain, "_emit", noting_answer_start),
            cpu_share() as busy,
        ):
            answer = await satellites.ask(cmd="talk", satellites=ids, seconds=seconds)
        rounds = answer["rounds"]
        result[key] = {
            "conversations": count,
            "cpu": busy[0],
            "latencies_s": [r["latency_s"] for r in rounds if r["latency_s"] is not None],
            "errors": [r["error"] for r in rounds if r["error"] is not None],
            # how much audio after the last speech frame the turn detection took to end the turn
            # (HA's VAD; the Live stand-in's, up to its first answer audio)
            "vad_wait_s": [
                (at_ms - started["speech_bytes"] / LINK_BYTES_PER_MS) / 1000
                for at_ms in vad_ends_ms
            ],
        }
        await asyncio.sleep(1.0)  # the last conversations end
    for entry in entries:
        assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    return result


def figures(results: dict[str, dict[str, Any]], plan: Plan) -> list[dict[str, Any]]:
    """The figures (name, value, unit, target, baseline) of the bench's results: each brain's
    latency beside the floor's, its CPU beside idle HA with the same satellites linked."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: float, unit: str, baseline: float | None) -> None:
        out.append(
            {"name": name, "value": value, "unit": unit, "target": None, "baseline": baseline}
        )

    floor = results["canned"]
    many = f"{plan.concurrent} at once"
    for key, label, q in (
        ("one", "1 conversation", 50),
        ("one", "1 conversation", 95),
        ("many", many, 50),
    ):
        for brain in SERVICE_BRAINS:
            add(
                f"brains: end of speech -> first answer audio p{q}, {BRAINS[brain]}, {label}; "
                f"baseline {BRAINS['canned']}",
                1000 * percentile(results[brain][key]["latencies_s"], q),
                "ms",
                1000 * percentile(floor[key]["latencies_s"], q),
            )
    # what is left once the audio the VAD waits for has come (the canned brain has no VAD)
    vad_wait_s = {
        "realtime": REALTIME_VAD_WAIT_S,
        "pipeline": percentile(results["pipeline"]["one"]["vad_wait_s"], 50),
        "live": percentile(results["live"]["one"]["vad_wait_s"], 50),
    }
    for brain in SERVICE_BRAINS:
        add(
            f"brains: the VAD's end -> first answer audio p50, {BRAINS[brain]}, 1 conversation; "
            f"baseline {BRAINS['canned']}",
            1000 * (percentile(results[brain]["one"]["latencies_s"], 50) - vad_wait_s[brain]),
            "ms",
            1000 * percentile(floor["one"]["latencies_s"], 50),
        )
    add(
        f"brains: HA's VAD, audio after the last speech frame until it heard the end p50, "
        f"{BRAINS['pipeline']}, 1 conversation; baseline its silence setting",
        1000 * percentile(results["pipeline"]["one"]["vad_wait_s"], 50),
        "ms",
        HA_VAD_SILENCE_MS,
    )
    add(
        f"brains: the Live stand-in, audio after the last speech frame until its answer began "
        f"p50, {BRAINS['live']}, 1 conversation; baseline its silence setting",
        1000 * percentile(results["live"]["one"]["vad_wait_s"], 50),
        "ms",
        1000 * LIVE_VAD_WAIT_S,
    )
    for brain, name in BRAINS.items():
        r = results[brain]
        for key, label in (("one", "1 conversation"), ("many", f"{plan.concurrent} at once")):
            add(
                f"brains: HA CPU, {label}, {name}; baseline idle, "
                f"{plan.concurrent} satellites linked",
                100 * r[key]["cpu"],
                "% of core",
                100 * r["idle_cpu"],
            )
    for brain in SERVICE_BRAINS:
        per = {
            name: 100 * (results[name]["many"]["cpu"] - results[name]["idle_cpu"]) / plan.concurrent
            for name in ("canned", brain)
        }
        add(
            f"brains: HA CPU per active conversation ({plan.concurrent} at once), "
            f"{BRAINS[brain]}; baseline {BRAINS['canned']}",
            per[brain],
            "% of core",
            per["canned"],
        )
    return out


async def measure(hass: HomeAssistant, plan: Plan) -> dict[str, Any]:
    """Every brain's results and the figures; ``errors``: conversations that went wrong (and
    the Live stand-in's protocol violations: events either side sent that the openai types
    reject)."""
    with tempfile.TemporaryDirectory(prefix="brains-bench-") as folder:
        script = Path(folder) / "live.json"
        script.write_text(json.dumps(LIVE_SCRIPT))
        live_args = ("--api-key", API_KEY, "--script", str(script))
        async with start_process(live_args) as (live_url, _process, live_log):
            satellites = await Satellites.start()
            try:
                started = await satellites.ask(cmd="start", satellites=plan.concurrent)
                started["live"] = live_url
                results = {
                    brain: await measure_brain(hass, satellites, started, brain, plan)
                    for brain in BRAINS
                }
            finally:
                await satellites.close()
    errors = {
        f"{brain} {key}": r[key]["errors"]
        for brain, r in results.items()
        for key in ("one", "many")
        if r[key]["errors"]
    }
    if violations := [line for line in live_log if "protocol violation" in line]:
        errors["live stand-in"] = violations
    return {
        "plan": asdict(plan),
        "results": results,
        "figures": figures(results, plan),
        "errors": errors,
    }


@pytest.mark.timeout(1800)
@pytest.mark.usefixtures("entities_enabled", "bench_providers")
async def test_brains_bench(hass: HomeAssistant) -> None:
    """Runs the bench with the plan of ``REALTIME_VOICE_BENCH_BRAINS``; writes to its ``out``."""
    plan, out = Plan.from_environment()
    report = await measure(hass, plan)
    if out is not None:
        out.write_text(json.dumps(report))
    assert not report["errors"], report["errors"]
