"""The link against online guessing and log flooding (#23 item 5): failed authentications slow
the address they come from (a right key from another address is not slowed), websockets' lines
per connection stay out of the satellite's log, every line a peer can cause is rate-limited, and
the state directory is the owner's alone."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from realtime_voice_satellite.agent.config import parse_config
from realtime_voice_satellite.agent.credentials import (
    link_certificate,
    private_dir,
    state_dir,
    write_access_key,
)
from realtime_voice_satellite.agent.identity import satellite_id
from realtime_voice_satellite.audio import write_wav
from realtime_voice_satellite.commands.satellite import configure_logging
from realtime_voice_satellite.link import LinkCertificate, SatelliteLinkServer
from realtime_voice_satellite.link import protocol as p
from realtime_voice_satellite.link.limits import AuthBackoff
from realtime_voice_satellite.link.log_limit import MAX_KEYS, RateLimitedLog
from realtime_voice_satellite.link.tls import client_context
from tests.helpers.waiting import wait_until

from ..harness import running_satellite, silence
from ..test_cli import run_cli
from .loopback import KEY, RecordingHandler, link_server, make_client, serving

WRONG = "not the key, but a guess at it"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {"auth_timeout": 5.0, "auth_backoff": AuthBackoff(first_s=0.5, max_s=2.0)}


async def attempt(server: SatelliteLinkServer, key: str, source: str) -> tuple[str, float]:
    """One authentication from ``source`` (a loopback address): the answer ("auth_ok", or the
    refusal's code) and when it came (``time.monotonic()``)."""
    async with connect(
        f"wss://127.0.0.1:{server.port}/",
        ssl=client_context(),
        proxy=None,
        compression=None,
        local_addr=(source, 0),
        open_timeout=10,
    ) as connection:
        hello = p.parse(await connection.recv(), (p.Hello,))
        assert isinstance(hello, p.Hello)
        nonce = p.new_nonce()
        proof = p.auth_proof(
            key,
            "client",
            server_nonce=hello.nonce,
            client_nonce=nonce,
            certificate=server.fingerprint,
            protocol=p.PROTOCOL_VERSION,
        )
        auth = p.Auth(p.PROTOCOL_VERSION, proof, nonce, "guesser", server.fingerprint)
        await connection.send(auth.to_json())
        answer = json.loads(await connection.recv())
        return answer.get("code") or answer["type"], time.monotonic()


# The delays are between the checks of one address's attempts, so they are asserted between the
# answers (less a margin for an answer's way to the client on a loaded machine); the attempts
# that are not slowed only to take far less than the delay they would have had.
MARGIN = 0.1


async def test_wrong_keys_from_one_address_are_slowed_a_right_key_from_another_is_not(
    server: SatelliteLinkServer,
) -> None:
    answered = []
    for _ in range(5):
        answer, at = await attempt(server, WRONG, "127.0.0.2")
        assert answer == "invalid_auth"
        answered.append(at)
    gaps = [b - a for a, b in itertools.pairwise(answered)]
    # 0.5 s after the first failure, doubling per failure, bounded at 2 s
    for gap, delay in zip(gaps, (0.5, 1.0, 2.0, 2.0), strict=True):
        assert gap >= delay - MARGIN, gaps
    assert gaps[-1] < 2.0 + 1.5, gaps  # bounded
    # a right key from another address right after: not slowed
    sent = time.monotonic()
    answer, at = await attempt(server, KEY, "127.0.0.1")
    assert answer == "auth_ok"
    assert at - sent < 1.5
    # from the guessing address, a right key waits its turn too, and resets the address
    answer, at = await attempt(server, KEY, "127.0.0.2")
    assert answer == "auth_ok"
    assert at - answered[-1] >= 2.0 - MARGIN
    sent = time.monotonic()
    answer, at = await attempt(server, WRONG, "127.0.0.2")
    assert answer == "invalid_auth"
    assert at - sent < 1.5


async def test_parallel_guesses_from_one_address_queue_behind_each_other(
    server: SatelliteLinkServer,
) -> None:
    """More connections do not buy more guesses: after a failure, four at once are checked one
    delay apart."""
    answer, first = await attempt(server, WRONG, "127.0.0.2")
    assert answer == "invalid_auth"
    answers = await asyncio.gather(*(attempt(server, WRONG, "127.0.0.2") for _ in range(4)))
    assert [a for a, _ in answers] == ["invalid_auth"] * 4
    # slots 0.5 s apart at least (each failure lengthens the delay further)
    assert max(at for _, at in answers) - first >= 4 * 0.5 - MARGIN


def test_backoff_grows_is_bounded_resets_and_remembers_a_bounded_number_of_addresses() -> None:
    now = [0.0]
    backoff = AuthBackoff(first_s=0.5, max_s=4.0, max_addresses=100, clock=lambda: now[0])
    assert backoff.wait("10.0.0.1") == 0.0
    waits = []
    for _ in range(6):
        backoff.failed("10.0.0.1")
        waits.append(backoff.wait("10.0.0.1"))
        now[0] += waits[-1]
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.wait("10.0.0.2") == 0.0  # another address
    backoff.succeeded("10.0.0.1")
    assert backoff.wait("10.0.0.1") == 0.0
    for n in range(10_000):  # a scan from many addresses
        backoff.failed(f"fd00::{n:x}")
    assert len(backoff) == 100
    with pytest.raises(ValueError, match="first_s"):
        AuthBackoff(first_s=0.0)


@pytest.fixture
def _websockets_level() -> Iterator[None]:
    """configure_logging changes the websockets logger's level: put it back after."""
    logger = logging.getLogger("websockets")
    level = logger.level
    yield
    logger.setLevel(level)


@pytest.mark.usefixtures("_websockets_level")
async def test_connections_that_never_authenticate_leave_no_websockets_lines(
    server: SatelliteLinkServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The satellite's log set up as the CLI does (``log_level: info``): a flood of connections
    that open the WebSocket and leave, or guess the key, logs a line or two of the satellite's
    own, not websockets' two INFO lines per connection."""
    configure_logging("info")
    caplog.set_level(logging.INFO)
    server.auth_backoff = AuthBackoff(first_s=0.01, max_s=0.02)
    for _ in range(20):
        async with connect(
            f"wss://127.0.0.1:{server.port}/", ssl=client_context(), proxy=None
        ) as connection:
            await connection.recv()  # the hello; then gone
    for _ in range(10):
        assert (await attempt(server, WRONG, "127.0.0.2"))[0] == "invalid_auth"
    await asyncio.sleep(0.2)
    names = {r.name for r in caplog.records}
    assert not [n for n in names if n.startswith("websockets")], names
    refused = [r for r in caplog.records if "refused link client" in r.getMessage()]
    assert len(refused) == 1


async def test_what_home_assistant_can_make_the_satellite_log_is_rate_limited(
    certificate: LinkCertificate, caplog: pytest.LogCaptureFixture
) -> None:
    """An HA holding the key connects and leaves 20 times, and sends a command that fails 20
    times: a few lines each, the failure's traceback once."""
    handler = RecordingHandler()

    async def broken(command: p.Message) -> None:
        raise RuntimeError("mixer not found")

    handler.on_command = broken  # type: ignore[method-assign]
    server = link_server(certificate, handler)
    caplog.set_level(logging.INFO)
    async with serving(server):
        for _ in range(20):
            client = make_client(server)
            await client.connect()
            await client.close()
            await wait_until(lambda: not server.connected)
        client = make_client(server)
        await client.connect()
        for _ in range(20):
            await client.set_volume(0.5)
        errors = 0
        with contextlib.suppress(TimeoutError, ConnectionClosed):
            async with asyncio.timeout(2):
                async for event in client.events():
                    errors += isinstance(event, p.Error)
                    if errors == 20:
                        break
        assert errors == 20  # each is still answered
        await client.close()
    messages = [r.getMessage() for r in caplog.records]
    assert 1 <= sum("Home Assistant connected" in m for m in messages) <= 6
    assert 1 <= sum("disconnected" in m for m in messages) <= 6
    failed = [r for r in caplog.records if "command set_volume failed" in r.getMessage()]
    assert len(failed) == 1
    assert failed[0].exc_info is not None


async def test_home_assistant_not_keeping_up_is_a_line_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The agent's queue to HA full (HA stopped reading): a line, not one per message dropped."""
    wav = tmp_path / "quiet.wav"
    write_wav(wav, silence(5.0, 16_000), 16_000)
    async with running_satellite(wav, tmp_path) as sat:
        for _ in range(2000):  # without yielding: the sender cannot drain the queue meanwhile
            sat.agent._send(p.StateChanged("idle"))
    dropped = [r for r in caplog.records if "not keeping up" in r.getMessage()]
    assert len(dropped) == 1


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_state_directory_is_made_owner_only(tmp_path: Path) -> None:
    """A first start in a new state directory: the directory is 0700, the key files 0600."""
    state = tmp_path / "var" / "realtime-voice"
    config = parse_config(
        f"name: Kitchen\nlink: {{state_dir: {state}}}\nzeroconf: {{enabled: false}}\n", "t.yaml"
    )
    write_access_key(state_dir(config), None)  # as pairing or --new-access-key
    link_certificate(config)
    satellite_id(state, 10800)
    assert _mode(state) == 0o700
    assert {f.name: _mode(f) for f in state.iterdir() if "key" in f.name} == {
        "access_key": 0o600,
        "link-key.pem": 0o600,
    }


def test_an_existing_open_state_directory_is_made_owner_only_at_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    assert private_dir(state) == 0o755  # the old mode, for the log
    assert _mode(state) == 0o700
    assert private_dir(state) is None  # nothing to change any more


async def test_the_satellite_makes_an_open_state_directory_private_at_start(
    tmp_path: Path,
) -> None:
    """Through the CLI (``--new-access-key``, the quickest start): 0755 becomes 0700."""
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)
    config = tmp_path / "satellite.yaml"
    config.write_text(f"name: Kitchen\nlink: {{state_dir: {state}}}\n")
    process = await run_cli("--config", str(config), "--new-access-key")
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert _mode(state) == 0o700
    assert _mode(state / "access_key") == 0o600


def test_rate_limited_log_bursts_counts_what_it_left_out_and_stays_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    logger = logging.getLogger("test.rate_limited")
    log = RateLimitedLog(logger, 60.0, level=logging.INFO, burst=2, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="test.rate_limited")
    for n in range(10):
        log.log("stop", "stop word %d", n)
    now[0] = 61.0
    log.log("stop", "stop word %d", 10, level=logging.WARNING, exc_info=ValueError("x"))
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "stop word 0"),
        (logging.INFO, "stop word 1"),
        (logging.WARNING, "stop word 10 (8 more like this not logged)"),
    ]
    assert caplog.records[-1].exc_info is not None
    for n in range(5 * MAX_KEYS):  # a key per address, all within one interval
        log.log(f"address {n}", "refused %d", n)
    assert len(log._last) <= MAX_KEYS
    assert len(log._suppressed) <= MAX_KEYS
