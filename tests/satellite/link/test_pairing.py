"""Pairing by a spoken code (issue #25): the real server's pairing window and HA's real exchange
(SPAKE2 over TLS) on loopback. The code is what the satellite would speak (the test hears it through
the window's ``speak``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from realtime_voice_satellite.link import (
    LinkAuthError,
    LinkCertificate,
    LinkCertificateError,
    LinkConnectionError,
    SatelliteLinkClient,
    keys,
)
from realtime_voice_satellite.link import protocol as p
from realtime_voice_satellite.link.limits import AuthBackoff
from realtime_voice_satellite.link.pairing import (
    MAX_TRIES,
    PairingError,
    PairingWindow,
    client_exchange,
    pair,
    request_code,
)

from .loopback import KEY, link_server, raw_connect, serving
from .relay import TerminatingRelay


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Satellite:
    """A link server with a pairing window: what it spoke and what it stored."""

    def __init__(self, certificate: LinkCertificate, access_key: str | None) -> None:
        self.spoken: list[str] = []
        self.stored: list[str] = []
        self.clock = Clock()
        self.window = PairingWindow(self.spoken.append, window_s=120.0, clock=self.clock)
        self.server = link_server(
            certificate,
            access_key=access_key,
            auth_timeout=2.0,
            pairing=self.window,
            on_paired=self.stored.append,
            # a few wrong codes in a row without the seconds a guesser waits
            auth_backoff=AuthBackoff(0.01, 0.01),
        )

    @property
    def port(self) -> int:
        return self.server.port

    async def code(self) -> str:
        await request_code("127.0.0.1", self.port)
        return self.spoken[-1]


@pytest.fixture
async def satellite(certificate: LinkCertificate) -> AsyncIterator[Satellite]:
    satellite = Satellite(certificate, None)
    async with serving(satellite.server):
        yield satellite


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_the_right_code_gives_both_sides_the_same_strong_key(satellite: Satellite) -> None:
    satellite.window.open()
    opened = await request_code("127.0.0.1", satellite.port)
    assert opened.tries_left == MAX_TRIES
    assert 100 < opened.expires_s <= 120
    [code] = satellite.spoken
    assert len(code) == 6
    assert code.isdigit()

    key = await pair("127.0.0.1", satellite.port, code)

    assert satellite.stored == [key]
    assert keys.weakness(key) is None
    assert len(key) == 43
    assert code not in key
    info = await SatelliteLinkClient("127.0.0.1", satellite.port, key).connect()
    assert info.name == "Kitchen"
    # pairing ended with it: the code does not pair a second Home Assistant
    with pytest.raises(PairingError) as refused:
        await request_code("127.0.0.1", satellite.port)
    assert refused.value.code == "not_pairing"
    with pytest.raises(PairingError) as refused:
        await pair("127.0.0.1", satellite.port, code)
    assert refused.value.code == "not_pairing"
    assert satellite.stored == [key]


async def test_a_wrong_code_is_known_to_both_sides_and_stores_nothing(
    satellite: Satellite,
) -> None:
    satellite.window.open()
    code = await satellite.code()
    with pytest.raises(PairingError) as refused:
        await pair("127.0.0.1", satellite.port, wrong(code))
    assert refused.value.code == "wrong_code"
    assert refused.value.tries_left == MAX_TRIES - 1
    assert satellite.window.tries_left == MAX_TRIES - 1  # the satellite counted it
    assert satellite.stored == []
    with pytest.raises(LinkAuthError, match="no access key yet"):
        await SatelliteLinkClient("127.0.0.1", satellite.port, KEY).connect()
    # the right code still pairs, within the tries left
    key = await pair("127.0.0.1", satellite.port, code)
    assert satellite.stored == [key]


async def test_three_wrong_codes_end_pairing(satellite: Satellite) -> None:
    satellite.window.open()
    code = await satellite.code()
    failures = []
    for _ in range(MAX_TRIES):
        with pytest.raises(PairingError) as refused:
            await pair("127.0.0.1", satellite.port, wrong(code))
        failures.append((refused.value.code, refused.value.tries_left))
    assert failures == [("wrong_code", 2), ("wrong_code", 1), ("too_many_tries", 0)]
    for attempt in (
        request_code("127.0.0.1", satellite.port),
        pair("127.0.0.1", satellite.port, code),
    ):
        with pytest.raises(PairingError) as refused:
            await attempt
        assert refused.value.code == "too_many_tries"
        assert "start it again on the satellite" in str(refused.value)
    assert satellite.stored == []
    # --pair on the satellite opens it again, with a new code
    satellite.window.open()
    key = await pair("127.0.0.1", satellite.port, await satellite.code())
    assert satellite.stored == [key]


async def test_an_abandoned_exchange_uses_up_a_try(satellite: Satellite) -> None:
    """A guesser that drops the connection after the satellite's SPAKE2 message (before the
    confirmation that would tell the satellite the guess was wrong) still spent a try."""
    satellite.window.open()
    await satellite.code()
    fingerprint = satellite.server.fingerprint
    guess = client_exchange("000000", p.PROTOCOL_VERSION, fingerprint).start().hex()
    async with raw_connect(satellite.port) as raw:
        p.parse(await raw.recv(), (p.Hello,))
        await raw.send(p.Pair(p.PROTOCOL_VERSION, guess, p.new_nonce(), "x", fingerprint).to_json())
        assert isinstance(p.parse(await raw.recv(), (p.PairReply,)), p.PairReply)
        assert satellite.window.tries_left == MAX_TRIES - 1
    with pytest.raises(PairingError) as refused:
        await pair(
            "127.0.0.1", satellite.port, "000000" if satellite.spoken[-1] != "000000" else "1" * 6
        )
    assert refused.value.tries_left == MAX_TRIES - 2


async def test_an_expired_code_is_named(satellite: Satellite) -> None:
    satellite.window.open()
    code = await satellite.code()
    satellite.clock.now += 121
    with pytest.raises(PairingError) as refused:
        await pair("127.0.0.1", satellite.port, code)
    assert refused.value.code == "expired"
    with pytest.raises(PairingError) as refused:
        await request_code("127.0.0.1", satellite.port)
    assert refused.value.code == "expired"
    assert satellite.stored == []


async def test_a_satellite_not_in_pairing_mode_says_so(satellite: Satellite) -> None:
    with pytest.raises(PairingError) as refused:
        await request_code("127.0.0.1", satellite.port)
    assert refused.value.code == "not_pairing"
    assert satellite.spoken == []


async def test_a_second_home_assistant_is_refused_while_a_key_exists(
    certificate: LinkCertificate,
) -> None:
    """A paired satellite (its key stored, no --pair since): another HA can neither hear a code
    nor pair; the first keeps its link."""
    satellite = Satellite(certificate, KEY)
    async with serving(satellite.server):
        first = SatelliteLinkClient("127.0.0.1", satellite.port, KEY)
        await first.connect()
        with pytest.raises(PairingError) as refused:
            await request_code("127.0.0.1", satellite.port)
        assert refused.value.code == "not_pairing"
        with pytest.raises(PairingError):
            await pair("127.0.0.1", satellite.port, "123456")
        assert satellite.spoken == []
        assert satellite.stored == []
        assert first.connected
        # the user re-pairs on the Pi (--pair): the new HA pairs, the old key stops working
        satellite.window.open()
        key = await pair("127.0.0.1", satellite.port, await satellite.code())
        with pytest.raises(LinkAuthError):
            await SatelliteLinkClient("127.0.0.1", satellite.port, KEY).connect()
        await SatelliteLinkClient("127.0.0.1", satellite.port, key).connect()


async def test_pairing_is_off_when_the_server_has_no_window(certificate: LinkCertificate) -> None:
    async with serving(link_server(certificate)) as server:
        with pytest.raises(PairingError, match=r"satellite\.yaml") as refused:
            await request_code("127.0.0.1", server.port)
        assert refused.value.code == "not_pairing"


async def test_a_relay_with_its_own_certificate_cannot_pair(
    satellite: Satellite, tmp_path: Path
) -> None:
    satellite.window.open()
    code = await satellite.code()
    # it passes HA's messages on as they are: the satellite sees another fingerprint
    async with TerminatingRelay(satellite.port, tmp_path / "a", both_ways=True) as relay:
        with pytest.raises(LinkCertificateError):
            await pair("127.0.0.1", relay.port, code)
    # it claims the satellite's fingerprint: SPAKE2 binds the one each side sees, so the keys
    # differ and the confirmation fails, even with the right code
    async with TerminatingRelay(
        satellite.port,
        tmp_path / "b",
        rewrite_certificate=satellite.server.fingerprint,
        both_ways=True,
    ) as relay:
        with pytest.raises(PairingError) as refused:
            await pair("127.0.0.1", relay.port, code)
        assert refused.value.code == "wrong_code"
    assert satellite.stored == []


async def test_bad_codes_are_refused_before_anything_is_sent(satellite: Satellite) -> None:
    for code in ("12345", "1234567", "12a456", "١٢٣٤٥٦"):
        with pytest.raises(ValueError, match="6 digits"):
            await pair("127.0.0.1", satellite.port, code)


async def test_an_unreachable_satellite_is_a_connection_error() -> None:
    with pytest.raises(LinkConnectionError):
        await request_code("127.0.0.1", 9, connect_timeout=2)
