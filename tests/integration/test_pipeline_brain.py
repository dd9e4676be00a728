"""Pipeline mode inside real HA: the satellite's conversations run through HA's Assist pipeline (a
test STT and TTS provider, HA's default conversation agent and a real light), with no OpenAI
account at all.

The satellite is the real link server (link_satellite.py); the user's words are espeak-ng speech,
which HA's own voice activity detection hears start and end.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from homeassistant.components import conversation
from homeassistant.components.assist_pipeline import async_update_pipeline
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import intent
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.realtime_voice.const import (
    CONF_ACCESS_KEY,
    CONF_CONVERSATION_MODE,
    CONF_FOLLOW_UP_SECONDS,
    CONF_HOST,
    CONF_PORT,
    CONF_SATELLITE_ID,
    DOMAIN,
    MODE_PIPELINE,
)
from custom_components.realtime_voice.pipeline_brain import PipelineBrain
from custom_components.realtime_voice.tone import chime_pcm
from realtime_voice_dev.corpus import espeak_available, load, synthesize
from realtime_voice_satellite.link import protocol

from .link_satellite import LinkSatellite, silence
from .pipeline_providers import (
    TTS_SECONDS,
    TTS_TONE_HZ,
    Providers,
    dominant_hz,
    hass_config_dir,  # noqa: F401 (fixtures)
)
from .waiting import collect, wait_until

pytestmark = [
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech"),
    pytest.mark.timeout(60),
]

ENDED = "realtime_voice_conversation_ended"


def speech(text: str) -> bytes:
    """``text`` spoken (espeak-ng) as link audio, with the silence after it that ends it."""
    return silence(0.3) + load(synthesize(text), protocol.AUDIO_RATE).tobytes() + silence(1.5)


def pipeline_entry(satellite: LinkSatellite, **options: Any) -> MockConfigEntry:
    """A satellite entry as the config flow creates it without an OpenAI account."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=satellite.name,
        unique_id=satellite.satellite_id,
        version=2,
        data={
            CONF_HOST: "127.0.0.1",
            CONF_PORT: satellite.port,
            CONF_ACCESS_KEY: satellite.access_key,
            CONF_SATELLITE_ID: satellite.satellite_id,
        },
        options={CONF_CONVERSATION_MODE: MODE_PIPELINE, CONF_FOLLOW_UP_SECONDS: 0.0, **options},
    )


def entity_id(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert found is not None, unique_id
    return found


async def load_satellite(
    hass: HomeAssistant,
    satellite: LinkSatellite,
    *,
    pipeline: str | None = "Test pipeline",
    **options: Any,
) -> MockConfigEntry:
    entry = pipeline_entry(satellite, **options)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_until(lambda: entry.runtime_data.link.available)
    if pipeline is not None:  # chosen on the device, as a user does it
        await hass.services.async_call(
            "select",
            "select_option",
            {
                "entity_id": entity_id(hass, "select", f"{satellite.satellite_id}-pipeline"),
                "option": pipeline,
            },
            blocking=True,
        )
    return entry


def answer_streams(satellite: LinkSatellite) -> list[str]:
    return [
        c.stream_id
        for c in satellite.commands
        if isinstance(c, protocol.PlayStart) and c.kind == "response"
    ]


def error_tones(satellite: LinkSatellite) -> int:
    return sum(
        1 for c in satellite.commands if isinstance(c, protocol.PlayStart) and c.kind == "chime"
    )


async def pipeline_runs(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, pipeline_id: str
) -> list[list[dict[str, Any]]]:
    """The events of each run HA's Assist debug view shows for the pipeline."""
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "assist_pipeline/pipeline_debug/list", "pipeline_id": pipeline_id}
    )
    listed = await client.receive_json()
    assert listed["success"], listed
    runs = []
    for run in listed["result"]["pipeline_runs"]:
        await client.send_json_auto_id(
            {
                "type": "assist_pipeline/pipeline_debug/get",
                "pipeline_id": pipeline_id,
                "pipeline_run_id": run["pipeline_run_id"],
            }
        )
        got = await client.receive_json()
        assert got["success"], got
        runs.append(got["result"]["events"])
    return runs


