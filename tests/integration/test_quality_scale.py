"""quality_scale.yaml is in Home Assistant's format and what it claims about the code holds."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

import custom_components.realtime_voice as integration

PACKAGE = Path(integration.__file__).parent
RULES = yaml.safe_load((PACKAGE / "quality_scale.yaml").read_text())["rules"]


def test_every_rule_has_a_status_and_every_exemption_a_reason() -> None:
    assert len(RULES) >= 50
    for rule, value in RULES.items():
        status = value if isinstance(value, str) else value["status"]
        assert status in {"done", "todo", "exempt"}, rule
        if status != "done":
            assert isinstance(value, dict), rule
            assert value.get("comment"), rule


def test_parallel_updates_as_claimed() -> None:
    platforms = [p.value for p in integration.PLATFORMS]
    missing = [
        name for name in platforms if "PARALLEL_UPDATES" not in (PACKAGE / f"{name}.py").read_text()
    ]
    claim = RULES["parallel-updates"]
    if claim == "done":
        assert missing == []
    else:
        assert missing, "every platform sets PARALLEL_UPDATES: mark the rule done"
        assert all(name in claim["comment"] for name in missing)


def test_strict_typing_as_claimed() -> None:
    """The integration's mypy settings include every flag of mypy's own --strict (mypy tells which)."""
    from mypy.main import define_options

    config = tomllib.loads((PACKAGE.parents[1] / "pyproject.toml").read_text())["tool"]["mypy"]
    integration_module = "custom_components.realtime_voice.*"
    (override,) = (o for o in config["overrides"] if integration_module in o["module"])
    settings = config | override
    _, _, strict_flags = define_options()
    missing = [flag for flag, value in strict_flags if settings.get(flag) != value]
    assert RULES["strict-typing"] == "done"
    assert missing == []
