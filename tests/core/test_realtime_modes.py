"""Each model_selection mode against each kind of endpoint in docs/realtime-core.md's failure table."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from realtime_voice_core.realtime import (
    AuthenticationError,
    InterfaceUnsupportedError,
    ModelUnavailableError,
    ProtocolError,
    RealtimeConnectionError,
    SelectionMemory,
    SessionDescription,
    VoiceUnavailableError,
    check_connection,
    open_session,
)
from tests.realtime_standin import BETA_MODELS, GA_MODELS, StandinConfig, StandinServer
from tests.realtime_standin.testing import TEST_KEY, settings_for

pytestmark = pytest.mark.usefixtures("socket_enabled")  # loopback only (HA's test plugin)


@dataclass(frozen=True)
class Endpoint:
    name: str
    config: dict[str, Any]


ENDPOINTS = {
    "ga_only": Endpoint("ga_only", {"endpoint": "ga"}),
    "beta_only": Endpoint("beta_only", {"endpoint": "beta"}),
    # a beta-only endpoint that knows the GA model's name, so it fails on session.type instead
    "beta_only_knows_new": Endpoint(
        "beta_only_knows_new", {"endpoint": "beta", "models": BETA_MODELS | {"gpt-realtime"}}
    ),
    "both": Endpoint("both", {"endpoint": "both"}),
    # GA only, and this key may not use gpt-realtime
    "ga_only_no_model": Endpoint(
        "ga_only_no_model", {"endpoint": "ga", "models": GA_MODELS - {"gpt-realtime"}}
    ),
    "bad_key_close": Endpoint("bad_key_close", {"api_key": "sk-other", "auth_failure": "close"}),
    "bad_key_http": Endpoint("bad_key_http", {"api_key": "sk-other", "auth_failure": "http"}),
}

NEW = ("gpt-realtime", "ga", None)
LEGACY = ("gpt-4o-realtime-preview", "beta", None)
# endpoint -> mode -> (model, interface, fallback reason) or (error type, error code)
EXPECTED: dict[str, dict[str, tuple[Any, ...]]] = {
    "ga_only": {
        "new": NEW,
        "legacy": (InterfaceUnsupportedError, "beta_disabled"),
        "auto": NEW,
    },
    "beta_only": {
        "new": (ModelUnavailableError, "model_not_found"),
        "legacy": LEGACY,
        "auto": ("gpt-4o-realtime-preview", "beta", "model_not_found"),
    },
    "beta_only_knows_new": {
        "new": (InterfaceUnsupportedError, "ga_unsupported"),
        "legacy": LEGACY,
        "auto": ("gpt-4o-realtime-preview", "beta", "ga_unsupported"),
    },
    "both": {"new": NEW, "legacy": LEGACY, "auto": NEW},
    "ga_only_no_model": {
        "new": (ModelUnavailableError, "model_not_found"),
        "legacy": (InterfaceUnsupportedError, "beta_disabled"),
        "auto": (ModelUnavailableError, "model_not_found"),
    },
    "bad_key_close": {
        mode: (AuthenticationError, "invalid_api_key") for mode in ("new", "legacy", "auto")
    },
    "bad_key_http": {
        mode: (AuthenticationError, "invalid_api_key") for mode in ("new", "legacy", "auto")
    },
}
# How many connections each case may open: fallback once at most, never a loop.
MAX_CONNECTIONS = {"new": 1, "legacy": 1, "auto": 2}


@pytest.mark.parametrize("mode", ["new", "legacy", "auto"])
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_mode_against_endpoint(endpoint: str, mode: str) -> None:
    expected = EXPECTED[endpoint][mode]
    async with StandinServer(StandinConfig(**ENDPOINTS[endpoint].config)) as server:
        settings = settings_for(server.url, model_selection=mode)
        if isinstance(expected[0], type):
            error_type, code = expected
            with pytest.raises(error_type) as caught:
                await open_session(settings, SessionDescription())
            assert caught.value.code == code
            assert str(caught.value)  # a message a user can read
        else:
            model, interface, reason = expected
            session = await open_session(settings, SessionDescription())
            try:
                assert (session.model, session.interface) == (model, interface)
                if reason is None:
                    assert session.fallback is None
                else:
                    assert session.fallback is not None
                    assert session.fallback.as_dict() == {
                        "from": "gpt-realtime",
                        "to": "gpt-4o-realtime-preview",
                        "reason": reason,
                    }
                    assert session.metrics.fallbacks == 1
                assert server.live_connections == 1
                assert server.sessions()[0]["interface"] == interface
            finally:
                await session.close()
        assert 1 <= len(server.connections) <= MAX_CONNECTIONS[mode]
        if endpoint.startswith("bad_key"):
            assert len(server.connections) == 1, "no fallback on a bad key"
        if endpoint == "beta_only_knows_new" and mode != "legacy":
            # The GA session.update reaching a beta-only endpoint is how the layer finds out.
            assert {(v[1], v[2]) for v in server.client_violations} == {("beta", "session.update")}
            assert "session.type" in {v[3].param for v in server.client_violations}
        else:
            assert server.client_violations == []
        assert not [v for v in server.violations if v[0] == "server"]


async def test_auto_never_tries_legacy_again_where_beta_is_disabled() -> None:
    memory = SelectionMemory()
    async with StandinServer(StandinConfig(**ENDPOINTS["ga_only_no_model"].config)) as server:
        settings = settings_for(server.url)
        with pytest.raises(ModelUnavailableError):
            await open_session(settings, SessionDescription(), selection_memory=memory)
        assert [c.refused for c in server.connections] == [
            "model_not_found",
            "beta_api_shape_disabled",
        ]
        assert memory.is_beta_disabled(server.url)
        with pytest.raises(ModelUnavailableError):
            await open_session(settings, SessionDescription(), selection_memory=memory)
        assert len(server.connections) == 3, "the second try did not attempt legacy"
        assert server.connections[-1].interface == "ga"


async def test_auto_remembers_fallback_and_retries_new_model_later() -> None:
    now = [1_000_000.0]
    memory = SelectionMemory(retry_new_after=6 * 3600, clock=lambda: now[0])
    async with StandinServer(StandinConfig(endpoint="beta")) as server:
        settings = settings_for(server.url)
        first = await open_session(settings, SessionDescription(), selection_memory=memory)
        await first.close()
        assert len(server.connections) == 2
        outcome = memory.recall(settings)
        assert outcome is not None
        assert (outcome.model, outcome.interface, outcome.fallback_reason) == (
            "gpt-4o-realtime-preview",
            "beta",
            "model_not_found",
        )

        # Within 6 h: straight to legacy, one connection, the fallback still reported.
        now[0] += 3600
        second = await open_session(settings, SessionDescription(), selection_memory=memory)
        await second.close()
        assert len(server.connections) == 3
        assert server.connections[-1].model == "gpt-4o-realtime-preview"
        assert second.fallback is not None
        assert second.fallback.reason == "model_not_found (remembered)"

        # After 6 h: the new model is tried again first.
        now[0] += 6 * 3600
        third = await open_session(settings, SessionDescription(), selection_memory=memory)
        await third.close()
        assert [c.model for c in server.connections[3:]] == [
            "gpt-realtime",
            "gpt-4o-realtime-preview",
        ]
        assert third.fallback is not None

    restored = SelectionMemory.from_dict(memory.as_dict(), clock=lambda: now[0])
    assert restored.recall(settings) == memory.recall(settings)


async def test_remembered_legacy_that_stopped_working_goes_back_to_new() -> None:
    memory = SelectionMemory()
    async with StandinServer(StandinConfig(endpoint="beta")) as server:
        settings = settings_for(server.url)
        await (await open_session(settings, SessionDescription(), selection_memory=memory)).close()
        # The endpoint is upgraded: now GA only.
        server.config.endpoint = "ga"
        server.config.models = GA_MODELS
        session = await open_session(settings, SessionDescription(), selection_memory=memory)
        await session.close()
        assert (session.model, session.interface, session.fallback) == ("gpt-realtime", "ga", None)
        assert [c.refused for c in server.connections[2:]] == ["beta_api_shape_disabled", None]


async def test_azure_style_url_uses_api_key_header_and_keeps_the_deployment() -> None:
    async with StandinServer(StandinConfig(endpoint="ga", api_key=TEST_KEY)) as server:
        url = (
            f"http://127.0.0.1:{server.port}/openai/realtime"
            "?api-version=2025-04-01-preview&deployment=gpt-realtime-mini"
        )
        report = await check_connection(settings_for(url, model_selection="new"))
        assert report.model == "gpt-realtime-mini"
        assert report.interface == "ga"
        (record,) = server.connections
        assert record.auth == "api-key"
        assert "model=" not in record.path
        assert record.model == "gpt-realtime-mini"


async def test_proxy_url_with_a_model_is_taken_as_given() -> None:
    async with StandinServer(StandinConfig(endpoint="both", api_key=TEST_KEY)) as server:
        url = f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime-mini&tenant=a"
        report = await check_connection(settings_for(url, model_selection="new"))
        assert report.model == "gpt-realtime-mini"
        (record,) = server.connections
        assert record.auth == "bearer"
        assert record.path.count("model=") == 1


async def test_check_connection_reports_without_running_a_turn() -> None:
    async with StandinServer(StandinConfig(endpoint="beta")) as server:
        report = await check_connection(settings_for(server.url, voice="cedar"))
        assert (report.model, report.interface, report.voice) == (
            "gpt-4o-realtime-preview",
            "beta",
            "alloy",
        )
        assert report.fallback is not None
        assert report.fallback.reason == "model_not_found"
        assert report.connect_ms is not None
        assert report.connect_ms > 0
        assert server.responses_done == 0
        assert not any(e["type"] == "response.create" for _i, e in server.received)
        await server.wait_live(0)


async def test_unreachable_endpoint_is_a_transient_connection_error() -> None:
    async with StandinServer() as server:
        url = server.url
    with pytest.raises(RealtimeConnectionError) as caught:
        await open_session(settings_for(url), SessionDescription())
    assert caught.value.code == "connection_failed"
    assert "127.0.0.1" in str(caught.value)


async def test_voice_manager_against_the_endpoint() -> None:
    custom = "my-preview-deployment"  # unknown to the registry; the stand-in gives it beta voices
    config = StandinConfig(endpoint="both", models=GA_MODELS | BETA_MODELS | {custom})
    async with StandinServer(config) as server:
        ga = await open_session(settings_for(server.url, voice="cedar"), SessionDescription())
        await ga.close()
        assert (ga.model, ga.voice) == ("gpt-realtime", "cedar")

        # Known model without the voice: the fallback voice is chosen before connecting.
        legacy = await open_session(
            settings_for(server.url, model_selection="legacy", voice="cedar"), SessionDescription()
        )
        await legacy.close()
        assert legacy.voice == "alloy"

        # Unknown model: the endpoint refuses the voice, then the fallback is used.
        before = len(server.connections)
        unknown = await open_session(
            settings_for(server.url, model_selection="legacy", legacy_model=custom, voice="cedar"),
            SessionDescription(),
        )
        await unknown.close()
        assert (unknown.model, unknown.interface, unknown.voice) == (custom, "beta", "alloy")
        assert len(server.connections) - before == 2
        assert [v[3].param for v in server.violations] == []

        with pytest.raises(VoiceUnavailableError) as caught:
            await open_session(
                settings_for(
                    server.url,
                    model_selection="legacy",
                    legacy_model=custom,
                    voice="cedar",
                    auto_select_voice=False,
                ),
                SessionDescription(),
            )
        assert str(caught.value).startswith(f"Voice 'cedar' not available for model '{custom}'")
        with pytest.raises(VoiceUnavailableError) as caught:
            await open_session(
                settings_for(
                    server.url, model_selection="legacy", voice="cedar", auto_select_voice=False
                ),
                SessionDescription(),
            )
        assert str(caught.value).startswith(
            "Voice 'cedar' not available for model 'gpt-4o-realtime-preview'"
        )


async def _odd_endpoint(handler) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/realtime"


async def test_silent_endpoint_times_out_and_bare_close_codes_are_mapped() -> None:
    async def silent(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async def close_3000(ws: ServerConnection) -> None:
        await ws.close(3000, "invalid_api_key")

    async def close_4000(ws: ServerConnection) -> None:
        await ws.close(4000, "policy")

    async with contextlib.aclosing(_odd_endpoint(silent)) as urls:
        url = await anext(urls)
        with pytest.raises(RealtimeConnectionError, match="did not configure a session"):
            await open_session(settings_for(url, connect_timeout=0.3), SessionDescription())
    async with contextlib.aclosing(_odd_endpoint(close_3000)) as urls:
        url = await anext(urls)
        with pytest.raises(AuthenticationError, match="3000"):
            await open_session(settings_for(url), SessionDescription())
    async with contextlib.aclosing(_odd_endpoint(close_4000)) as urls:
        url = await anext(urls)
        with pytest.raises(ProtocolError) as caught:
            await open_session(settings_for(url, model_selection="new"), SessionDescription())
        assert caught.value.code == "closed_4000"


async def test_an_endpoint_going_away_during_the_handshake_is_a_connection_error() -> None:
    """The endpoint shuts down (close 1001) right after session.created, while the client sends
    its configuration: a transient RealtimeConnectionError, not websockets' ConnectionClosedOK
    (found when the stand-in was stopped while a satellite's context was being reset)."""

    async def going_away(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "session.created", "event_id": "e1", "session": {}}))
        await ws.close(1001, "going away")

    async with contextlib.aclosing(_odd_endpoint(going_away)) as urls:
        url = await anext(urls)
        for _ in range(2):  # the close is read before or after the configuration is sent
            with pytest.raises(RealtimeConnectionError):
                await open_session(settings_for(url, model_selection="new"), SessionDescription())
