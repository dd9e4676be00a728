"""``scripts/demo``'s walk-through as a process (``--no-wait``): every step printed, nothing left running."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.helpers.network import free_port
from tests.realtime_standin.server import offered_name

from .demo import processes_using
from .stack import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(200)]

DEMO_DIR = ROOT / "tests" / ".cache" / "demo-test"


def test_demo_walks_through_every_step_and_cleans_up() -> None:
    args = [sys.executable, "-m", "tests.e2e.demo", "--no-wait", "--dir", str(DEMO_DIR)]
    args += ["--port", str(free_port())]
    result = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for expected in (
        "[SIMULATION] Stand-in Realtime server (not OpenAI)",
        "Onboarded the owner: user 'demo', password 'demo-password'",
        "Config flow over the REST API added 'Kitchen'",
        "Session open: model gpt-realtime over the GA interface [SIMULATION]",
        "light.kitchen before: off",
        "Wake word 'hey_jarvis' heard",
        "light.kitchen after: on",
        "user said ['Turn on the kitchen light.']",
        "announcement audio written to",
        "Assist for the Kitchen satellite: 'set a timer for 3 seconds' ->",
        "The timer rang on the satellite:",
        "assist_satellite.ask_question 'Which light?' through the REST API: the user said "
        "'Turn on the kitchen light.' [SIMULATION], matched answer id 'kitchen'",
        "HA log: 0 ERROR lines from custom_components.realtime_voice",
        "log in as 'demo' / 'demo-password'",
    ):
        assert expected in output, f"{expected!r} missing from the demo's output:\n{output}"
    # Assist's tool as HA names it: HassTurnOn, or intent__HassTurnOn from HA 2026.10
    called = re.search(
        r"The model called tool (\w*HassTurnOn)\(\{'name': 'Kitchen light'\}\)", output
    )
    assert called, output
    assert offered_name("HassTurnOn", {called[1]}) == called[1], output
    assert (DEMO_DIR / ".gitignore").read_text().strip().endswith("*")
    assert processes_using(DEMO_DIR) == [], "the demo left processes behind"
