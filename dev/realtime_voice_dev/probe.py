"""``realtime-voice probe``: connect through the compatibility layer and run one short turn.

Exactly the path the integration takes (``open_session``), then one text turn with a sample tool,
and a summary: model, interface, voice, fallback, connect and first-audio times, usage and cost.
Exit 0 when ok, 2 for a configuration or authentication error, 1 otherwise (docs/realtime-core.md,
"Probe").

Beside it, whether the key reaches each GPT-Live model (``live``): the integration's own Live
client opens a session (``session.start`` -> ``session.started``) and closes it at once, since Live
is billed per active minute; ``model_not_found`` or HTTP 403 is no access. Live's answer does not
change the exit code (a key without Live access is a normal key); ``--no-live`` skips it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import datetime
from typing import Any

from realtime_voice_core.live import DEFAULT_URL as DEFAULT_LIVE_URL
from realtime_voice_core.live import (
    LIVE_MODELS,
    LiveAccessError,
    LiveError,
    LiveSettings,
    cost_usd,
    open_live_session,
)
from realtime_voice_core.realtime import events as ev
from realtime_voice_core.realtime.errors import (
    AuthenticationError,
    ConfigurationError,
    InterfaceUnsupportedError,
    ModelUnavailableError,
    RealtimeError,
    VoiceUnavailableError,
)
from realtime_voice_core.realtime.metrics import Usage
from realtime_voice_core.realtime.registry import (
    DEFAULT_LEGACY_MODEL,
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    DEFAULT_VOICE_FALLBACK,
)
from realtime_voice_core.realtime.selection import open_session
from realtime_voice_core.realtime.settings import (
    DEFAULT_URL,
    RealtimeSettings,
    SessionDescription,
    ToolDefinition,
)

HELP = "connect to a Realtime endpoint and run one short turn"

# Errors the user fixes in the configuration (or by re-authenticating): exit code 2.
CONFIGURATION_ERRORS = (
    ConfigurationError,
    AuthenticationError,
    ModelUnavailableError,
    VoiceUnavailableError,
    InterfaceUnsupportedError,
)
SAMPLE_TOOL = ToolDefinition(
    "get_current_time",
    "Returns the current local time as HH:MM.",
    {"type": "object", "properties": {}, "additionalProperties": False},
)
INSTRUCTIONS = "You are a connection test. Answer in one short spoken sentence."
DEFAULT_PROMPT = "Say hello and tell me what time it is."


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help="Realtime endpoint (default: OpenAI)")
    parser.add_argument("--api-key", help="API key (default: $OPENAI_API_KEY)")
    parser.add_argument("--mode", choices=("auto", "new", "legacy"), default="auto")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--legacy-model", default=DEFAULT_LEGACY_MODEL)
    parser.add_argument("--voice", default=DEFAULT_VOICE)
    parser.add_argument("--voice-fallback", default=DEFAULT_VOICE_FALLBACK)
    parser.add_argument(
        "--no-auto-select-voice",
        dest="auto_select_voice",
        action="store_false",
        help="a voice the model lacks is an error instead of using the fallback voice",
    )
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="the text of the test turn")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole probe")
    parser.add_argument(
        "--live-url", default=DEFAULT_LIVE_URL, help="GPT-Live endpoint (default: OpenAI)"
    )
    parser.add_argument(
        "--live-model",
        action="append",
        dest="live_models",
        metavar="MODEL",
        help=f"a GPT-Live model whose access is checked (repeatable; default: "
        f"{', '.join(LIVE_MODELS)})",
    )
    parser.add_argument(
        "--no-live", dest="live", action="store_false", help="do not check GPT-Live access"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _result() -> dict[str, Any]:
    return {
        "ok": False,
        "model": None,
        "interface": None,
        "voice": None,
        "fallback": None,
        "connect_ms": None,
        "first_audio_ms": None,
        "usage": None,
        "cost_usd": None,
        "error": None,
        "live": None,
    }


def _live_result(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "access": None,  # True, False (model_not_found, HTTP 403), None (another error)
        "connect_ms": None,
        "usage_seconds": None,
        "cost_usd": None,
        "error": None,
    }


async def probe_live(
    api_key: str, url: str, model: str, connect_timeout: float = 15.0
) -> dict[str, Any]:
    """Whether ``api_key`` reaches the Live ``model`` at ``url``: a session is started and closed
    at once (billed per active minute: keep it short). Errors are in the result, never raised."""
    result = _live_result(model)
    asked = time.monotonic()
    try:
        settings = LiveSettings(
            api_key=api_key,
            url=url,
            model=model,
            instructions=INSTRUCTIONS,
            connect_timeout=connect_timeout,
        )
        session = await open_live_session(settings)
    except LiveError as err:
        result["access"] = False if isinstance(err, LiveAccessError) else None
        result["error"] = {"code": err.code, "message": str(err)}
        return result
    result["connect_ms"] = round((time.monotonic() - asked) * 1000, 1)
    closed = await session.close()
    seconds = closed.usage_seconds or session.usage_seconds
    result |= {
        "access": True,
        "usage_seconds": seconds,
        "cost_usd": round(cost_usd(session.model, seconds), 6),
    }
    return result


async def probe_live_models(
    api_key: str, url: str, models: list[str], connect_timeout: float = 15.0
) -> list[dict[str, Any]]:
    """``probe_live`` for each model, one after the other (one session open at a time)."""
    return [await probe_live(api_key, url, model, connect_timeout) for model in models]


async def probe(settings: RealtimeSettings, prompt: str = DEFAULT_PROMPT) -> dict[str, Any]:
    """Run the probe; returns the JSON summary (``error`` set instead of raising RealtimeError)."""
    result = _result()
    description = SessionDescription(
        instructions=INSTRUCTIONS, tools=(SAMPLE_TOOL,), turn_detection=None
    )
    session = await open_session(settings, description)
    try:
        result |= {
            "model": session.model,
            "interface": session.interface,
            "voice": session.voice,
            "fallback": session.fallback.as_dict() if session.fallback else None,
            "connect_ms": round(session.metrics.connect_ms or 0.0, 1),
        }
        usage = Usage()
        cost = 0.0
        audio_bytes = 0
        await session.add_user_text(prompt)
        asked = time.monotonic()
        await session.create_response()
        async for event in session.events():
            match event:
                case ev.AudioDelta():
                    if result["first_audio_ms"] is None:
                        result["first_audio_ms"] = round((time.monotonic() - asked) * 1000, 1)
                    audio_bytes += len(event.pcm)
                case ev.FunctionCall(call_id=call_id):
                    output = json.dumps({"time": datetime.now().strftime("%H:%M")})
                    await session.send_function_output(call_id, output)
                case ev.ResponseDone():
                    usage += event.usage
                    cost += event.cost_usd
                    if event.status != "completed":
                        result["error"] = {
                            "code": f"response_{event.status}",
                            "message": f"The response ended {event.status} "
                            f"({event.status_reason or 'no reason given'})",
                        }
                        break
                    if event.metrics.function_calls == 0:
                        break
                case ev.Warning():
                    result["error"] = {"code": event.code, "message": event.message}
                    break
                case ev.Closed(error=error):
                    raise error or RealtimeError("The session closed", code="closed")
        result["usage"] = usage.as_dict()
        result["cost_usd"] = round(cost, 6)
        if result["error"] is None and audio_bytes == 0:
            result["error"] = {"code": "no_audio", "message": "The answer carried no audio"}
        result["ok"] = result["error"] is None
    finally:
        await session.close()
    return result


def _print_human(result: dict[str, Any]) -> None:
    status = "ok" if result["ok"] else "FAILED"
    print(f"probe: {status}")
    for key in ("model", "interface", "voice", "connect_ms", "first_audio_ms", "cost_usd"):
        if result[key] is not None:
            print(f"  {key}: {result[key]}")
    if result["fallback"]:
        fb = result["fallback"]
        print(f"  fallback: {fb['from']} -> {fb['to']} ({fb['reason']})")
    if result["usage"]:
        print(f"  usage: {result['usage']}")
    if result["error"]:
        print(f"  error: {result['error']['code']}: {result['error']['message']}")
    for live in result["live"] or ():
        if live["access"]:
            status = f"access (connected in {live['connect_ms']} ms, ${live['cost_usd']})"
        else:
            access = "no access" if live["access"] is False else "not checked"
            status = f"{access}: {live['error']['code']}: {live['error']['message']}"
        print(f"  live {live['model']}: {status}")


def _run_live(args: argparse.Namespace) -> list[dict[str, Any]]:
    models = args.live_models or list(LIVE_MODELS)
    api_key = args.api_key or os.environ.get("OPENAI_API_KEY", "")
    timeout = min(15.0, args.timeout)
    try:
        return asyncio.run(
            asyncio.wait_for(
                probe_live_models(api_key, args.live_url, models, timeout),
                args.timeout,
            )
        )
    except TimeoutError:
        error = {"code": "timeout", "message": f"No answer within {args.timeout:g} s"}
        return [_live_result(model) | {"error": error} for model in models]


def run(args: argparse.Namespace) -> int:
    result = _result()
    code = 1
    try:
        settings = RealtimeSettings(
            api_key=args.api_key or os.environ.get("OPENAI_API_KEY", ""),
            url=args.url,
            model_selection=args.mode,
            model=args.model,
            legacy_model=args.legacy_model,
            voice=args.voice,
            voice_fallback=args.voice_fallback,
            auto_select_voice=args.auto_select_voice,
            connect_timeout=min(15.0, args.timeout),
        )
        result = asyncio.run(asyncio.wait_for(probe(settings, args.prompt), args.timeout))
        code = 0 if result["ok"] else 1
    except CONFIGURATION_ERRORS as err:
        result["error"] = {"code": err.code, "message": str(err)}
        code = 2
    except RealtimeError as err:
        result["error"] = {"code": err.code, "message": str(err)}
    except TimeoutError:
        result["error"] = {"code": "timeout", "message": f"No answer within {args.timeout:g} s"}
    if args.live:
        result["live"] = _run_live(args)
    if args.json:
        print(json.dumps(result))
    else:
        _print_human(result)
    return code