@pytest.mark.usefixtures("entities_enabled")
async def test_a_spoken_command_runs_through_the_pipeline_and_its_answer_is_played(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    satellite: LinkSatellite,
    providers: Providers,
    kitchen_light: str,
) -> None:
    ended = collect(hass, ENDED)
    entry = await load_satellite(hass, satellite)
    assert isinstance(entry.runtime_data.manager.brain, PipelineBrain)
    assert hass.states.get(kitchen_light).state == "off"
    said = speech("turn on the kitchen light")

    await satellite.say(said)
    await wait_until(lambda: ended, within=20)

    # HA's default agent understood the STT's transcript and turned the light on
    assert hass.states.get(kitchen_light).state == "on"
    assert ended[0].data["reason"] == "done"
    assert ended[0].data["user"] == ["turn on the kitchen light"]
    assert ended[0].data["assistant"] == providers.tts.messages
    assert providers.tts.messages[0]
    # the STT got 16 kHz PCM: the user's speech (up to where HA's VAD heard its end), resampled
    (heard,) = providers.stt.heard
    assert heard.metadata.sample_rate == 16000
    heard_s = len(heard.audio) / 32000
    assert 0.8 < heard_s <= len(said) / (2 * protocol.AUDIO_RATE) + 0.1
    # the TTS answer (a 22050 Hz WAV tone) reached the satellite as PCM16 24 kHz, whole
    (answer,) = answer_streams(satellite)
    played = bytes(satellite.played[answer])
    assert abs(len(played) / (2 * protocol.AUDIO_RATE) - TTS_SECONDS) < 0.05
    assert abs(dominant_hz(played, protocol.AUDIO_RATE) - TTS_TONE_HZ) < 5
    # the run is in HA's Assist debug view, like any satellite's
    assert providers.pipeline is not None
    (events,) = await pipeline_runs(hass, hass_ws_client, providers.pipeline.id)
    types = [event["type"] for event in events]
    for expected in (
        "run-start",
        "stt-vad-start",
        "stt-vad-end",
        "stt-end",
        "intent-end",
        "tts-end",
    ):
        assert expected in types
    assert types[-1] == "run-end"
    run_start = events[0]["data"]
    assert run_start["pipeline"] == providers.pipeline.id
    await wait_until(
        lambda: (
            hass.states.get(
                entity_id(hass, "assist_satellite", f"{satellite.satellite_id}-assist_satellite")
            ).state
            == "idle"
        )
    )


class ScriptedAgent(conversation.AbstractConversationAgent):
    """A conversation agent that asks back (``continue_conversation``) or breaks when told."""

    def __init__(self) -> None:
        self.inputs: list[conversation.ConversationInput] = []
        self.asks_back = False
        self.fails = False

    @property
    def supported_languages(self) -> str:
        return "*"

    async def async_process(
        self, user_input: conversation.ConversationInput
    ) -> conversation.ConversationResult:
        self.inputs.append(user_input)
        if self.fails:
            raise RuntimeError("the agent broke")
        response = intent.IntentResponse(language=user_input.language)
        response.async_set_speech("Which room?" if self.asks_back else "Done.")
        return conversation.ConversationResult(
            response=response,
            conversation_id=user_input.conversation_id,
            continue_conversation=self.asks_back,
        )


@pytest.fixture
async def agent(hass: HomeAssistant, providers: Providers) -> ScriptedAgent:
    """The scripted agent as the test pipeline's conversation agent."""
    owner = MockConfigEntry(domain="test")
    owner.add_to_hass(hass)
    scripted = ScriptedAgent()
    conversation.async_set_agent(hass, owner, scripted)
    assert providers.pipeline is not None
    await async_update_pipeline(hass, providers.pipeline, conversation_engine=owner.entry_id)
    return scripted


