"""What answers a Live satellite when Live cannot (issue #27 item 3), inside real HA: the Live
service is the Live stand-in process (in its no-access mode where the key has no Live access), the
Realtime service the in-process Realtime stand-in, the pipeline HA's with the test STT and TTS
(pipeline_providers.py) and HA's default agent, the satellite the real link server.

The option ``live_fallback``: Realtime (as before), the Assist pipeline (no Realtime at all), or
Realtime then the pipeline. The model sensor names what answers; the cost sensor counts Live's
usage seconds at the registry's price.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import issue_registry as ir

from custom_components.realtime_voice.const import (
    CONF_CONVERSATION_MODE,
    CONF_LIVE_FALLBACK,
    CONF_LIVE_URL,
    DOMAIN,
    LIVE_FALLBACK_PIPELINE,
    LIVE_FALLBACK_REALTIME,
    LIVE_FALLBACK_REALTIME_PIPELINE,
    MODE_LIVE,
)
from custom_components.realtime_voice.core.conversation.fallback import FallbackBrain
from custom_components.realtime_voice.core.live import cost_usd
from custom_components.realtime_voice.live_brain import LiveBrain
from custom_components.realtime_voice.repairs import async_check_model_shutdown
from realtime_voice_dev.corpus import espeak_available
from tests.realtime_standin import StandinConfig, StandinServer

from .conftest import SatelliteEntry, entry_for
from .link_satellite import LinkSatellite, silence, tone
from .pipeline_providers import Providers, hass_config_dir, quick_probes  # noqa: F401 (fixtures)
from .test_live_brain import LiveStandin, _live, load_live, played
from .test_options_flow import save_shown_form
from .test_pipeline_brain import answer_streams, entity_id, speech
from .waiting import collect, wait_until

pytestmark = [
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech"),
    pytest.mark.timeout(120),
]

ENDED = f"{DOMAIN}_conversation_ended"
COMMAND = "turn on the kitchen light"
KITCHEN_LIGHT = "light.kitchen"  # the kitchen_light fixture's (kitchen.py)


@pytest.fixture
async def live() -> AsyncIterator[LiveStandin]:
    async for standin in _live("--transcript", "Turn on the kitchen light."):
        yield standin


@pytest.fixture
async def live_without_access() -> AsyncIterator[LiveStandin]:
    async for standin in _live("--access", "model_not_found"):
        yield standin


async def choose_test_pipeline(hass: HomeAssistant, satellite: LinkSatellite) -> None:
    await hass.services.async_call(
        "select",
        "select_option",
        {
            "entity_id": entity_id(hass, "select", f"{satellite.satellite_id}-pipeline"),
            "option": "Test pipeline",
        },
        blocking=True,
    )


async def load_live_satellite(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    live: LiveStandin,
    fallback: str,
) -> SatelliteEntry:
    entry = await load_live(
        hass, standin, satellite, live, wait_for_session=False, **{CONF_LIVE_FALLBACK: fallback}
    )
    await wait_until(lambda: entry.runtime_data.link.available)
    await choose_test_pipeline(hass, satellite)
    return entry


def sensor(hass: HomeAssistant, satellite: LinkSatellite, key: str) -> str:
    state = hass.states.get(entity_id(hass, "sensor", f"{satellite.satellite_id}-{key}"))
    assert state is not None, key
    return state.state


def issue(hass: HomeAssistant, kind: str, entry_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{kind}_{entry_id}")


@pytest.mark.usefixtures("kitchen_light")
async def test_no_live_access_with_the_pipeline_fallback_answers_through_the_pipeline(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    live_without_access: LiveStandin,
    providers: Providers,
) -> None:
    ended = collect(hass, ENDED)
    entry = await load_live_satellite(
        hass, standin, satellite, live_without_access, LIVE_FALLBACK_PIPELINE
    )
    manager = entry.runtime_data.manager
    assert isinstance(manager.brain, FallbackBrain)
    assert manager.realtime is None  # no Realtime session: no Realtime tokens
    assert sensor(hass, satellite, "model") == "gpt-live-1.1"  # Live answers, as far as it knows
    assert sensor(hass, satellite, "pipeline_fallback") == "off"

    await satellite.say(speech(COMMAND))
    await wait_until(lambda: ended, within=30)

    assert ended[0].data["reason"] == "done", ended[0].data
    assert ended[0].data["user"] == [COMMAND]
    assert hass.states.get(KITCHEN_LIGHT).state == "on"  # through the pipeline's agent
    # the same utterance from the wake word on: no second wake word
    (heard,) = providers.stt.heard
    assert len(heard.audio) / 32000 > 0.8
    assert len(answer_streams(satellite)) == 1
    assert not played(satellite)  # nothing from Live
    assert standin.connections == []  # nor from Realtime
    # the sensors and the repair say what answers, and why
    assert sensor(hass, satellite, "pipeline_fallback") == "live_no_access"
    assert sensor(hass, satellite, "model") == "Test pipeline"
    found = issue(hass, "pipeline_fallback", entry.entry_id)
    assert found is not None
    assert found.translation_key == "pipeline_fallback_live_no_access"
    assert found.severity == ir.IssueSeverity.ERROR  # the user must act
    assert found.translation_placeholders["service"] == "the GPT-Live endpoint"
    # one repair, not also the one that says Realtime answers
    assert issue(hass, "live_no_access", entry.entry_id) is None

    # an announcement: the pipeline's TTS speaks it (no Realtime to speak it word for word)
    providers.tts.messages.clear()
    await manager.async_announce("Dinner is ready.", preannounce=False)
    assert providers.tts.messages == ["Dinner is ready."]
    assert standin.connections == []


@pytest.mark.usefixtures("kitchen_light")
async def test_the_pipeline_fallback_with_live_access_turns_the_light_on_through_live(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    live: LiveStandin,
    providers: Providers,
) -> None:
    """With access, Live answers (its delegation to HA's agent turns the light on); its cost is
    counted without a Realtime brain to hold it: usage seconds at the registry's price."""
    ended = collect(hass, ENDED)
    entry = await load_live_satellite(hass, standin, satellite, live, LIVE_FALLBACK_PIPELINE)
    manager = entry.runtime_data.manager
    brain = manager.brain
    assert isinstance(brain, FallbackBrain)
    live_brain = brain.primary
    assert isinstance(live_brain, LiveBrain)

    await satellite.say(tone(1.0))
    await satellite.stream(silence(1.0))
    await wait_until(lambda: live_brain.live_session is not None, within=20)
    session = live_brain.live_session
    assert session is not None
    assert sensor(hass, satellite, "model") == "gpt-live-1.1"
    await wait_until(lambda: hass.states.get(KITCHEN_LIGHT).state == "on", within=30)
    await wait_until(lambda: bool(ended), within=30)
    assert ended[0].data["reason"] == "done"
    assert providers.stt.heard == []  # the pipeline heard nothing
    assert standin.connections == []
    await wait_until(lambda: live_brain.live_session is None)
    await wait_until(lambda: manager.figures.total_cost_usd > 0)
    assert session.usage_seconds > 0
    assert manager.figures.total_cost_usd == pytest.approx(session.usage_seconds / 60 * 0.05)
    assert manager.figures.total_cost_usd == pytest.approx(
        cost_usd("gpt-live-1.1", session.usage_seconds)
    )
    await wait_until(
        lambda: float(sensor(hass, satellite, "cost")) == round(manager.figures.total_cost_usd, 6)
    )
    assert sensor(hass, satellite, "pipeline_fallback") == "off"


@pytest.mark.usefixtures("kitchen_light")
async def test_live_unreachable_the_pipeline_answers_until_the_probe_finds_live_again(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    live: LiveStandin,
    providers: Providers,
) -> None:
    ended = collect(hass, ENDED)
    # nothing listens on port 9 (discard): the connection is refused, as with the network down
    entry = await load_live_satellite(
        hass,
        standin,
        satellite,
        LiveStandin("ws://127.0.0.1:9/v1/live/sessions", []),
        LIVE_FALLBACK_PIPELINE,
    )
    manager = entry.runtime_data.manager
    await satellite.say(speech(COMMAND))
    await wait_until(lambda: ended, within=30)
    assert ended[0].data["reason"] == "done", ended[0].data
    assert len(providers.stt.heard) == 1
    assert sensor(hass, satellite, "pipeline_fallback") == "network"
    found = issue(hass, "pipeline_fallback", entry.entry_id)
    assert found is not None
    assert found.severity == ir.IssueSeverity.WARNING  # it passes by itself

    # Live is reachable again (here: its endpoint changed without a reload): the background probe
    # opens a session, closes it at once, and gives the turns back to Live
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_LIVE_URL: live.url}
    )
    await wait_until(lambda: sensor(hass, satellite, "pipeline_fallback") == "off", within=20)
    assert issue(hass, "pipeline_fallback", entry.entry_id) is None
    assert sensor(hass, satellite, "model") == "gpt-live-1.1"
    assert entry.runtime_data.manager is manager  # not reloaded
    await hass.services.async_call("light", "turn_off", {"entity_id": KITCHEN_LIGHT}, blocking=True)
    await satellite.say(tone(1.0))
    await satellite.stream(silence(1.0))
    await wait_until(lambda: hass.states.get(KITCHEN_LIGHT).state == "on", within=30)
    await wait_until(lambda: len(ended) == 2, within=30)
    assert len(providers.stt.heard) == 1  # Live's delegation did it, not the pipeline
    assert any(ms > 300 for ms in played(satellite).values())


