"""The satellite's YAML loader: every documented key loads; every mistake names key, line, expectation."""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from realtime_voice_core.satellite.config import (
    PLACEHOLDER_KEY,
    ConfigError,
    SatelliteConfig,
    load_config,
    parse_config,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "satellite.yaml.example"
KEY = "0123456789abcdef-key"


def example_text() -> str:
    return EXAMPLE.read_text().replace(PLACEHOLDER_KEY, KEY)


def test_example_loads_with_its_documented_values() -> None:
    config = parse_config(example_text(), "example")
    assert config.name == "Kitchen satellite"
    assert config.link.port == 10800
    assert config.link.access_key == KEY
    assert config.wake_word.models == ["hey_jarvis"]
    assert config.wake_word.threshold == 0.5
    assert config.audio.input_device is None
    assert config.conversation.follow_up_s == 5.0


def test_example_documents_every_key_and_nothing_else() -> None:
    """Each key of the schema appears in the example, preceded by a comment."""
    lines = EXAMPLE.read_text().splitlines()

    def keys(cls: type, prefix: str = "") -> list[str]:
        out = []
        for f in fields(cls):
            section = f.metadata.get("section")
            out += keys(section, f"{prefix}{f.name}.") if section else [f"{prefix}{f.name}"]
        return out

    for dotted in keys(SatelliteConfig):
        leaf = dotted.rsplit(".", 1)[-1]
        index = next((i for i, line in enumerate(lines) if re.match(rf"\s*{leaf}:", line)), None)
        assert index is not None, f"{dotted} is not in the example"
        above = index - 1  # a comment above the key, or above the group of keys it is in
        while lines[above].strip() and not lines[above].strip().startswith("#"):
            above -= 1
        assert lines[above].strip().startswith("#"), f"{dotted} has no comment above it"


def test_the_example_placeholder_key_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"example:15: link\.access_key: expected a secret"):
        parse_config(EXAMPLE.read_text(), "example")


def test_the_key_never_appears_in_errors_or_reprs() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("link: {access_key: short-secret}\n")
    assert "short-secret" not in str(err.value)
    config = parse_config(f"link: {{access_key: {KEY}}}\n")
    assert KEY not in repr(config)
    assert KEY not in repr(config.link)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "name: x\nlink:\n  access_key: K\n  port: ten\n",
            ":4: link.port: expected an integer from 1 to 65535, got 'ten'",
        ),
        (
            "link:\n  access_key: K\nwake_word:\n  treshold: 0.5\n",
            ":4: wake_word.treshold: unknown key (expected one of engine, models",
        ),
        (
            "link:\n  access_key: K\nwake_word:\n  threshold: 2\n",
            ":4: wake_word.threshold: expected a number from 0.01 to 0.99, got 2",
        ),
        (
            "link:\n  access_key: K\nwake_word:\n  models: hey_jarvis\n",
            ":4: wake_word.models: expected a non-empty list of names, got 'hey_jarvis'",
        ),
        (
            "link:\n  access_key: K\naudio:\n  input_device: -1\n",
            ":4: audio.input_device: expected a device name, a device index (0 or more) or null, got -1",
        ),
        (
            "link:\n  access_key: K\nconversation:\n  chime: yes please\n",
            ":4: conversation.chime: expected true or false, got 'yes please'",
        ),
        (
            "link:\n  access_key: K\nlog_level: loud\n",
            ":3: log_level: expected one of debug, info, warning, error, got 'loud'",
        ),
        ("name: x\nlink:\n  port: 1\n", ":3: link.access_key: missing (required)"),
        ("name: x\n", ":1: link: missing (it holds a required key)"),
        ("link: 5\n", ":1: link: expected a mapping of keys"),
        ("link:\n  access_key: K\n  port: 1\n  port: 2\n", ":4: link.port: given twice"),
        ("name: [unclosed\nlink: {}\n", ":2: YAML syntax error"),
    ],
)
def test_errors_name_line_key_and_expectation(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text.replace(": K\n", f": {KEY}\n"), "sat.yaml")
    assert f"sat.yaml{error}" in str(err.value)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)  # a directory


def test_devices_by_name_or_index_and_paths() -> None:
    config = parse_config(
        f"link: {{access_key: {KEY}}}\naudio: {{input_device: 'USB Audio', output_device: 2}}\n"
        "conversation: {chime_file: ~/ding.wav}\n"
    )
    assert config.audio.input_device == "USB Audio"
    assert config.audio.output_device == 2
    assert config.conversation.chime_file == Path("~/ding.wav").expanduser()
    assert is_dataclass(config)