@pytest.mark.usefixtures("entities_enabled")
async def test_the_agent_asking_back_keeps_the_satellite_listening_in_the_same_conversation(
    hass: HomeAssistant, satellite: LinkSatellite, providers: Providers, agent: ScriptedAgent
) -> None:
    ended = collect(hass, ENDED)
    entry = await load_satellite(hass, satellite)  # the follow-up window is off
    agent.asks_back = True
    await satellite.say(speech("turn on the light"))
    await wait_until(lambda: protocol.Listen() in satellite.commands, within=20)
    assert not ended
    agent.asks_back = False
    providers.stt.transcript = "the kitchen"
    await satellite.stream(speech("the kitchen"))
    await wait_until(lambda: ended, within=20)

    assert ended[0].data["reason"] == "done"
    assert ended[0].data["user"] == ["turn on the kitchen light", "the kitchen"]
    assert ended[0].data["assistant"] == ["Which room?", "Done."]
    first, second = agent.inputs
    assert first.conversation_id is not None
    assert second.conversation_id == first.conversation_id
    # the satellite's device (and so its area) goes with every run
    satellite_entity = entity_id(
        hass, "assist_satellite", f"{satellite.satellite_id}-assist_satellite"
    )
    for heard in agent.inputs:
        assert heard.device_id == entry.runtime_data.device_id
        assert heard.satellite_id == satellite_entity
    assert len(answer_streams(satellite)) == 2


@pytest.mark.usefixtures("entities_enabled")
async def test_an_agent_that_errors_plays_the_error_tone_and_ends_the_conversation(
    hass: HomeAssistant, satellite: LinkSatellite, providers: Providers, agent: ScriptedAgent
) -> None:
    ended = collect(hass, ENDED)
    entry = await load_satellite(hass, satellite)
    agent.fails = True
    await satellite.say(speech("turn on the light"))
    await wait_until(lambda: ended, within=20)

    assert ended[0].data["reason"] == "error: intent-failed"
    await wait_until(
        lambda: error_tones(satellite) == 1
    )  # (the link may deliver it after the event)
    assert answer_streams(satellite) == []
    # and the satellite is not stuck: the next command is answered
    agent.fails = False
    await wait_until(lambda: entry.runtime_data.manager.state == "idle")
    await satellite.say(speech("turn on the light"))
    await wait_until(lambda: len(ended) == 2, within=20)
    assert ended[1].data["reason"] == "done"
    assert len(answer_streams(satellite)) == 1


@pytest.mark.usefixtures("entities_enabled")
async def test_speech_the_stt_cannot_transcribe_plays_the_error_tone(
    hass: HomeAssistant, satellite: LinkSatellite, providers: Providers
) -> None:
    ended = collect(hass, ENDED)
    await load_satellite(hass, satellite)
    providers.stt.fail = True
    await satellite.say(speech("turn on the light"))
    await wait_until(lambda: ended, within=20)
    assert ended[0].data["reason"] == "error: stt-stream-failed"
    await wait_until(
        lambda: error_tones(satellite) == 1
    )  # (the link may deliver it after the event)


@pytest.mark.parametrize(
    ("missing", "problem"), [("stt_engine", "pipeline_no_stt"), ("tts_engine", "pipeline_no_tts")]
)
@pytest.mark.usefixtures("entities_enabled")
async def test_a_pipeline_without_stt_or_tts_is_refused_with_a_repair_and_the_error_tone(
    hass: HomeAssistant,
    satellite: LinkSatellite,
    providers: Providers,
    missing: str,
    problem: str,
) -> None:
    ended = collect(hass, ENDED)
    entry = await load_satellite(hass, satellite)
    assert providers.pipeline is not None
    await async_update_pipeline(hass, providers.pipeline, **{missing: None})
    await satellite.say(speech("turn on the light"))
    await wait_until(lambda: ended, within=10)

    assert ended[0].data["reason"] == f"error: {problem}"
    await wait_until(
        lambda: error_tones(satellite) == 1
    )  # (the link may deliver it after the event)
    assert providers.stt.heard == []
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"pipeline_unusable_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == problem
    assert issue.translation_placeholders == {"name": "Kitchen", "pipeline": "Test pipeline"}
    # fixed: the next command runs, and the repair goes
    await async_update_pipeline(
        hass,
        providers.pipeline,
        **{
            missing: providers.stt.entity_id if missing == "stt_engine" else providers.tts.entity_id
        },
    )
    await wait_until(lambda: entry.runtime_data.manager.state == "idle")
    await satellite.say(speech("turn on the light"))
    await wait_until(lambda: len(ended) == 2, within=20)
    assert ended[1].data["reason"] == "done"
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"pipeline_unusable_{entry.entry_id}") is None