@pytest.mark.usefixtures("kitchen_light")
async def test_switching_the_live_fallback_takes_effect(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    live_without_access: LiveStandin,
    providers: Providers,
) -> None:
    ended = collect(hass, ENDED)
    entry = await load_live_satellite(
        hass, standin, satellite, live_without_access, LIVE_FALLBACK_REALTIME
    )
    manager = entry.runtime_data.manager
    assert isinstance(manager.brain, LiveBrain)
    await wait_until(lambda: entry.runtime_data.manager.session is not None)
    await satellite.say(speech(COMMAND))
    await wait_until(lambda: ended, within=30)
    # Realtime answered (the stand-in), the model sensor names the Realtime model
    assert ended[0].data["reason"] == "done"
    assert any(stream_id.startswith("resp") for stream_id in satellite.played)
    assert providers.stt.heard == []
    assert sensor(hass, satellite, "model") == "gpt-realtime"
    assert issue(hass, "live_no_access", entry.entry_id) is not None

    result = await save_shown_form(hass, entry, {CONF_LIVE_FALLBACK: LIVE_FALLBACK_PIPELINE})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done()
    await wait_until(lambda: entry.state is ConfigEntryState.LOADED)
    await wait_until(lambda: entry.runtime_data.link.available)
    manager = entry.runtime_data.manager
    assert isinstance(manager.brain, FallbackBrain)
    assert manager.realtime is None
    await satellite.say(speech(COMMAND))
    await wait_until(lambda: len(ended) == 2, within=30)
    assert ended[1].data["reason"] == "done", ended[1].data
    assert hass.states.get(KITCHEN_LIGHT).state == "on"
    assert len(providers.stt.heard) == 1
    assert sensor(hass, satellite, "model") == "Test pipeline"


