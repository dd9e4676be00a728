"""The manifest declares what the integration needs from the Home Assistant it runs in; its texts."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.helpers import llm
from homeassistant.setup import async_setup_component
from packaging.requirements import Requirement

import custom_components.realtime_voice as integration
from custom_components.realtime_voice.tools.options import (
    ERROR_ADMIN_LLM_API,
    ERROR_INVALID_SERVICE,
    ERROR_UNKNOWN_LLM_API,
)

PACKAGE = Path(integration.__file__).parent
MANIFEST = json.loads((PACKAGE / "manifest.json").read_text())

# Imports every module Home Assistant loads from the integration (not the HA-free core's own
# modules, which the integration imports only in part) and prints the third-party top-level
# packages they bring in beyond Home Assistant and the components it depends on.
_IMPORTED = """
import importlib, json, pathlib, sys
import homeassistant.core
for domain in sys.argv[2:]:
    importlib.import_module("homeassistant.components." + domain)
before = {name.partition(".")[0] for name in sys.modules}
root = pathlib.Path(sys.argv[1])
for path in sorted([*root.glob("*.py"), *root.glob("tools/*.py")]):
    parts = path.relative_to(root).with_suffix("").parts
    importlib.import_module(".".join(("custom_components.realtime_voice", *parts)).removesuffix(".__init__"))
new = {name.partition(".")[0] for name in sys.modules} - before - set(sys.stdlib_module_names)
print(json.dumps(sorted(new - {"custom_components"})))
"""


def _distribution(module: str) -> str:
    return metadata.packages_distributions()[module][0].lower()


def test_requirements_cover_what_the_integration_imports() -> None:
    """numpy is no longer one of Home Assistant's own requirements (2026): whatever the integration
    imports and HA does not require must be in the manifest's requirements."""
    components = [*MANIFEST["dependencies"], "media_source", "repairs", "diagnostics", "logbook"]
    out = subprocess.run(
        [sys.executable, "-c", _IMPORTED, str(PACKAGE), *components],
        check=True,
        capture_output=True,
        text=True,
        cwd=PACKAGE.parents[1],
    ).stdout
    imported = {_distribution(module) for module in json.loads(out)}
    ha_requires = {Requirement(r).name.lower() for r in metadata.requires("homeassistant") or []}
    declared = {Requirement(r).name.lower() for r in MANIFEST["requirements"]}
    assert "numpy" in imported  # media.py, tone.py
    assert imported - ha_requires <= declared


def test_requirements_fit_home_assistants_pins() -> None:
    """The declared ranges admit what Home Assistant pins (numpy 2.3.2 in 2026.5 to 2026.11)."""
    pins = {"numpy": "2.3.2", "websockets": metadata.version("websockets")}
    for text in MANIFEST["requirements"]:
        requirement = Requirement(text)
        if requirement.name in pins:
            assert requirement.specifier.contains(pins[requirement.name]), text
    assert {Requirement(r).name for r in MANIFEST["requirements"]} >= {"numpy", "websockets"}


async def test_dependencies_bring_the_assist_api(hass: HomeAssistant) -> None:
    """The manifest's dependencies register the Assist LLM API (from 2026.10 through conversation,
    which depends on the new `llm` integration; `llm` itself cannot be a dependency, 2026.5 has
    no such integration)."""
    assert "llm" not in MANIFEST["dependencies"]
    for domain in MANIFEST["dependencies"]:
        assert await async_setup_component(hass, domain, {})
    assert llm.LLM_API_ASSIST in {api.id for api in llm.async_get_apis(hass)}


def test_english_translations_are_the_strings() -> None:
    """HA reads a custom integration's texts from translations/en.json: it must be strings.json,
    with the texts of the errors the integration raises or returns."""
    strings = json.loads((PACKAGE / "strings.json").read_text())
    assert json.loads((PACKAGE / "translations" / "en.json").read_text()) == strings
    assert {ERROR_INVALID_SERVICE, ERROR_UNKNOWN_LLM_API, ERROR_ADMIN_LLM_API} <= set(
        strings["options"]["error"]
    )
    assert "{admin_llm_apis}" in strings["options"]["error"][ERROR_ADMIN_LLM_API]
    waited = strings["exceptions"]["announcement_wait_timeout"]["message"]
    assert "{name}" in waited
    assert "{seconds}" in waited