@pytest.mark.usefixtures("entities_enabled")
async def test_a_deleted_pipeline_gives_way_to_the_preferred_one(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    satellite: LinkSatellite,
    providers: Providers,
) -> None:
    ended = collect(hass, ENDED)
    entry = await load_satellite(hass, satellite)
    select = entity_id(hass, "select", f"{satellite.satellite_id}-pipeline")
    assert hass.states.get(select).state == "Test pipeline"
    assert providers.pipeline is not None
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "assist_pipeline/pipeline/delete", "pipeline_id": providers.pipeline.id}
    )
    assert (await client.receive_json())["success"]
    await hass.async_block_till_done()
    assert hass.states.get(select).state == "preferred"
    await satellite.say(speech("turn on the light"))
    await wait_until(lambda: ended, within=20)
    # HA's preferred pipeline (made at its set-up with the first STT and TTS it found) answered
    assert ended[0].data["reason"] == "done"
    assert len(providers.stt.heard) == 1
    assert entry.runtime_data.manager.state in ("idle", "resetting")


SATELLITE_ENTITY = "assist_satellite.kitchen"


def announcement_streams(satellite: LinkSatellite) -> list[str]:
    return [
        c.stream_id
        for c in satellite.commands
        if isinstance(c, protocol.PlayStart) and c.kind == "announcement"
    ]


@pytest.mark.usefixtures("entities_enabled")
async def test_an_announcement_is_spoken_by_the_pipelines_tts(
    hass: HomeAssistant, satellite: LinkSatellite, providers: Providers
) -> None:
    await load_satellite(hass, satellite)
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"entity_id": SATELLITE_ENTITY, "message": "Dinner is ready"},
        blocking=True,
    )
    assert providers.tts.messages == ["Dinner is ready"]
    (stream,) = announcement_streams(satellite)
    played = bytes(satellite.played[stream])
    chime = chime_pcm()
    assert played.startswith(chime)
    spoken = played[len(chime) :]
    assert abs(len(spoken) / (2 * protocol.AUDIO_RATE) - TTS_SECONDS) < 0.05
    assert abs(dominant_hz(spoken, protocol.AUDIO_RATE) - TTS_TONE_HZ) < 5


@pytest.mark.usefixtures("entities_enabled")
async def test_a_finished_timer_speaks_its_name_through_the_pipelines_tts(
    hass: HomeAssistant, satellite: LinkSatellite, providers: Providers, kitchen_light: str
) -> None:
    """The timer is set by voice through the pipeline (HA's default agent's HassStartTimer, for
    the satellite's device); it rings, then its message is spoken by the pipeline's TTS."""
    ended = collect(hass, ENDED)
    await load_satellite(hass, satellite)
    providers.stt.transcript = "set a timer for 1 second"
    await satellite.say(speech("set a timer for one second"))
    await wait_until(lambda: ended, within=20)
    assert ended[0].data["reason"] == "done"
    await wait_until(lambda: len(providers.tts.messages) == 2, within=20)
    await wait_until(lambda: announcement_streams(satellite))
    assert "timer" in providers.tts.messages[1].lower()
    (ring,) = announcement_streams(satellite)
    await wait_until(lambda: protocol.PlayEnd(ring) in satellite.commands, within=20)
    await wait_until(lambda: hass.states.get(SATELLITE_ENTITY).state == "idle")
    await hass.async_block_till_done()


