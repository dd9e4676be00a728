"""Drops, expiry, aging sessions and garbage frames are survived; retries back off with jitter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from realtime_voice_core.realtime import (
    AudioDelta,
    AuthenticationError,
    Closed,
    RealtimeConnectionError,
    RealtimeError,
    RealtimeSession,
    Reconnected,
    Reconnecting,
    ResponseDone,
    SessionDescription,
    SessionReplaced,
    open_session,
)
from tests.realtime_standin import StandinConfig, StandinServer
from tests.realtime_standin.testing import events_until, settings_for

pytestmark = pytest.mark.usefixtures("socket_enabled")  # loopback only (HA's test plugin)

REPLY = "Seven is a fine number."


@pytest.fixture(params=["ga", "beta"])
def interface(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def server() -> AsyncIterator[StandinServer]:
    async with StandinServer(StandinConfig(endpoint="both", reply=REPLY)) as running:
        yield running
        assert running.violations == []


async def _open(server: StandinServer, interface: str, **overrides: object) -> RealtimeSession:
    mode = "new" if interface == "ga" else "legacy"
    return await open_session(
        settings_for(server.url, model_selection=mode, **overrides),
        SessionDescription(instructions="Be brief.", turn_detection=None),
    )


def _done(event: object) -> bool:
    return isinstance(event, ResponseDone)


async def _turn(session: RealtimeSession, text: str) -> list[object]:
    await session.add_user_text(text)
    await session.create_response()
    return await events_until(session, _done)


def _texts(items: list[dict]) -> list[tuple[str, str]]:
    """(role, text) of the message items of a conversation held by the stand-in."""
    found = []
    for item in items:
        for part in item.get("content") or []:
            text = part.get("text") or part.get("transcript")
            if text:
                found.append((item["role"], text))
    return found


async def test_dropped_connection_reconnects_with_the_conversation(
    server: StandinServer, interface: str
) -> None:
    session = await _open(server, interface)
    try:
        await _turn(session, "Remember the number seven.")
        assert server.drop_connections() == 1
        events = await events_until(session, lambda e: isinstance(e, Reconnected))
        assert isinstance(events[0], Reconnecting)
        assert events[-1] == Reconnected(1, conversation_kept=True)
        after = await _turn(session, "Which number?")  # also: the server saw the replay
        assert after[-1].status == "completed"
        (state,) = server.sessions()
        assert _texts(state["items"]) == [
            ("user", "Remember the number seven."),
            ("assistant", REPLY),
            ("user", "Which number?"),
            ("assistant", REPLY),
        ]
        assert session.metrics.reconnects == 1
    finally:
        await session.close()
    assert len(server.connections) == 2


async def test_drop_during_a_response_finishes_it_as_failed(interface: str) -> None:
    config = StandinConfig(endpoint="both", reply=" ".join(["la"] * 40), delta_interval=0.01)
    async with StandinServer(config) as server:
        session = await _open(server, interface)
        try:
            await session.add_user_text("Sing")
            await session.create_response()
            await events_until(session, lambda e: isinstance(e, AudioDelta))
            server.drop_connections()
            events = await events_until(session, lambda e: isinstance(e, Reconnected))
            (done,) = [e for e in events if isinstance(e, ResponseDone)]
            assert (done.status, done.status_reason) == ("failed", "connection_lost")
            # Audio appended while no connection is up is dropped and counted, not queued.
            assert session.metrics.audio_frames_dropped == 0
        finally:
            await session.close()
        assert server.violations == []


async def test_session_expired_reconnects_keeping_the_conversation(
    server: StandinServer, interface: str
) -> None:
    session = await _open(server, interface)
    try:
        await _turn(session, "My name is Ada.")
        await server.expire_sessions()
        events = await events_until(session, lambda e: isinstance(e, Reconnected))
        assert any(isinstance(e, Reconnecting) and e.reason == "session_expired" for e in events)
        assert (await _turn(session, "What is my name?"))[-1].status == "completed"
        assert _texts(server.sessions()[0]["items"])[:2] == [
            ("user", "My name is Ada."),
            ("assistant", REPLY),
        ]
    finally:
        await session.close()


async def test_expiry_timer_of_the_endpoint() -> None:
    async with StandinServer(StandinConfig(endpoint="ga", session_seconds=0.3)) as server:
        session = await _open(server, "ga")
        try:
            events = await events_until(session, lambda e: isinstance(e, Reconnected))
            assert events[0].reason == "session_expired"
        finally:
            await session.close()


async def test_aging_session_is_replaced_in_a_pause_with_the_conversation(
    interface: str,
) -> None:
    config = StandinConfig(endpoint="both", reply=" ".join(["ok"] * 12), delta_interval=0.02)
    async with StandinServer(config) as server:
        session = await _open(server, interface, session_max_seconds=0.25, replace_idle_grace=5.0)
        try:
            await session.add_user_text("Remember blue.")
            await session.create_response()
            events = await events_until(session, lambda e: isinstance(e, SessionReplaced))
            await _turn(session, "And now?")  # on the new connection
            conversation = _texts(server.sessions()[0]["items"])
        finally:
            await session.close()
        kinds = [type(e) for e in events]
        # The response (longer than the age limit) finished before the replacement.
        assert kinds.index(ResponseDone) < kinds.index(SessionReplaced)
        assert events[kinds.index(ResponseDone)].status == "completed"
        assert events[-1] == SessionReplaced("session_age", conversation_kept=True)
        assert session.metrics.replacements >= 1
        assert conversation[:3] == [
            ("user", "Remember blue."),
            ("assistant", config.reply),
            ("user", "And now?"),
        ]
        assert server.violations == []


async def test_garbage_frames_are_skipped_and_logged_once(
    server: StandinServer, interface: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="realtime_voice_core")

    def skipped() -> list[str]:
        return [r.getMessage() for r in caplog.records if "Skipping" in r.getMessage()]

    session = await _open(server, interface)
    try:
        await server.send_garbage()
        first = await _turn(session, "Still there?")  # the turn also proves the garbage was read
        logged, malformed = skipped(), session.metrics.malformed_events
        await server.send_garbage()
        second = await _turn(session, "And now?")
    finally:
        await session.close()
    assert first[-1].status == second[-1].status == "completed"
    # not JSON, binary, a JSON array, and broken audio deltas are malformed; one is unknown
    assert malformed >= 4
    assert session.metrics.malformed_events == 2 * malformed
    assert len(logged) >= 4
    assert any("unknown server event totally.unknown.event" in m for m in logged)
    assert skipped() == logged, "each kind is logged once, not every time"
    assert session.metrics.reconnects == 0


async def test_reconnect_backs_off_with_jitter_then_gives_up(interface: str) -> None:
    server = StandinServer(StandinConfig(endpoint="both"))
    await server.start()
    session = await _open(
        server,
        interface,
        reconnect_initial_delay=0.02,
        reconnect_max_delay=0.08,
        reconnect_max_attempts=5,
    )
    try:
        await server.stop()  # the endpoint goes away for good
        events = await events_until(session, lambda e: isinstance(e, Closed), within=10)
    finally:
        await session.close()
    tries = [e for e in events if isinstance(e, Reconnecting)]
    assert [t.attempt for t in tries] == [1, 2, 3, 4, 5]
    for t, ceiling in zip(tries, (0.02, 0.04, 0.08, 0.08, 0.08), strict=True):
        assert ceiling / 2 <= t.delay_s <= ceiling
    assert len({t.delay_s for t in tries}) == 5, "jittered, not identical"
    closed = events[-1]
    assert isinstance(closed.error, RealtimeConnectionError)
    assert "5 reconnect attempts" in str(closed.error)
    assert session.closed


async def test_bad_key_on_reconnect_closes_without_retrying(server: StandinServer) -> None:
    session = await _open(server, "ga")
    try:
        server.config.api_key = "sk-rotated"
        server.drop_connections()
        events = await events_until(session, lambda e: isinstance(e, Closed))
    finally:
        await session.close()
    assert [e.attempt for e in events if isinstance(e, Reconnecting)] == [1]
    assert isinstance(events[-1].error, AuthenticationError)


async def test_audio_while_reconnecting_is_dropped_and_control_waits(
    server: StandinServer,
) -> None:
    session = await _open(server, "ga", reconnect_initial_delay=0.2, reconnect_max_delay=0.2)
    try:
        server.drop_connections()
        await events_until(session, lambda e: isinstance(e, Reconnecting))
        await session.append_audio(bytes(960))
        assert session.metrics.audio_frames_dropped == 1
        # A control call waits for the new connection instead of failing.
        await session.add_user_text("Are you back?")
        await session.create_response()
        events = await events_until(session, _done)
        assert any(isinstance(e, Reconnected) for e in events)
        assert events[-1].status == "completed"
    finally:
        await session.close()


async def test_calls_waiting_for_a_reconnect_fail_when_the_session_gives_up() -> None:
    server = StandinServer(StandinConfig(endpoint="both"))
    await server.start()
    session = await _open(server, "ga", reconnect_max_attempts=2, connect_timeout=30.0)
    try:
        await server.stop()
        await events_until(session, lambda e: isinstance(e, Reconnecting))
        with pytest.raises(RealtimeError) as reset_error:
            await asyncio.wait_for(session.reset_conversation(), 10)
        with pytest.raises(RealtimeError) as send_error:
            await asyncio.wait_for(session.add_user_text("anyone?"), 10)
    finally:
        await session.close()
    assert reset_error.value.code == "closed"
    assert send_error.value.code == "closed"
