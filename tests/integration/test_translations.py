"""Every text the UI shows can be filled in: each step of each flow (config, re-authentication,
reconfigure, options, repairs) is walked as the UI does, and every ``{placeholder}`` its title,
description, errors and abort reason use must be among the placeholders the step provides; every field
of every form has a label and a description (data_description). Issues and exceptions are checked
where the code raises them.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import AsyncIterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

import custom_components.realtime_voice as integration
from custom_components.realtime_voice.const import (
    CONF_ACCESS_KEY,
    CONF_API_KEY,
    CONF_HOST,
    CONF_PORT,
    CONF_URL,
    CONF_VOICE,
    DOMAIN,
)
from custom_components.realtime_voice.repairs import async_check_model_shutdown
from tests.realtime_standin import StandinServer

from .conftest import API_KEY, entry_for
from .link_satellite import ACCESS_KEY, LinkSatellite
from .test_config_flow import api_input, zeroconf_info
from .waiting import load_entry

PACKAGE = Path(integration.__file__).parent
STRINGS: dict[str, Any] = json.loads((PACKAGE / "strings.json").read_text())
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def needed(text: str | None) -> set[str]:
    return set(PLACEHOLDER.findall(text or ""))


class Walk:
    """Checks each flow result it is given against one section of strings.json; remembers the
    steps it saw, so that a test can require every step to have been seen."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.seen: set[str] = set()

    def check(self, where: str, section: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        provided = set(result.get("description_placeholders") or {})
        if result["type"] == "abort":
            text = section.get("abort", {}).get(result["reason"])
            self._require(f"{where}.abort.{result['reason']}", text, provided)
            return
        step_id = result["step_id"]
        self.seen.add(f"{where}.{step_id}")
        step = section["step"].get(step_id)
        if step is None:
            self.problems.append(f"{where}.step.{step_id}: no texts")
            return
        for key in ("title", "description"):
            self._require(f"{where}.step.{step_id}.{key}", step.get(key, ""), provided)
        for field, error in (result.get("errors") or {}).items():
            text = section.get("error", {}).get(error)
            self._require(f"{where}.error.{error} ({field})", text, provided)
        for option in result.get("menu_options") or []:
            if option not in step.get("menu_options", {}):
                self.problems.append(f"{where}.step.{step_id}.menu_options.{option}: no text")
        for key in self._fields(result):
            for part in ("data", "data_description"):
                if not step.get(part, {}).get(key):
                    self.problems.append(f"{where}.step.{step_id}.{part}.{key}: missing")

    @staticmethod
    def _fields(result: Mapping[str, Any]) -> list[str]:
        """The form's fields: from the schema (flow manager) or its JSON (HTTP API)."""
        schema = result.get("data_schema")
        if result["type"] == "menu" or schema is None:
            return []
        if isinstance(schema, list):
            return [field["name"] for field in schema]
        return [str(key) for key in schema.schema]

    def _require(self, key: str, text: str | None, provided: set[str]) -> None:
        if text is None:
            self.problems.append(f"{key}: no text")
        elif missing := needed(text) - provided:
            self.problems.append(f"{key}: placeholders {sorted(missing)} not provided")


async def test_every_config_flow_step_can_be_filled_in(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    walk = Walk()
    config = STRINGS["config"]
    flow = hass.config_entries.flow

    def check(result: Mapping[str, Any]) -> Mapping[str, Any]:
        walk.check("config", config, result)
        return result

    # user -> api (with an error) -> satellite (with errors) -> entry
    result = check(await flow.async_init(DOMAIN, context={"source": config_entries.SOURCE_USER}))
    result = check(
        await flow.async_configure(result["flow_id"], api_input(standin, api_key="sk-wrong"))
    )
    result = check(await flow.async_configure(result["flow_id"], api_input(standin)))
    satellite_input = {CONF_HOST: "127.0.0.1", CONF_PORT: satellite.port, CONF_ACCESS_KEY: "x"}
    result = check(await flow.async_configure(result["flow_id"], satellite_input))
    result = check(await flow.async_configure(result["flow_id"], satellite_input | {CONF_PORT: 9}))
    result = await flow.async_configure(
        result["flow_id"], satellite_input | {CONF_ACCESS_KEY: ACCESS_KEY}
    )
    entry = result["result"]

    # a second satellite: the menu, reuse
    result = check(await flow.async_init(DOMAIN, context={"source": config_entries.SOURCE_USER}))
    result = check(await flow.async_configure(result["flow_id"], {"next_step_id": "reuse"}))
    flow.async_abort(result["flow_id"])

    # discovery of the known satellite, then of a new one
    result = check(
        await flow.async_init(
            DOMAIN,
            context={"source": config_entries.SOURCE_ZEROCONF},
            data=zeroconf_info(satellite),
        )
    )
    result = check(
        await flow.async_init(
            DOMAIN,
            context={"source": config_entries.SOURCE_ZEROCONF},
            data=zeroconf_info(satellite, id="office-0002"),
        )
    )
    flow.async_abort(result["flow_id"])
    check(
        await flow.async_init(
            DOMAIN,
            context={"source": config_entries.SOURCE_ZEROCONF},
            data=zeroconf_info(satellite, id=""),
        )
    )

    # reconfigure (with an error, then the wrong satellite)
    result = check(
        await flow.async_init(
            DOMAIN,
            context={"source": config_entries.SOURCE_RECONFIGURE, "entry_id": entry.entry_id},
        )
    )
    result = check(await flow.async_configure(result["flow_id"], satellite_input))
    flow.async_abort(result["flow_id"])

    # re-authentication for the satellite's access key (it refuses the stored one), with an error
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_ACCESS_KEY: "old"})
    result = check(
        await flow.async_init(
            DOMAIN,
            context={"source": config_entries.SOURCE_REAUTH, "entry_id": entry.entry_id},
            data=dict(entry.data),
        )
    )
    assert result["step_id"] == "pair"
    result = check(await flow.async_configure(result["flow_id"], {CONF_ACCESS_KEY: "wrong"}))
    flow.async_abort(result["flow_id"])
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_ACCESS_KEY: ACCESS_KEY})

    # re-authentication for the API key (with an error) and success
    result = check(
        await flow.async_init(
            DOMAIN,
            context={"source": config_entries.SOURCE_REAUTH, "entry_id": entry.entry_id},
            data=dict(entry.data),
        )
    )
    result = check(await flow.async_configure(result["flow_id"], {CONF_API_KEY: "sk-wrong"}))
    check(await flow.async_configure(result["flow_id"], {CONF_API_KEY: API_KEY}))
    await hass.async_block_till_done()

    assert walk.problems == [], "\n".join(walk.problems)
    assert walk.seen == {f"config.{step}" for step in config["step"]}
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_the_options_form_can_be_filled_in(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    walk = Walk()
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry, wait_for_session=False)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    walk.check("options", STRINGS["options"], result)
    answers = {
        str(key): key.default()
        for key in result["data_schema"].schema
        if callable(getattr(key, "default", None))
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        answers
        | {
            CONF_VOICE: "cedar",
            "auto_select_voice": False,
            "model_selection": "legacy",
            "tool_services": ["not a service"],
        },
    )
    walk.check("options", STRINGS["options"], result)
    assert set(result["errors"]) >= {CONF_VOICE, "tool_services"}
    assert walk.problems == [], "\n".join(walk.problems)
    assert walk.seen == {f"options.{step}" for step in STRINGS["options"]["step"]}
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.fixture
async def loaded(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> AsyncIterator[MockConfigEntry]:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry, wait_for_session=False)
    yield entry
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize(
    ("today", "translation_key"),
    [(date(2026, 11, 21), "model_shutdown_soon"), (date(2027, 2, 1), "model_shut_down")],
)
async def test_repair_flows_can_be_filled_in(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded: MockConfigEntry,
    today: date,
    translation_key: str,
) -> None:
    """#12 defect 10: the fix flow's texts name {model} and {date}, which it did not provide."""
    assert await async_setup_component(hass, "repairs", {})
    entry = loaded
    async_check_model_shutdown(hass, entry, today=today)
    issue_id = f"model_shutdown_{entry.entry_id}_model"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == translation_key
    texts = STRINGS["issues"][translation_key]
    assert needed(texts["title"]) <= set(issue.translation_placeholders or {})

    walk = Walk()
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    walk.check(f"issues.{translation_key}", texts["fix_flow"], await response.json())
    assert walk.problems == [], "\n".join(walk.problems)
    assert walk.seen == {f"issues.{translation_key}.{step}" for step in texts["fix_flow"]["step"]}


