"""``python -m tests.realtime_standin``: the stand-in Realtime server as a process (a SIMULATION).

Prints its URL as the first line on stdout, a banner on stderr, and runs until SIGINT/SIGTERM.
``--script FILE.json``: ``{"transcript": str, "transcripts": [str, ...], "reply": str,
"tools": [{"tool": name, "arguments": {...}, "final": str}]}`` (every key optional; "transcripts":
what it hears in the first user turns, one each).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from tests.helpers.standin_process import serve_until_signalled, server_tls

from .server import StandinConfig, StandinServer, ToolScript

ENDPOINTS = ("ga", "beta", "both", "bad-key", "bad-key-http")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.realtime_standin", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--endpoint", choices=ENDPOINTS, default="both")
    parser.add_argument("--api-key", help="accept only this key (others: invalid_api_key)")
    parser.add_argument("--models", help="comma-separated models the endpoint knows")
    parser.add_argument("--session-seconds", type=float, help="send session_expired after this")
    parser.add_argument("--script", type=Path, help="JSON file with transcript, reply, tools")
    parser.add_argument("--transcript", help="what it 'hears' in any user audio")
    parser.add_argument("--reply", help="what it answers")
    parser.add_argument("--audio", choices=("tone", "espeak"), default="tone")
    parser.add_argument("--realtime", action="store_true", help="pace audio deltas in real time")
    parser.add_argument("--garbage", action="store_true", help="send garbage before each response")
    parser.add_argument(
        "--tls-cert", type=Path, help="serve wss:// with this PEM certificate chain"
    )
    parser.add_argument("--tls-key", type=Path, help="the certificate's PEM private key")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> StandinConfig:
    config = StandinConfig(audio=args.audio, garbage=args.garbage)
    if args.endpoint in ("bad-key", "bad-key-http"):
        config.api_key = "sk-no-key-is-right"
        config.auth_failure = "http" if args.endpoint == "bad-key-http" else "close"
    else:
        config.endpoint = args.endpoint
        config.api_key = args.api_key
    if args.models:
        config.models = frozenset(m.strip() for m in args.models.split(",") if m.strip())
    config.session_seconds = args.session_seconds
    if args.script:
        script = json.loads(args.script.read_text())
        config.transcript = script.get("transcript", config.transcript)
        config.transcripts = tuple(script.get("transcripts", ()))
        config.reply = script.get("reply", config.reply)
        config.tools = tuple(
            ToolScript(t["tool"], t.get("arguments", {}), t.get("final", "Done."))
            for t in script.get("tools", [])
        )
    if args.transcript:
        config.transcript = args.transcript
    if args.reply:
        config.reply = args.reply
    if args.realtime:
        config.delta_interval = config.delta_ms / 1000
    return config


async def serve(args: argparse.Namespace) -> None:
    context = server_tls(args.tls_cert, args.tls_key)
    server = StandinServer(config_from(args), port=args.port, ssl_context=context)
    await serve_until_signalled(
        server, f"SIMULATION: stand-in Realtime server (not OpenAI), endpoint={args.endpoint}"
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="standin %(levelname)s %(message)s")
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
