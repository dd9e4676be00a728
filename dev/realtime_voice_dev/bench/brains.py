"""Brains figures (issues #26 item 5, #27 item 6) for ``realtime-voice bench``: the Realtime brain
beside the Assist pipeline brain and the Live brain (GPT-Live, full duplex), inside real Home
Assistant.

The Assist pipeline exists only in HA, and the brains are the integration's own code in HA, so the
measurement runs in HA's test environment (``scripts/ha-run test``), in HA's test harness as the
integration tests run: ``tests/integration/brains_bench.py`` (with its satellite process,
``brains_bench_satellites.py``; what it measures is written there and in docs/performance.md).
This package imports neither HA nor tests/: this module starts that run with the repository's own
satellite and dev packages first on the path, and reads its figures from a JSON file.

``PLAN`` (or the environment variable ``REALTIME_VOICE_BENCH_BRAINS``, JSON) overrides the run's
plan: ``concurrent``, ``seconds``, ``concurrent_seconds``, ``idle_seconds``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from . import Figure

ROOT = Path(__file__).resolve().parents[3]
BENCH = "tests/integration/brains_bench.py"
PLAN_VARIABLE = "REALTIME_VOICE_BENCH_BRAINS"
PLAN: dict[str, Any] = {}
TIMEOUT_S = 1800


class BrainsBenchError(RuntimeError):
    """The run in HA's environment failed; the message carries the tail of its output."""


def collect() -> list[Figure]:
    ha_run = ROOT / "scripts" / "ha-run"
    if not (ROOT / BENCH).exists() or not ha_run.exists():
        raise BrainsBenchError(f"the brains bench runs from a checkout ({ROOT / BENCH} is missing)")
    plan = json.loads(os.environ.get(PLAN_VARIABLE) or "{}") | PLAN
    # Inside HA's environment only the repository is visible (scripts/ha-run): the file goes there.
    cache = ROOT / "tests" / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix="bench-brains-") as folder:
        out = Path(folder) / "figures.json"
        result = subprocess.run(
            [
                str(ha_run),
                "test",
                "env",
                f"PYTHONPATH={ROOT / 'satellite'}:{ROOT / 'dev'}",
                f"{PLAN_VARIABLE}={json.dumps(plan | {'out': str(out)})}",
                "python",
                "-m",
                "pytest",
                BENCH,
                "-q",
                "-p",
                "no:cacheprovider",
                "--tb=short",
                "--show-capture=no",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT_S,
        )
        if result.returncode != 0 or not out.exists():
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            raise BrainsBenchError(f"{BENCH} failed (exit {result.returncode}):\n{tail}")
        report = json.loads(out.read_text())
    return [Figure(**figure) for figure in report["figures"]]
