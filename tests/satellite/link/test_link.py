"""The link: the real server and the real client on loopback, over TLS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import pytest
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from realtime_voice_core.backoff import backoff_delays
from realtime_voice_satellite.link import (
    Audio,
    LinkAuthError,
    LinkBusyError,
    LinkCertificate,
    LinkConnectionError,
    SatelliteLinkClient,
    SatelliteLinkServer,
)
from realtime_voice_satellite.link import protocol as p
from realtime_voice_satellite.link.tls import server_context
from tests.helpers.network import TcpRelay
from tests.helpers.waiting import wait_until

from .loopback import KEY, RecordingHandler, make_client, raw_connect


async def test_connect_commands_events_and_audio_both_ways(
    server: SatelliteLinkServer, handler: RecordingHandler
) -> None:
    client = make_client(server)
    info = await client.connect()
    assert info.name == "Kitchen"
    assert info.wake_words_active == ["hey_jarvis"]
    assert client.hello is not None
    assert client.hello.protocol == p.PROTOCOL_VERSION
    await wait_until(lambda: server.connected and handler.connects == 1)

    await client.play_start("r1", "announcement")
    await client.play_audio(b"\x01\x00" * 480)
    await client.play_end("r1")
    await client.configure(threshold=0.7, chime=False)
    await client.set_volume(0.25)
    await wait_until(lambda: len(handler.commands) == 4)
    assert handler.commands == [
        p.PlayStart("r1", "announcement"),
        p.PlayEnd("r1"),
        p.Configure(threshold=0.7, chime=False),
        p.SetVolume(0.25),
    ]
    assert handler.audio == [b"\x01\x00" * 480]
    # The media stream's audio is told apart from the voice stream's (an odd, tagged frame).
    await client.play_start("song", "media")
    await client.play_media_audio(b"\x03\x00" * 480)
    await client.play_audio(b"\x04\x00" * 2)
    await wait_until(lambda: len(handler.audio) == 2)
    assert handler.media_audio == [b"\x03\x00" * 480]
    assert handler.audio[1] == b"\x04\x00" * 2

    await server.send_event(p.Wake("hey_jarvis", 0.93, 12.5))
    await server.send_audio(b"\x02\x00" * 480)
    await server.send_event(p.PlaybackStopped("r1", 340, "barge_in"))
    received: list[object] = []
    async for event in client.events():
        received.append(event)
        if len(received) == 3:
            break
    assert received == [
        p.Wake("hey_jarvis", 0.93, 12.5),
        Audio(b"\x02\x00" * 480),
        p.PlaybackStopped("r1", 340, "barge_in"),
    ]
    await client.close()
    await asyncio.wait_for(handler.disconnects.wait(), 2)
    assert not server.connected


async def test_wrong_key_is_refused_and_nothing_leaks_before_auth(
    server: SatelliteLinkServer, handler: RecordingHandler
) -> None:
    with pytest.raises(LinkAuthError, match="invalid access key"):
        await make_client(server, key="wrong key").connect()

    # A raw WebSocket client sees exactly the hello, then the refusal and close code 4001.
    async with raw_connect(server.port) as raw:
        hello = json.loads(await raw.recv())
        assert set(hello) == {"type", "protocol", "name", "version", "nonce"}
        await raw.send(
            json.dumps({"type": "auth", "protocol": 3, "proof": "00" * 32, "nonce": "ab" * 16})
        )
        frames: list[str | bytes] = []
        with contextlib.suppress(ConnectionClosed):  # ends when the server closes
            async for frame in raw:
                frames.append(frame)
        assert [json.loads(f) for f in frames] == [
            {"type": "auth_failed", "code": "invalid_auth", "reason": "invalid access key"}
        ]
        assert raw.close_code == p.CLOSE_AUTH_FAILED
    # Audio and events sent meanwhile by the agent went nowhere.
    assert await server.send_audio(b"\x00\x00") is False
    assert handler.connects == 0
    assert not server.connected


async def test_client_that_never_authenticates_is_closed(server: SatelliteLinkServer) -> None:
    async with raw_connect(server.port) as raw:
        await raw.recv()  # hello
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(raw.recv(), 2)
        assert raw.close_code == p.CLOSE_AUTH_TIMEOUT


async def test_commands_before_auth_are_refused(
    server: SatelliteLinkServer, handler: RecordingHandler
) -> None:
    async with raw_connect(server.port) as raw:
        await raw.recv()
        await raw.send(p.SetMute(True).to_json())
        refusal = json.loads(await raw.recv())
        assert refusal["code"] == "protocol"
        assert "set_mute" in refusal["reason"]
    assert handler.commands == []


async def test_second_client_is_refused_while_first_lives(
    server: SatelliteLinkServer, handler: RecordingHandler
) -> None:
    first = make_client(server)
    await first.connect()
    with pytest.raises(LinkBusyError, match="busy"):
        await make_client(server).connect()
    await first.set_mute(True)  # the first one is unaffected
    await wait_until(lambda: handler.commands == [p.SetMute(True)])
    await first.close()
    await asyncio.wait_for(handler.disconnects.wait(), 2)
    second = make_client(server)
    await second.connect()
    assert server.connected
    await second.close()


async def test_dead_link_is_noticed_on_both_sides(
    server: SatelliteLinkServer, handler: RecordingHandler
) -> None:
    async with TcpRelay(server.port) as proxy:
        client = make_client(server, port=proxy.port)
        await client.connect()
        proxy.frozen.set()  # packets vanish, no FIN, no RST
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def drain() -> None:
            async with asyncio.timeout(3):
                async for _ in client.events():
                    pass

        with pytest.raises(LinkConnectionError, match="closed"):
            await drain()
        await asyncio.wait_for(handler.disconnects.wait(), 3)
        elapsed = loop.time() - started
        assert elapsed < 2.0  # ping_interval 0.2 + ping_timeout 0.3, plus the close timeout
        assert not server.connected
        with pytest.raises(LinkConnectionError):
            await client.set_mute(True)


async def test_unreachable_satellite_is_a_connection_error() -> None:
    free = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = free.sockets[0].getsockname()[1]
    free.close()
    await free.wait_closed()
    with pytest.raises(LinkConnectionError, match="cannot connect"):
        await SatelliteLinkClient("127.0.0.1", port, KEY, connect_timeout=1).connect()


async def test_malformed_command_is_logged_answered_and_skipped(
    server: SatelliteLinkServer, handler: RecordingHandler, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(server)
    await client.connect()
    connection = client._connection
    assert connection is not None
    with caplog.at_level(logging.WARNING):
        await connection.send('{"type": "set_volume", "volume": 3}')
        await client.set_mute(False)
        async for event in client.events():
            assert isinstance(event, p.Error)
            assert "set_volume.volume" in event.message
            assert "3" in event.message
            break
    await wait_until(lambda: handler.commands == [p.SetMute(False)])
    assert "set_volume.volume" in caplog.text
    await client.close()


async def test_malformed_event_is_skipped_by_client(
    server: SatelliteLinkServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(server)
    await client.connect()
    with caplog.at_level(logging.WARNING):
        await server._send('{"type": "wake", "model": "x"}')
        await server.send_event(p.StateChanged("listening"))
        async for event in client.events():
            assert event == p.StateChanged("listening")
            break
    assert "wake.score: missing" in caplog.text
    await client.close()


async def test_client_refuses_a_satellite_that_cannot_prove_the_key(
    certificate: LinkCertificate,
) -> None:
    async def impostor(connection) -> None:  # type: ignore[no-untyped-def]
        await connection.send(p.Hello(3, "fake", "0", "aa" * 16).to_json())
        await connection.recv()
        await connection.send(p.AuthOk("00" * 32).to_json())
        await connection.wait_closed()

    async with serve(impostor, "127.0.0.1", 0, ssl=server_context(certificate)) as fake:
        port = fake.sockets[0].getsockname()[1]
        with pytest.raises(LinkAuthError, match="could not prove"):
            await SatelliteLinkClient("127.0.0.1", port, KEY).connect()


def test_key_is_not_in_reprs(certificate: LinkCertificate) -> None:
    client = SatelliteLinkClient("10.0.0.2", 10800, KEY)
    server = SatelliteLinkServer(
        RecordingHandler(), name="n", version="v", access_key=KEY, certificate=certificate
    )
    assert KEY not in repr(client)
    assert KEY not in repr(server)


def test_backoff_grows_with_jitter_and_caps() -> None:
    delays = backoff_delays(initial=1, maximum=8, factor=2, jitter=0.25)
    values = [next(delays) for _ in range(8)]
    for value, nominal in zip(values, [1, 2, 4, 8, 8, 8, 8, 8], strict=True):
        assert nominal * 0.75 <= value <= nominal * 1.25
    assert len(set(values)) == len(values)  # jitter: no two equal


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ('{"type": "set_mute", "muted": 1}', "set_mute.muted: expected bool, got 1"),
        (
            '{"type": "play_start", "stream_id": "a", "kind": "song"}',
            "play_start.kind: expected one of",
        ),
        ('{"type": "listen", "timeout": 3}', "listen.timeout: unknown key"),
        ('{"type": "play_end"}', "play_end.stream_id: missing"),
        (
            '{"type": "configure", "threshold": 1.5}',
            "configure.threshold: expected a number from 0.0 to 1.0",
        ),
        (
            '{"type": "wake", "model": "a", "score": 1, "t": 0}',
            "type: unexpected message type 'wake'",
        ),
        ("[]", "expected a JSON object"),
        ("{", "not JSON"),
    ],
)
def test_protocol_errors_name_the_key_and_value(frame: str, message: str) -> None:
    with pytest.raises(p.ProtocolError, match=message.replace("(", r"\(").replace(".", r"\.")):
        p.parse(frame, p.COMMANDS)


def test_every_message_round_trips() -> None:
    samples: list[p.Message] = [
        RecordingHandler().link_info(),
        p.Wake("alexa", 0.8, 1.25),
        p.StateChanged("muted"),
        p.ListenStart("command"),
        p.ListenEnd("timeout"),
        p.PlaybackFinished("s", 1200),
        p.PlaybackStopped("s", 10, "command"),
        p.BargeIn("alexa", 0.9, None),
        p.Error("x", "y"),
    ]
    for message in samples:
        assert p.parse(message.to_json(), p.EVENTS) == message
    for command in [
        p.Listen(4.0),
        p.Listen(),
        p.StopListening(),
        p.StopPlayback(),
        p.SetMute(True),
        p.Configure(["a"], 0.4, 8, True),
        p.Configure(own_threshold=True),
    ]:
        assert p.parse(command.to_json(), p.COMMANDS) == command


def test_optional_fields_left_unset_are_not_sent() -> None:
    """A protocol-1 peer refuses keys it does not know: an optional field added later (here
    ``own_threshold``) must not appear unless it is used."""
    assert json.loads(p.Configure(threshold=0.4).to_json()) == {
        "type": "configure",
        "threshold": 0.4,
    }
    # a required field that may be None is still sent
    assert json.loads(p.BargeIn("alexa", 0.9, None).to_json())["stream_id"] is None
    with pytest.raises(p.ProtocolError, match="own_threshold"):
        p.Configure(threshold=0.4, own_threshold=True)


async def test_a_failing_command_is_reported_and_the_link_stays(
    server: SatelliteLinkServer, handler: RecordingHandler
) -> None:
    async def broken(command: p.Message) -> None:
        if isinstance(command, p.SetVolume):
            raise RuntimeError("mixer not found")
        handler.commands.append(command)

    handler.on_command = broken  # type: ignore[method-assign]
    client = make_client(server)
    await client.connect()
    await client.set_volume(0.5)
    await client.set_mute(True)
    async for event in client.events():
        assert event == p.Error("command_failed", "set_volume: mixer not found")
        break
    await wait_until(lambda: handler.commands == [p.SetMute(True)])
    await client.close()
