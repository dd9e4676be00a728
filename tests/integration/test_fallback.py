"""Realtime with the Assist pipeline as its fallback, inside real HA (issue #26 item 3): the
Realtime endpoint is the stand-in server (going down like an outage, or refusing the key), the
pipeline is HA's with the test STT and TTS (pipeline_providers.py) and HA's default agent, the
satellite the real link server.

When the endpoint cannot be reached or refuses, the same utterance (one wake word) goes through the
pipeline; a repair and a sensor say why; announcements are spoken by the pipeline's TTS; when the
endpoint is back, the background probe gives the turns back to Realtime and the repair goes.
"""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.realtime_voice.const import DOMAIN, MODE_REALTIME_FALLBACK
from custom_components.realtime_voice.core.conversation.fallback import FallbackBrain
from custom_components.realtime_voice.diagnostics import async_get_config_entry_diagnostics
from realtime_voice_dev.corpus import espeak_available
from tests.realtime_standin import StandinConfig, StandinServer

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite
from .pipeline_providers import Providers, hass_config_dir, quick_probes  # noqa: F401 (fixtures)
from .test_pipeline_brain import answer_streams, entity_id, error_tones, speech
from .waiting import collect, wait_until

pytestmark = [
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech"),
    pytest.mark.timeout(90),
]

ENDED = f"{DOMAIN}_conversation_ended"
COMMAND = "turn on the kitchen light"


async def load_fallback_satellite(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> MockConfigEntry:
    entry = entry_for(standin, satellite, conversation_mode=MODE_REALTIME_FALLBACK)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_until(lambda: entry.runtime_data.link.available)
    await hass.services.async_call(
        "select",
        "select_option",
        {
            "entity_id": entity_id(hass, "select", f"{satellite.satellite_id}-pipeline"),
            "option": "Test pipeline",
        },
        blocking=True,
    )
    assert isinstance(entry.runtime_data.manager.brain, FallbackBrain)
    return entry


def fallback_sensor(hass: HomeAssistant, satellite: LinkSatellite) -> str:
    return entity_id(hass, "sensor", f"{satellite.satellite_id}-pipeline_fallback")


def fallback_issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"pipeline_fallback_{entry.entry_id}")


async def test_the_endpoint_down_the_same_utterance_goes_through_the_pipeline_and_back(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    providers: Providers,
    kitchen_light: str,
) -> None:
    ended = collect(hass, ENDED)
    entry = await load_fallback_satellite(hass, standin, satellite)
    session = entry.runtime_data.manager.session
    await wait_until(lambda: entry.runtime_data.manager.session is not None)
    sensor = fallback_sensor(hass, satellite)
    assert hass.states.get(sensor).state == "off"
    assert fallback_issue(hass, entry) is None

    # an outage: the connection drops and new ones are refused for a while
    standin.go_down(6.0)
    session = entry.runtime_data.manager.session
    assert session is not None
    await wait_until(lambda: session.reconnecting, within=2)
    said = speech(COMMAND)
    await satellite.say(said)
    await wait_until(lambda: ended, within=20)

    assert ended[0].data["reason"] == "done", ended[0].data
    assert ended[0].data["user"] == [COMMAND]
    assert hass.states.get(kitchen_light).state == "on"  # HA's default agent did it
    # the whole utterance, from the wake word on, went to the pipeline's STT: no second wake word
    (heard,) = providers.stt.heard
    assert len(heard.audio) / 32000 > 0.8
    assert len(answer_streams(satellite)) == 1  # the pipeline's TTS answer was played
    assert error_tones(satellite) == 0
    state = hass.states.get(sensor)
    assert state.state == "network"
    assert state.attributes["switches"] == 1
    issue = fallback_issue(hass, entry)
    assert issue is not None
    assert issue.translation_key == "pipeline_fallback_network"
    assert issue.severity == ir.IssueSeverity.WARNING
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)  # type: ignore[arg-type]
    assert diagnostics["pipeline_fallback"]["active"] == "fallback"
    assert diagnostics["pipeline_fallback"]["cause"] == "network"
    assert API_KEY not in str(diagnostics)

    # the endpoint is back: the probe finds it in the background, Realtime answers again
    await wait_until(lambda: hass.states.get(sensor).state == "off", within=20)
    assert fallback_issue(hass, entry) is None
    assert hass.states.get(sensor).attributes["last_cause"] == "network"
    responses = standin.responses_done
    await satellite.say(said)
    await wait_until(lambda: len(ended) == 2, within=20)
    assert standin.responses_done > responses
    assert ended[1].data["user"] == [StandinConfig().transcript]  # what the stand-in heard
    assert len(providers.stt.heard) == 1, "the pipeline did not hear it"


@pytest.mark.parametrize("standin_config", [StandinConfig(endpoint="ga", api_key="sk-other")])
async def test_a_refused_key_goes_to_the_pipeline_and_the_repair_says_so(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    providers: Providers,
    kitchen_light: str,
) -> None:
    ended = collect(hass, ENDED)
    entry = await load_fallback_satellite(hass, standin, satellite)
    await satellite.say(speech(COMMAND))
    await wait_until(lambda: ended, within=20)
    assert ended[0].data["reason"] == "done", ended[0].data
    assert hass.states.get(kitchen_light).state == "on"
    assert hass.states.get(fallback_sensor(hass, satellite)).state == "invalid_api_key"
    issue = fallback_issue(hass, entry)
    assert issue is not None
    assert issue.translation_key == "pipeline_fallback_invalid_api_key"
    assert issue.severity == ir.IssueSeverity.ERROR  # the user must act

    # an announcement while on the fallback: spoken by the pipeline's TTS
    providers.tts.messages.clear()
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {
            "entity_id": entity_id(
                hass, "assist_satellite", f"{satellite.satellite_id}-assist_satellite"
            ),
            "message": "Dinner is ready.",
            "preannounce": False,
        },
        blocking=True,
    )
    assert providers.tts.messages == ["Dinner is ready."]

    # unloaded (a reload, the entry removed): the repair does not outlive it
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert fallback_issue(hass, entry) is None