def _raised_translations() -> list[tuple[str, str, str, set[str] | None]]:
    """(module, section, translation_key, placeholder names or None when not a literal dict) of
    each issue created and each exception raised with a translation key in the integration."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            key = keywords.get("translation_key")
            if not (isinstance(key, ast.Constant) and "translation_domain" in keywords) and not (
                isinstance(key, ast.Constant) and ast.unparse(node.func).endswith("create_issue")
            ):
                continue
            section = "issues" if ast.unparse(node.func).endswith("create_issue") else "exceptions"
            given = keywords.get("translation_placeholders")
            names: set[str] | None = set()
            if isinstance(given, ast.Dict):
                names = {k.value for k in given.keys if isinstance(k, ast.Constant)}
            elif given is not None:
                names = None
            found.append((path.name, section, str(key.value), names))
    return found


def test_issues_and_exceptions_get_their_placeholders() -> None:
    raised = _raised_translations()
    assert {section for _, section, _, _ in raised} == {"issues", "exceptions"}
    problems = []
    for module, section, key, names in raised:
        texts = STRINGS[section].get(key)
        if texts is None:
            problems.append(f"{module}: {section}.{key} has no text")
            continue
        text = " ".join(v for k, v in texts.items() if isinstance(v, str))
        if names is not None and (missing := needed(text) - names):
            problems.append(f"{module}: {section}.{key} lacks {sorted(missing)}")
    assert problems == []


def test_every_form_field_in_the_strings_has_a_description() -> None:
    """Also for steps the walks above cannot reach with every field."""
    for section in ("config", "options"):
        for step_id, step in STRINGS[section]["step"].items():
            assert set(step.get("data", {})) == set(step.get("data_description", {})), (
                f"{section}.step.{step_id}"
            )
    assert CONF_URL in STRINGS["config"]["step"]["api"]["data_description"]