@pytest.mark.usefixtures("kitchen_light")
@pytest.mark.parametrize("standin_config", [StandinConfig(endpoint="ga", api_key="sk-other")])
async def test_realtime_then_the_pipeline_when_neither_live_nor_realtime_can(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    live_without_access: LiveStandin,
    providers: Providers,
) -> None:
    ended = collect(hass, ENDED)
    entry = await load_live_satellite(
        hass, standin, satellite, live_without_access, LIVE_FALLBACK_REALTIME_PIPELINE
    )
    await satellite.say(speech(COMMAND))
    await wait_until(lambda: ended, within=30)
    assert ended[0].data["reason"] == "done", ended[0].data
    assert hass.states.get(KITCHEN_LIGHT).state == "on"
    assert len(providers.stt.heard) == 1
    # Live said no access (its repair), then Realtime refused the key: the pipeline answered
    assert issue(hass, "live_no_access", entry.entry_id) is not None
    assert sensor(hass, satellite, "pipeline_fallback") == "invalid_api_key"
    found = issue(hass, "pipeline_fallback", entry.entry_id)
    assert found is not None
    assert found.translation_placeholders["service"] == "GPT-Live and the Realtime endpoint"
    assert sensor(hass, satellite, "model") == "Test pipeline"


async def test_a_bad_live_fallback_names_the_key(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(
        standin,
        satellite,
        **{CONF_CONVERSATION_MODE: MODE_LIVE, CONF_LIVE_FALLBACK: "telepathy"},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert "live_fallback" in entry.reason
    assert "telepathy" in entry.reason

    # the options form refuses it too, naming the field
    with pytest.raises(InvalidData) as raised:
        await save_shown_form(hass, entry, {CONF_LIVE_FALLBACK: "telepathy"})
    assert "live_fallback" in str(raised.value.schema_errors)


@pytest.mark.parametrize(
    ("fallback", "warned"),
    [(LIVE_FALLBACK_PIPELINE, False), (LIVE_FALLBACK_REALTIME, True)],
)
async def test_a_realtime_model_shutdown_concerns_live_only_with_realtime_beside_it(
    hass: HomeAssistant, standin: StandinServer, fallback: str, warned: bool
) -> None:
    entry = entry_for(
        standin,
        port=9,
        satellite_id="live-0001",
        **{CONF_CONVERSATION_MODE: MODE_LIVE, CONF_LIVE_FALLBACK: fallback},
    )
    entry.add_to_hass(hass)
    # gpt-realtime shuts down on 2027-01-20: within 90 days
    async_check_model_shutdown(hass, entry, today=date(2026, 11, 21))
    assert (issue(hass, "model_shutdown", f"{entry.entry_id}_model") is not None) is warned
