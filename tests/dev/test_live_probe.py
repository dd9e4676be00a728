"""``realtime-voice probe`` reports GPT-Live access beside the Realtime model (issue #27 item 3):
the Realtime stand-in and the Live stand-in (in-process: the host .venv has openai.types.live, and
the stand-in validates every event both ways against it)."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from realtime_voice_core.live import cost_usd
from realtime_voice_satellite import cli
from tests.live_standin import LiveStandinConfig, LiveStandinServer
from tests.live_standin.server import Access
from tests.realtime_standin import StandinConfig, StandinServer
from tests.realtime_standin.testing import TEST_KEY

pytestmark = pytest.mark.usefixtures("socket_enabled")  # loopback only (HA's test plugin)


async def _probe(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``cli.main`` runs its own event loop, so it gets a thread while the stand-ins serve here."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1) as pool:
        code = await loop.run_in_executor(pool, cli.main, ["probe", "--api-key", TEST_KEY, *argv])
    return code, capsys.readouterr().out


def _started_models(live: LiveStandinServer) -> list[str]:
    return [e["model"] for e in live.received if e["type"] == "session.start"]


async def test_the_probe_reports_which_live_models_the_key_reaches(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the key reaches gpt-live-1 only: gpt-live-1.1 is model_not_found, as OpenAI says it
    config = LiveStandinConfig(models=frozenset({"gpt-live-1"}))
    async with (
        StandinServer(StandinConfig(endpoint="ga")) as realtime,
        LiveStandinServer(config) as live,
    ):
        code, out = await _probe(["--url", realtime.url, "--live-url", live.url, "--json"], capsys)
        assert live.violations == []
        await live.wait_live(0, within=2.0)  # each session closed at once
        kinds = [e["type"] for e in live.received]
    assert code == 0
    result = json.loads(out)
    assert result["ok"] is True
    assert result["model"] == "gpt-realtime-2.1"
    newest, older = result["live"]
    assert newest["model"] == "gpt-live-1.1"
    assert newest["access"] is False
    assert newest["error"]["code"] == "model_not_found"
    assert older["model"] == "gpt-live-1"
    assert older["access"] is True
    assert older["error"] is None
    assert older["connect_ms"] > 0
    # started and closed at once: no audio, billed for the moment it was open
    assert kinds == ["session.start", "session.start", "session.close"]
    assert older["cost_usd"] == pytest.approx(cost_usd("gpt-live-1", older["usage_seconds"]))
    assert older["usage_seconds"] < 1.0
    assert TEST_KEY not in out


@pytest.mark.parametrize("access", ["model_not_found", "http_403"])
async def test_a_key_without_live_access_is_reported_and_the_exit_code_stays_realtimes(
    capsys: pytest.CaptureFixture[str], access: Access
) -> None:
    async with (
        StandinServer(StandinConfig(endpoint="ga")) as realtime,
        LiveStandinServer(LiveStandinConfig(access=access)) as live,
    ):
        code, out = await _probe(
            ["--url", realtime.url, "--live-url", live.url, "--live-model", "gpt-live-1"],
            capsys,
        )
        assert live.violations == []
    assert code == 0  # a key without Live access is a normal key
    assert "probe: ok\n" in out
    assert "  live gpt-live-1: no access: model_not_found: " in out
    assert "gpt-live-1.1" not in out  # only the model asked for


async def test_an_unreachable_live_endpoint_is_no_verdict_on_access(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with LiveStandinServer() as live:
        url = live.url
    async with StandinServer(StandinConfig(endpoint="ga")) as realtime:
        code, out = await _probe(
            ["--url", realtime.url, "--live-url", url, "--live-model", "gpt-live-1", "--json"],
            capsys,
        )
    assert code == 0
    (only,) = json.loads(out)["live"]
    assert only["access"] is None
    assert only["error"]["code"] == "connection_failed"


async def test_live_models_are_probed_even_when_realtime_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with (
        StandinServer(StandinConfig(api_key="sk-the-right-one")) as realtime,
        LiveStandinServer() as live,
    ):
        code, out = await _probe(["--url", realtime.url, "--live-url", live.url, "--json"], capsys)
    assert code == 2
    result = json.loads(out)
    assert result["error"]["code"] == "invalid_api_key"
    assert [(r["model"], r["access"]) for r in result["live"]] == [
        ("gpt-live-1.1", True),
        ("gpt-live-1", True),
    ]
