"""HA's own frontend in headless Chromium: the integration's config flow dialog and the device page.

The browser logs in as the demo user with the tokens of the REST onboarding (stored the way the
frontend stores them), opens the pages a user opens, reads their text through the shadow roots and
saves PNGs under tests/.cache/screenshots/.
"""

from __future__ import annotations

import json
import time

import pytest

from .browser import chromium, chromium_binary
from .conftest import WORKDIR, MainStack
from .stack import DOMAIN, ROOT, Hass, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(150),
    pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed"),
]

SHOTS = ROOT / "tests" / ".cache" / "screenshots"


def store_tokens_js(hass: Hass) -> str:
    tokens = {
        "hassUrl": hass.base,
        "clientId": hass.client_id,
        "access_token": hass.token,
        "refresh_token": hass.refresh_token,
        "token_type": "Bearer",
        "expires_in": 1800,
        "expires": int(time.time() * 1000) + 1_800_000,
    }
    return f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(tokens))}); true"


def test_config_flow_dialog_and_device_page(main_stack: MainStack) -> None:
    hass = main_stack.hass
    if main_stack.entry_id is None:  # this module run alone: add the satellite first
        main_stack.entry_id = hass.add_satellite(main_stack.kitchen, main_stack.standin)["entry_id"]
    devices = hass.ws_command("config/device_registry/list")
    device = next(d for d in devices if main_stack.entry_id in d["config_entries"])

    with chromium(WORKDIR / "chromium.log") as browser:
        browser.failure_shot = SHOTS / "failure.png"
        browser.navigate(f"{hass.base}/manifest.json")  # any page of HA's origin
        wait_for(lambda: browser.evaluate("location.origin") == hass.base, 20, "HA's origin")
        assert browser.evaluate(store_tokens_js(hass))

        browser.navigate(f"{hass.base}/config/integrations/dashboard/add?domain={DOMAIN}")
        question = "Do you want to set up Realtime Voice Satellite?"
        browser.wait_text(question, within=60)
        browser.click_text_until_gone("OK", question)

        # The first form: the satellite's address, two fields (the OpenAI key comes later, and
        # only for the first satellite).
        text = browser.wait_text(
            "Add a satellite",
            "Host",
            "Port",
            within=30,
        )
        assert "API key" not in text
        shot = browser.screenshot(SHOTS / "config-flow-first-step.png")
        assert shot.stat().st_size > 10_000

        browser.navigate(f"{hass.base}/config/devices/device/{device['id']}")
        text = browser.wait_text(
            "Kitchen",
            "Realtime Voice Satellite",
            "Model",
            "Interface",
            "Mute",
            "Volume",
            "Link",
            "GA (current)",  # the interface sensor's translated state
            "Connected",  # the link binary sensor
            "Idle",  # the assist satellite
            within=60,
        )
        shot = browser.screenshot(SHOTS / "device-page.png")
        assert shot.stat().st_size > 10_000
        assert "gpt-realtime" in text
