"""The satellite's YAML loader: every documented key loads; every mistake names key, line, expectation."""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass
from pathlib import Path

import numpy as np
import pytest

from realtime_voice_satellite.agent.config import (
    PLACEHOLDER_KEY,
    ConfigError,
    SatelliteConfig,
    load_config,
    parse_config,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "satellite.yaml.example"
KEY = "0123456789abcdef-key-of-30-chr"


def example_text() -> str:
    return EXAMPLE.read_text()


def test_example_loads_with_its_documented_values() -> None:
    config = parse_config(example_text(), "example")
    assert config.name == "Kitchen satellite"
    assert config.link.port == 10800
    assert config.link.access_key == ""  # null: the one the satellite generates
    assert config.link.state_dir is None
    assert config.link.ping_interval_s + config.link.ping_timeout_s + 1 <= 6
    assert config.wake_word.models == ["hey_jarvis"]
    assert config.wake_word.threshold is None  # null: each model's recommendation
    assert config.wake_word.trigger_level is None
    assert config.audio.input_device is None
    assert config.conversation.listen_timeout_s == 30.0
    assert config.ignored == ()


def test_example_documents_every_key_and_nothing_else() -> None:
    """Each key of the schema appears in the example, preceded by a comment."""
    lines = EXAMPLE.read_text().splitlines()

    def keys(cls: type, prefix: str = "") -> list[str]:
        out = []
        for f in fields(cls):
            if f.metadata.get("internal"):
                continue
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
    with pytest.raises(ConfigError, match=r"y:2: link\.access_key: .*placeholder"):
        parse_config(f"link:\n  access_key: {PLACEHOLDER_KEY}\n", "y")


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("kitchen-secret-key", "is 18 characters long; at least 22 are needed"),
        ("abababababababababababababab", "uses only 2 different characters"),
        ("abcdefghijklmnopqrstuv", "holds about 103 bits; at least 128 are needed"),
    ],
)
def test_weak_keys_are_refused_saying_why(key: str, why: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"link:\n  access_key: {key}\n", "sat.yaml")
    assert f"sat.yaml:2: link.access_key: this access key {why}" in str(err.value)
    assert "--new-access-key" in str(err.value)
    assert key not in str(err.value)


def test_generated_keys_are_strong() -> None:
    from realtime_voice_satellite.link import keys

    made = {keys.new_access_key() for _ in range(1000)}
    assert len(made) == 1000
    assert all(keys.weakness(key) is None for key in made)
    assert all(len(key) == 30 for key in made)  # 22 random bytes: 176 bits


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
            ":4: wake_word.threshold: expected a number from 0.01 to 0.99 or null, got 2",
        ),
        (
            "link:\n  access_key: K\nwake_word:\n  trigger_level: 1.5\n",
            ":4: wake_word.trigger_level: expected an integer from 1 to 20 or null, got 1.5",
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
        ("link: 5\n", ":1: link: expected a mapping of keys"),
        ("link:\n  access_key: K\n  port: 1\n  port: 2\n", ":4: link.port: given twice"),
        ("name: [unclosed\nlink: {}\n", ":2: YAML syntax error"),
    ],
)
def test_errors_name_line_key_and_expectation(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text.replace(": K\n", f": {KEY}\n"), "sat.yaml")
    assert f"sat.yaml{error}" in str(err.value)


def test_a_retired_key_is_ignored_saying_why_and_an_unknown_one_is_still_an_error() -> None:
    text = f"link:\n  access_key: {KEY}\nconversation:\n  chime: false\n  follow_up_s: 5.0\n"
    config = parse_config(text, "sat.yaml")
    assert config.conversation.chime is False  # the rest of the section is read
    (message,) = config.ignored
    assert message.startswith(
        "sat.yaml:5: conversation.follow_up_s is no longer read, it is ignored"
    )
    assert "'Follow-up window'" in message
    assert "remove the line" in message
    with pytest.raises(ConfigError, match=r"sat.yaml:5: conversation.follow_up: unknown key"):
        parse_config(text.replace("follow_up_s", "follow_up"), "sat.yaml")
    with pytest.raises(ConfigError, match=r"ignored: unknown key"):  # not a key of the file
        parse_config("ignored: []\n", "sat.yaml")


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


@pytest.mark.parametrize(
    ("wake_word", "threshold", "trigger_level"),
    [
        ("{}", None, None),  # absent
        ("{threshold: null, trigger_level: null}", None, None),
        ("{threshold: 0.6}", 0.6, None),
        ("{trigger_level: 3}", None, 3),
        ("{threshold: 0.4, trigger_level: 1}", 0.4, 1),
    ],
)
def test_threshold_and_trigger_level_are_optional(
    wake_word: str, threshold: float | None, trigger_level: int | None
) -> None:
    config = parse_config(f"link: {{access_key: {KEY}}}\nwake_word: {wake_word}\n")
    assert config.wake_word.threshold == threshold
    assert config.wake_word.trigger_level == trigger_level


def test_the_agent_uses_each_models_defaults_unless_set(tmp_path: Path) -> None:
    """Absent in the YAML: every model at its recommendation in the satellite, through the
    barge-in threshold and back; a threshold from HA (configure) then applies to every model."""
    from realtime_voice_satellite.agent.audio_io import WavFileSink, WavFileSource
    from realtime_voice_satellite.agent.build import build_agent
    from realtime_voice_satellite.audio import write_wav
    from realtime_voice_satellite.link import protocol as p
    from realtime_voice_satellite.wakeword.detector import RECOMMENDED

    models = ["hey_jarvis", "alexa", "hey_rhasspy"]
    wav = tmp_path / "in.wav"
    write_wav(wav, np.zeros(1600, np.int16), 16_000)
    text = f"link: {{access_key: {KEY}}}\nwake_word: {{models: [{', '.join(models)}]}}\n"
    agent = build_agent(parse_config(text), WavFileSource(wav), WavFileSink(tmp_path / "o.wav"))
    try:
        own = tuple(RECOMMENDED[m][0] for m in models)
        assert agent.detector.thresholds == own == (0.5, 0.5, 0.35)
        assert agent.detector.trigger_levels == tuple(RECOMMENDED[m][1] for m in models)
        agent._apply_threshold(guarded=True)  # speaking: the barge-in threshold
        assert agent.detector.thresholds == (0.8, 0.8, 0.8)
        agent._apply_threshold(guarded=False)
        assert agent.detector.thresholds == own
        assert agent.link_info().threshold == 0.5  # the protocol has one number: the highest
        agent._configure(p.Configure(threshold=0.6))
        agent._apply_threshold(guarded=False)
        assert agent.detector.thresholds == (0.6, 0.6, 0.6)
        assert agent.detector.trigger_levels == (1, 2, 2)  # HA does not set trigger levels
        assert agent.link_info().threshold == 0.6
        # HA's threshold cleared: back to each model's own, at once
        agent._configure(p.Configure(own_threshold=True))
        agent._apply_threshold(guarded=False)
        assert agent.detector.thresholds == own
        assert agent.link_info().threshold == 0.5
    finally:
        agent.detector.close()
        if agent.own_voice is not None:
            agent.own_voice.close()
    text = text.replace("]}", "], threshold: 0.45, trigger_level: 1}")
    agent = build_agent(parse_config(text), WavFileSource(wav), WavFileSink(tmp_path / "o.wav"))
    try:
        assert agent.detector.thresholds == (0.45, 0.45, 0.45)
        assert agent.detector.trigger_levels == (1, 1, 1)
    finally:
        agent.detector.close()
        if agent.own_voice is not None:
            agent.own_voice.close()
