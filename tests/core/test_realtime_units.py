"""Registry, cost math, voice manager, settings and the GA/beta renderings, without a server."""

from __future__ import annotations

import json
from datetime import date

import pytest

from realtime_voice_core.realtime import (
    MODELS,
    ConfigurationError,
    RealtimeSettings,
    SessionDescription,
    ToolDefinition,
    TurnDetection,
    Usage,
    VoiceUnavailableError,
    cost_for_model,
    cost_usd,
    lookup,
    wire,
)
from realtime_voice_core.realtime.connection import auth_headers, endpoint_url
from realtime_voice_core.realtime.voices import choose_voice, voice_after_rejection
from tests.realtime_standin.validation import validate

KEY = "sk-unit-secret"
TOOL = ToolDefinition(
    "set_timer",
    "Start a timer.",
    {"type": "object", "properties": {"minutes": {"type": "integer"}}, "required": ["minutes"]},
)


# -- cost ----------------------------------------------------------------------------------------


def test_cost_prices_cached_tokens_as_cached() -> None:
    usage = Usage(
        text_input=1000,
        text_cached=200,
        audio_input=500,
        audio_cached=100,
        text_output=50,
        audio_output=400,
    )
    # gpt-realtime per 1M: text 4 / cached 0.40 / out 16, audio 32 / cached 0.40 / out 64
    expected = (800 * 4 + 200 * 0.40 + 400 * 32 + 100 * 0.40 + 50 * 16 + 400 * 64) / 1e6
    assert cost_for_model(usage, "gpt-realtime") == pytest.approx(expected)
    assert cost_for_model(usage, "gpt-realtime") == pytest.approx(0.04252)
    # the preview model is dearer: text 5 / 2.50 / 20, audio 40 / 2.50 / 80
    preview = (800 * 5 + 200 * 2.5 + 400 * 40 + 100 * 2.5 + 50 * 20 + 400 * 80) / 1e6
    assert cost_for_model(usage, "gpt-4o-realtime-preview") == pytest.approx(preview)
    assert cost_for_model(usage, "some-future-model") == 0.0
    assert cost_usd(Usage(), MODELS["gpt-realtime"].prices) == 0.0


def test_usage_from_ga_and_beta_shapes() -> None:
    ga = {
        "input_tokens": 180,
        "output_tokens": 60,
        "input_token_details": {
            "text_tokens": 120,
            "audio_tokens": 60,
            "cached_tokens": 90,
            "cached_tokens_details": {"text_tokens": 70, "audio_tokens": 20},
        },
        "output_token_details": {"text_tokens": 10, "audio_tokens": 50},
    }
    assert Usage.from_response(ga) == Usage(120, 70, 60, 20, 10, 50)
    beta = ga | {
        "input_token_details": {"text_tokens": 120, "audio_tokens": 60, "cached_tokens": 150}
    }
    # no split by kind: cached counts as text first (the cached prefix is instructions and tools)
    assert Usage.from_response(beta) == Usage(120, 120, 60, 30, 10, 50)
    assert Usage.from_response(None) == Usage()
    total = Usage.from_response(ga) + Usage.from_response(beta)
    assert total.input_tokens == 360
    assert total.as_dict()["audio_output"] == 100


# -- registry ------------------------------------------------------------------------------------


def test_registry_knows_interfaces_voices_and_retirement() -> None:
    assert lookup("gpt-realtime").interface == "ga"
    assert lookup("gpt-realtime-2025-08-28").name == "gpt-realtime"
    assert lookup("gpt-realtime-mini-2025-10-06").name == "gpt-realtime-mini"
    assert lookup("gpt-4o-realtime-preview-2024-12-17").interface == "beta"
    assert lookup("my-own-model") is None
    assert {"marin", "cedar"} <= lookup("gpt-realtime").voices
    assert "cedar" not in lookup("gpt-4o-realtime-preview").voices
    for name in ("gpt-realtime", "gpt-realtime-mini"):
        assert MODELS[name].shutdown == date(2027, 1, 20)
    assert MODELS["gpt-4o-realtime-preview"].successor == "gpt-realtime"
    assert all(info.context_tokens > 0 for info in MODELS.values())


