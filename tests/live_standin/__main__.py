"""``python -m tests.live_standin``: the stand-in GPT-Live server as a process (a SIMULATION).

Prints its URL (``ws://127.0.0.1:PORT/v1/live/sessions``) as the first line on stdout, a banner on
stderr, and runs until SIGINT/SIGTERM; protocol violations are logged on stderr as they happen.
``--script FILE.json``: ``{"transcript": str, "transcripts": [str, ...], "reply": str,
"replies": [str, ...], "delegate_pattern": regex}`` (every key optional; "transcripts": what it
hears in the first user turns, one each; "replies": its first answers to what it does not
delegate, one each).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import get_args

from tests.helpers.standin_process import serve_until_signalled, server_tls

from .server import CloseReason, LiveStandinConfig, LiveStandinServer

ACCESS = ("full", "model_not_found", "http-403")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.live_standin", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--access",
        choices=ACCESS,
        default="full",
        help="a key without Live access: model_not_found after session.start, or HTTP 403",
    )
    parser.add_argument("--api-key", help="accept only this key (others: HTTP 401)")
    parser.add_argument("--models", help="comma-separated models it knows")
    parser.add_argument("--script", type=Path, help="JSON file with transcript(s), reply")
    parser.add_argument("--transcript", help="what it 'hears' in any user turn")
    parser.add_argument("--reply", help="what it answers")
    parser.add_argument("--audio", choices=("tone", "espeak"), default="tone")
    parser.add_argument(
        "--usage-interval", type=float, help="seconds of session clock between usage reports"
    )
    parser.add_argument(
        "--max-session-seconds", type=float, help="close sessions ('expired') after this clock"
    )
    parser.add_argument(
        "--pause-ms", type=int, help="its answers pause this long in their middle (at a word)"
    )
    parser.add_argument(
        "--close-during",
        choices=("answer", "delegation"),
        help="end a session on the service's side once: halfway through its first answer, or "
        "right after its first delegation",
    )
    parser.add_argument(
        "--close-reason",
        choices=get_args(CloseReason),
        default="connection_lost",
        help="the session.closed reason of --close-during",
    )
    parser.add_argument(
        "--tls-cert", type=Path, help="serve wss:// with this PEM certificate chain"
    )
    parser.add_argument("--tls-key", type=Path, help="the certificate's PEM private key")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> LiveStandinConfig:
    config = LiveStandinConfig(audio=args.audio, api_key=args.api_key)
    config.access = "http_403" if args.access == "http-403" else args.access
    if args.models:
        config.models = frozenset(m.strip() for m in args.models.split(",") if m.strip())
    if args.script:
        script = json.loads(args.script.read_text())
        config.transcript = script.get("transcript", config.transcript)
        config.transcripts = tuple(script.get("transcripts", ()))
        config.reply = script.get("reply", config.reply)
        config.replies = tuple(script.get("replies", ()))
        config.delegate_pattern = script.get("delegate_pattern", config.delegate_pattern)
    if args.transcript:
        config.transcript = args.transcript
    if args.reply:
        config.reply = args.reply
    if args.usage_interval:
        config.usage_interval_ms = int(args.usage_interval * 1000)
    if args.max_session_seconds:
        config.max_session_ms = int(args.max_session_seconds * 1000)
    if args.pause_ms:
        config.pause_ms = args.pause_ms
    config.close_during = args.close_during
    config.close_reason = args.close_reason
    return config


async def serve(args: argparse.Namespace) -> None:
    context = server_tls(args.tls_cert, args.tls_key)
    server = LiveStandinServer(config_from(args), port=args.port, ssl_context=context)
    await serve_until_signalled(
        server, f"SIMULATION: stand-in GPT-Live server (not OpenAI), access={args.access}"
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="live-standin %(levelname)s %(message)s")
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