GARAGE = [
    {"id": "yes", "sentences": ["yes [please]", "sure"]},
    {"id": "no", "sentences": ["no [thanks]"]},
]


@pytest.mark.usefixtures("entities_enabled")
async def test_ask_question_takes_the_pipelines_transcript_as_the_answer(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    satellite: LinkSatellite,
    providers: Providers,
) -> None:
    await load_satellite(hass, satellite)
    providers.stt.transcript = "yes please"
    asked = hass.async_create_task(
        hass.services.async_call(
            "assist_satellite",
            "ask_question",
            {
                "entity_id": SATELLITE_ENTITY,
                "question": "Shall I close the garage?",
                "preannounce": False,
                "answers": GARAGE,
            },
            blocking=True,
            return_response=True,
        )
    )
    await wait_until(lambda: protocol.Listen() in satellite.commands, within=20)
    await satellite.stream(speech("yes please"))
    result = await asyncio.wait_for(asked, 20)

    assert result == {"id": "yes", "sentence": "yes please", "slots": {}}
    assert providers.tts.messages == ["Shall I close the garage?"]  # the question, no answer
    assert answer_streams(satellite) == []
    assert providers.pipeline is not None
    (events,) = await pipeline_runs(hass, hass_ws_client, providers.pipeline.id)
    types = [event["type"] for event in events]
    assert "stt-end" in types
    assert "intent-start" not in types  # the answer is the automation's: no agent hears it


@pytest.mark.usefixtures("entities_enabled")
async def test_start_conversation_as_home_assistants_entity_does_it(
    hass: HomeAssistant, satellite: LinkSatellite, providers: Providers, agent: ScriptedAgent
) -> None:
    ended = collect(hass, ENDED)
    await load_satellite(hass, satellite)
    providers.stt.transcript = "yes"
    await hass.services.async_call(
        "assist_satellite",
        "start_conversation",
        {
            "entity_id": SATELLITE_ENTITY,
            "start_message": "Shall I turn off the lights?",
            "extra_system_prompt": "The user is going to bed.",
            "preannounce": False,
        },
        blocking=True,
    )
    assert providers.tts.messages == ["Shall I turn off the lights?"]
    await wait_until(lambda: protocol.Listen() in satellite.commands)
    await satellite.stream(speech("yes"))
    await wait_until(lambda: ended, within=20)

    (heard,) = agent.inputs
    assert heard.text == "yes"
    assert heard.extra_system_prompt == "The user is going to bed."
    assert ended[0].data["reason"] == "done"


@pytest.mark.usefixtures("entities_enabled")
async def test_a_barge_in_during_the_answer_is_heard_as_a_new_command(
    hass: HomeAssistant, satellite: LinkSatellite, providers: Providers, kitchen_light: str
) -> None:
    """The pipeline cannot stop its answer, but the satellite does; what the user says then goes
    to a new run of the same conversation."""
    ended = collect(hass, ENDED)
    satellite.finish_playback = False  # the answer is still playing when the user speaks
    entry = await load_satellite(hass, satellite)
    await satellite.say(speech("turn on the kitchen light"))
    await wait_until(lambda: answer_streams(satellite), within=20)
    await wait_until(lambda: hass.states.get(kitchen_light).state == "on")
    (first,) = answer_streams(satellite)
    await wait_until(lambda: protocol.PlayEnd(first) in satellite.commands)  # all of it sent
    assert entry.runtime_data.manager.state == "responding"

    satellite.finish_playback = True
    providers.stt.transcript = "turn off the kitchen light"
    await satellite.barge_in(played_ms=200)
    await satellite.stream(speech("turn off the kitchen light"))
    await wait_until(lambda: ended, within=20)

    assert hass.states.get(kitchen_light).state == "off"
    assert ended[0].data["reason"] == "done"
    assert ended[0].data["user"] == ["turn on the kitchen light", "turn off the kitchen light"]
    assert len(providers.stt.heard) == 2
    assert len(answer_streams(satellite)) == 2