def test_every_retiring_model_has_a_known_successor_that_does_not_retire() -> None:
    # The repair's fix switches to the successor: it must exist in the table and not itself be
    # on the way out, or the fix would lead to a second repair.
    retiring = [info for info in MODELS.values() if info.shutdown is not None]
    assert {info.name for info in retiring} == {"gpt-realtime", "gpt-realtime-mini"}
    for info in retiring:
        assert info.successor in MODELS, info.name
        assert MODELS[info.successor].shutdown is None, info.name
    assert MODELS["gpt-realtime-mini"].successor == "gpt-realtime-2.1-mini"
    # the longest family wins for dated snapshots of the mini successor
    assert lookup("gpt-realtime-2.1-mini-2026-09-01").name == "gpt-realtime-2.1-mini"
    assert lookup("gpt-realtime-2.1-2026-09-01").name == "gpt-realtime-2.1"
    # OpenAI's published prices: text output of the reasoning models costs more
    assert MODELS["gpt-realtime-2.1"].prices.text_output == 24.0
    assert MODELS["gpt-realtime-1.5"].prices.text_output == 16.0


# -- voices --------------------------------------------------------------------------------------


def test_voice_manager() -> None:
    base = RealtimeSettings(api_key=KEY, voice="cedar")
    assert choose_voice(base, "gpt-realtime") == "cedar"
    assert choose_voice(base, "gpt-4o-realtime-preview") == "alloy"
    assert choose_voice(base, "unknown-model") == "cedar"  # the endpoint will say
    strict = RealtimeSettings(api_key=KEY, voice="cedar", auto_select_voice=False)
    with pytest.raises(VoiceUnavailableError) as caught:
        choose_voice(strict, "gpt-4o-realtime-preview")
    assert str(caught.value).startswith(
        "Voice 'cedar' not available for model 'gpt-4o-realtime-preview'"
    )
    both_missing = RealtimeSettings(api_key=KEY, voice="cedar", voice_fallback="marin")
    with pytest.raises(VoiceUnavailableError, match="fallback voice 'marin'"):
        choose_voice(both_missing, "gpt-4o-realtime-preview")
    assert voice_after_rejection(base, "x", "cedar") == "alloy"
    with pytest.raises(VoiceUnavailableError):
        voice_after_rejection(base, "x", "alloy")  # the fallback itself was refused
    with pytest.raises(VoiceUnavailableError):
        voice_after_rejection(strict, "x", "cedar")


# -- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"api_key": ""}, "api_key"),
        ({"url": "ftp://example.com"}, "url"),
        ({"model_selection": "newest"}, "model_selection"),
        ({"model": ""}, "model"),
        ({"voice": " "}, "voice"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"reconnect_max_attempts": 0}, "reconnect_max_attempts"),
    ],
)
def test_bad_settings_name_the_key(overrides: dict, key: str) -> None:
    with pytest.raises(ConfigurationError, match=key):
        RealtimeSettings(**({"api_key": KEY} | overrides))


def test_bad_descriptions_name_the_field() -> None:
    with pytest.raises(ConfigurationError, match="temperature"):
        SessionDescription(temperature=2.0)
    with pytest.raises(ConfigurationError, match="speed"):
        SessionDescription(speed=3.0)
    with pytest.raises(ConfigurationError, match="duplicate"):
        SessionDescription(tools=(TOOL, TOOL))
    with pytest.raises(ConfigurationError, match="tool name"):
        ToolDefinition("no spaces allowed", "x")
    with pytest.raises(ConfigurationError, match="parameters"):
        ToolDefinition("t", "x", {"type": "string"})


