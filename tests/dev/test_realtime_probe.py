"""``realtime-voice probe`` against the stand-in: in-process and as the installed console script."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from realtime_voice_core.realtime import Usage, cost_for_model
from realtime_voice_satellite import cli
from tests.realtime_standin import StandinConfig, StandinServer, ToolScript
from tests.realtime_standin.testing import TEST_KEY

pytestmark = pytest.mark.usefixtures("socket_enabled")  # loopback only (HA's test plugin)

SCRIPT = Path(sys.executable).with_name("realtime-voice")
KEYS = {
    "ok",
    "model",
    "interface",
    "voice",
    "fallback",
    "connect_ms",
    "first_audio_ms",
    "usage",
    "cost_usd",
    "error",
    "live",
}


async def _run_in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    """``cli.main`` runs its own event loop, so it gets a thread while the stand-in serves here."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1) as pool:
        code = await loop.run_in_executor(pool, cli.main, [*argv, "--no-live"])
    out = capsys.readouterr().out
    return code, json.loads(out)


async def _run_script(args: list[str], key: str | None = TEST_KEY) -> tuple[int, dict]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    if key is not None:
        env["OPENAI_API_KEY"] = key
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        "probe",
        *args,
        "--json",
        "--no-live",  # GPT-Live access: tests/dev/test_live_probe.py
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    lines = out.decode().strip().splitlines()
    assert len(lines) == 1, (out, err)
    return process.returncode, json.loads(lines[0])


def _check_cost(result: dict, server: StandinServer) -> None:
    usage = result["usage"]
    sent = [e["response"]["usage"] for e in server.sent_of("response.done")]
    assert usage["input_tokens"] == sum(u["input_tokens"] for u in sent)
    assert usage["output_tokens"] == sum(u["output_tokens"] for u in sent)
    parsed = Usage(
        usage["text_input"],
        usage["text_cached"],
        usage["audio_input"],
        usage["audio_cached"],
        usage["text_output"],
        usage["audio_output"],
    )
    assert result["cost_usd"] == pytest.approx(cost_for_model(parsed, result["model"]), abs=1e-6)
    assert result["cost_usd"] > 0


async def test_probe_in_process_reports_fallback_and_cost(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with StandinServer(StandinConfig(endpoint="beta")) as server:
        code, result = await _run_in_process(
            ["probe", "--url", server.url, "--api-key", TEST_KEY, "--json"], capsys
        )
        assert server.client_violations == []
    assert code == 0
    assert set(result) == KEYS
    assert result["ok"] is True
    assert result["error"] is None
    assert (result["model"], result["interface"], result["voice"]) == (
        "gpt-4o-realtime-preview",
        "beta",
        "alloy",
    )
    assert result["fallback"] == {
        "from": "gpt-realtime-2.1",
        "to": "gpt-4o-realtime-preview",
        "reason": "model_not_found",
    }
    assert result["connect_ms"] > 0
    assert result["first_audio_ms"] > 0
    _check_cost(result, server)


async def test_probe_script_runs_the_tool_round_on_ga() -> None:
    config = StandinConfig(
        endpoint="ga", tools=(ToolScript("get_current_time", {}, "It is noon."),)
    )
    async with StandinServer(config) as server:
        code, result = await _run_script(["--url", server.url])
        assert server.violations == []
        outputs = [
            e
            for _i, e in server.received
            if e["type"] == "conversation.item.create"
            and e["item"]["type"] == "function_call_output"
        ]
    assert code == 0, result
    assert (result["model"], result["interface"], result["fallback"]) == (
        "gpt-realtime-2.1",
        "ga",
        None,
    )
    assert result["voice"] == "marin"
    assert len(outputs) == 1
    assert len(server.sent_of("response.done")) == 2
    _check_cost(result, server)


async def test_probe_bad_key_exits_2() -> None:
    async with StandinServer(StandinConfig(api_key="sk-the-right-one")) as server:
        code, result = await _run_script(["--url", server.url])
    assert code == 2
    assert result["ok"] is False
    assert result["error"]["code"] == "invalid_api_key"
    assert TEST_KEY not in json.dumps(result)


async def test_probe_missing_key_and_legacy_on_ga_only_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with StandinServer(StandinConfig(endpoint="ga")) as server:
        code, result = await _run_script(["--url", server.url], key=None)
        assert (code, result["error"]["code"]) == (2, "missing_api_key")
        code, result = await _run_in_process(
            ["probe", "--url", server.url, "--api-key", TEST_KEY, "--mode", "legacy", "--json"],
            capsys,
        )
    assert code == 2
    assert result["error"]["code"] == "beta_disabled"
    assert "Legacy mode" in result["error"]["message"]
    assert len(server.connections) == 1, "no retry loop"


async def test_probe_unreachable_endpoint_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    async with StandinServer() as server:
        url = server.url
    code, result = await _run_in_process(
        ["probe", "--url", url, "--api-key", TEST_KEY, "--json", "--timeout", "10"], capsys
    )
    assert code == 1
    assert result["error"]["code"] == "connection_failed"
    assert result["ok"] is False


async def test_probe_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    async with StandinServer(StandinConfig(endpoint="both")) as server:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1) as pool:
            code = await loop.run_in_executor(
                pool, cli.main, ["probe", "--url", server.url, "--api-key", TEST_KEY, "--no-live"]
            )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("probe: ok\n")
    assert "  model: gpt-realtime-2.1\n" in out
    assert "  interface: ga\n" in out
    assert "cost_usd" in out
