"""What the e2e suite asks of the processes' logs in a normal run: no ERROR (or CRITICAL) line and
no traceback in hass's log or any satellite's, and no "Detected ..." report of HA's about this
integration (deprecated API, blocking or thread-unsafe calls), whatever its level.

Each test is held to the lines written since the check before it (the first one also to the
stack's start-up). A test that provokes an error on purpose names the lines it expects in
``ALLOWED``, each with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .stack import Stack

# a log line's start, hass's ("2026-01-01 12:00:00.123 ERROR (MainThread) [...]") or the
# satellite's ("2026-01-01 12:00:00,123 ERROR realtime_voice_satellite...: ...")
_ERROR = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.,]\d+ (ERROR|CRITICAL) ")
_TRACEBACK = "Traceback (most recent call last)"
_DETECTED = re.compile(r"Detected .*realtime_voice")

# test name -> (log, a regular expression the line matches): the errors a test provokes on
# purpose. Each entry says why; keep it short.
ALLOWED: dict[str, list[tuple[str, str]]] = {}


@dataclass
class LogCheck:
    """The logs' sizes at the last check; ``problems`` reads what was written since."""

    read_upto: dict[Path, int] = field(default_factory=dict)

    def logs(self, stack: Stack) -> Iterable[tuple[str, Path]]:
        yield "hass", stack.hass.log
        for satellite in stack.satellites:
            for run in range(1, satellite.runs + 1):
                yield (
                    f"satellite {satellite.name}",
                    (satellite.workdir / f"satellite-{satellite.slug}-{run}.log"),
                )

    def problems(self, stack: Stack, test: str) -> list[str]:
        allowed = [(log, re.compile(pattern)) for log, pattern in ALLOWED.get(test, [])]
        found: list[str] = []
        for name, path in self.logs(stack):
            if not path.exists():
                continue
            with path.open("rb") as file:
                file.seek(self.read_upto.get(path, 0))
                text = file.read()
            # only whole lines: a line being written is checked next time
            text = text[: text.rfind(b"\n") + 1]
            self.read_upto[path] = self.read_upto.get(path, 0) + len(text)
            for line in text.decode(errors="replace").splitlines():
                bad = (
                    _ERROR.match(line)
                    or _TRACEBACK in line
                    or (name == "hass" and _DETECTED.search(line))
                )
                if bad and not any(log == name and p.search(line) for log, p in allowed):
                    found.append(f"{name}: {line}")
        return found
