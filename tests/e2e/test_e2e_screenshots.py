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

        # The api form, or first a menu when another entry holds a key (as after test_e2e_main).
        def first_step() -> str:
            text = browser.text()
            return text if "Enter an API key" in text or "Realtime endpoint" in text else ""

        text = wait_for(
            first_step,
            30,
            "the config flow's first step",
            lambda: f"page text:\n{browser.text()[-3000:]}",
        )
        if "Enter an API key" in text:  # another entry holds a key: the menu comes first
            browser.screenshot(SHOTS / "config-flow-menu.png")
            browser.click_text("Enter an API key")
        text = browser.wait_text(
            "OpenAI Realtime connection",
            "API key",
            "Realtime endpoint",
            "Model selection",
            "Voice",
            within=30,
        )
        shot = browser.screenshot(SHOTS / "config-flow-api-step.png")
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