def test_key_is_not_in_the_repr() -> None:
    settings = RealtimeSettings(api_key=KEY)
    assert KEY not in repr(settings)
    assert KEY not in str(settings)


# -- addresses -----------------------------------------------------------------------------------


def test_endpoint_url_and_headers() -> None:
    assert endpoint_url("wss://api.openai.com/v1/realtime", "gpt-realtime") == (
        "wss://api.openai.com/v1/realtime?model=gpt-realtime",
        "gpt-realtime",
    )
    azure = (
        "https://me.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=rt"
    )
    url, model = endpoint_url(azure, "gpt-realtime")
    assert url.startswith("wss://me.openai.azure.com/openai/realtime?")
    assert "model=" not in url
    assert model == "rt"
    assert endpoint_url("ws://proxy:8080/rt?model=m1", "gpt-realtime")[1] == "m1"
    assert auth_headers(RealtimeSettings(api_key=KEY, url=azure), "ga") == {"api-key": KEY}
    assert auth_headers(RealtimeSettings(api_key=KEY), "beta") == {
        "Authorization": f"Bearer {KEY}",
        "OpenAI-Beta": "realtime=v1",
    }


# -- renderings, validated against the openai types ----------------------------------------------

FULL = SessionDescription(
    instructions="Be brief.",
    tools=(TOOL,),
    turn_detection=TurnDetection(silence_duration_ms=700),
    max_output_tokens=800,
    temperature=0.8,
    speed=1.1,
)
SEMANTIC = SessionDescription(
    turn_detection=TurnDetection(kind="semantic_vad"), input_transcription_model=None
)


@pytest.mark.parametrize("interface", ["ga", "beta"])
@pytest.mark.parametrize("description", [FULL, SEMANTIC, SessionDescription(turn_detection=None)])
def test_session_update_is_valid_for_each_interface(
    interface: str, description: SessionDescription
) -> None:
    event = wire.session_update(interface, description, "alloy")
    assert validate(interface, "client", event) == []
    session = event["session"]
    if interface == "ga":
        assert session["type"] == "realtime"
        assert session["audio"]["output"]["voice"] == "alloy"
        assert "temperature" not in json.dumps(session)
    else:
        assert session["voice"] == "alloy"
        assert session["input_audio_format"] == "pcm16"
        if description.temperature is not None:
            assert session["temperature"] == description.temperature
    # and never valid for the other interface: the two shapes really differ
    other = "beta" if interface == "ga" else "ga"
    assert validate(other, "client", event) != []


@pytest.mark.parametrize("interface", ["ga", "beta"])
def test_every_client_event_is_valid(interface: str) -> None:
    events = [
        json.loads(wire.append_audio(bytes(960))),
        wire.commit_audio(),
        wire.clear_audio(),
        wire.user_text("hello"),
        wire.assistant_text(interface, "hi there"),
        wire.function_call_item("call_1", "set_timer", '{"minutes": 5}'),
        wire.function_output("call_1", '{"ok": true}'),
        wire.response_create(interface, None, False),
        wire.response_create(interface, "Say: hello", True),
        wire.response_cancel(),
        wire.truncate("item_1", 0, 1200),
        wire.delete_item("item_1"),
    ]
    for event in events:
        assert validate(interface, "client", event) == [], event["type"]


def test_malformed_and_unknown_server_events_raise_the_right_error() -> None:
    with pytest.raises(wire.MalformedEventError):
        wire.parse_server_event("ga", {"type": "response.output_audio.delta"})
    with pytest.raises(wire.MalformedEventError):
        wire.parse_server_event("ga", ["not", "an", "object"])
    with pytest.raises(wire.UnknownEventError):
        wire.parse_server_event("ga", {"type": "brand.new.event"})
    with pytest.raises(wire.UnknownEventError):
        wire.parse_server_event("beta", {"type": "response.output_audio.delta"})
    assert wire.parse_server_event("ga", {"type": "rate_limits.updated"}) == []
