"""The satellite's YAML configuration (every key is documented in config/satellite.yaml.example).

Errors name the file, the line, the key and what was expected, e.g.
``satellite.yaml:12: link.port: expected an integer from 1 to 65535, got 'abc'``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ..link import keys
from ..link.protocol import DEFAULT_PORT

PLACEHOLDER_KEY = keys.PLACEHOLDER
MIN_KEY_LENGTH = keys.MIN_LENGTH


# Keys satellite.yaml once had and no longer reads, with why: a file that still has one loads, and
# the agent, the doctor and --setup say that the key is ignored (SatelliteConfig.ignored).
RETIRED = {
    "conversation.follow_up_s": (
        "Home Assistant decides how long the satellite listens after an answer: its option "
        "'Follow-up window' (Settings > Devices & services > the satellite > Configure)"
    ),
}


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names file, line, key and expectation."""


# A check turns a YAML value into the field's value or returns None with ``expected`` for the error.
@dataclass(frozen=True)
class Check:
    expected: str
    convert: Callable[[Any], Any]


def _number(low: float, high: float, *, integer: bool = False, nullable: bool = False) -> Check:
    kind = "an integer" if integer else "a number"
    expected = f"{kind} from {low:g} to {high:g}" + (" or null" if nullable else "")

    def convert(value: Any) -> Any:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError
        if integer and not isinstance(value, int):
            raise TypeError
        if not low <= value <= high:
            raise TypeError
        return value if integer else float(value)

    return Check(expected, convert)


def _typed(kind: type, expected: str, *, nullable: bool = False) -> Check:
    def convert(value: Any) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise TypeError
        return value

    return Check(expected + (" or null" if nullable else ""), convert)


def _choice(*options: str, nullable: bool = False) -> Check:
    def convert(value: Any) -> Any:
        if value is None and nullable:
            return None
        if value not in options:
            raise TypeError
        return value

    return Check(f"one of {', '.join(options)}" + (" or null" if nullable else ""), convert)


def _switch() -> Check:
    """auto, on or off; YAML 1.1 reads a bare on/off as true/false, which mean the same."""
    choice = _choice("auto", "on", "off")

    def convert(value: Any) -> Any:
        if isinstance(value, bool):
            return "on" if value else "off"
        return choice.convert(value)

    return Check(choice.expected, convert)


def _string_list(*, non_empty: bool) -> Check:
    def convert(value: Any) -> Any:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise TypeError
        if non_empty and not value:
            raise TypeError
        return list(value)

    return Check("a non-empty list of names" if non_empty else "a list of names", convert)


def _device() -> Check:
    def convert(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise TypeError

    return Check("a device name, a device index (0 or more) or null", convert)


class WeakKeyError(TypeError):
    """The value is a string but too weak for an access key; the text says why (not the key)."""


def _access_key() -> Check:
    def convert(value: Any) -> Any:
        if value is None or value == "":
            return ""  # the generated key
        if not isinstance(value, str):
            raise TypeError
        if (why := keys.weakness(value)) is not None:
            raise WeakKeyError(f"this access key {why}; {keys.HOW_TO_MAKE_ONE}, or remove the key")
        return value

    return Check(
        f"null or a secret of at least {MIN_KEY_LENGTH} characters and {keys.MIN_BITS} bits",
        convert,
    )


def _path(*, nullable: bool) -> Check:
    def convert(value: Any) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not value:
            raise TypeError
        return Path(value).expanduser()

    return Check("a file path" + (" or null" if nullable else ""), convert)


@dataclass(frozen=True)
class LinkConfig:
    host: str = field(default="0.0.0.0", metadata={"check": _typed(str, "a host address")})
    port: int = field(default=DEFAULT_PORT, metadata={"check": _number(1, 65535, integer=True)})
    # Empty: the key in state_dir (``access_key`` file), made by pairing or --new-access-key.
    access_key: str = field(default="", repr=False, metadata={"check": _access_key()})
    # Where the satellite keeps what it generates (TLS certificate and key, access key). None: the
    # systemd StateDirectory ($STATE_DIRECTORY), else the directory of the configuration file.
    state_dir: Path | None = field(default=None, metadata={"check": _path(nullable=True)})
    ping_interval_s: float = field(default=3.0, metadata={"check": _number(0.1, 60)})
    ping_timeout_s: float = field(default=2.0, metadata={"check": _number(0.1, 60)})


@dataclass(frozen=True)
class ZeroconfConfig:
    enabled: bool = field(default=True, metadata={"check": _typed(bool, "true or false")})


@dataclass(frozen=True)
class WakeWordConfig:
    engine: str = field(
        default="openwakeword", metadata={"check": _choice("openwakeword", "microwakeword")}
    )
    models: list[str] = field(
        default_factory=lambda: ["hey_jarvis"], metadata={"check": _string_list(non_empty=True)}
    )
    active: list[str] = field(
        default_factory=list, metadata={"check": _string_list(non_empty=False)}
    )
    # None (absent or null): each model's recommendation (wakeword.detector.RECOMMENDED for
    # openWakeWord's built-in models; 0.5 / 1 for other openWakeWord models; microWakeWord's
    # own cutoff / 1)
    threshold: float | None = field(
        default=None, metadata={"check": _number(0.01, 0.99, nullable=True)}
    )
    trigger_level: int | None = field(
        default=None, metadata={"check": _number(1, 20, integer=True, nullable=True)}
    )
    refractory_s: float = field(default=2.0, metadata={"check": _number(0, 60)})
    warmup_s: float = field(default=1.0, metadata={"check": _number(0, 60)})
    barge_in_threshold: float = field(default=0.8, metadata={"check": _number(0.01, 1.0)})
    # Stop words: heard only while the satellite speaks; they silence it and end the conversation.
    stop_words: list[str] = field(
        default_factory=list, metadata={"check": _string_list(non_empty=False)}
    )
    stop_word_engine: str | None = field(
        default=None,
        metadata={"check": _choice("openwakeword", "microwakeword", nullable=True)},
    )
    stop_word_threshold: float = field(default=0.8, metadata={"check": _number(0.01, 0.99)})


@dataclass(frozen=True)
class AudioConfig:
    input_device: str | int | None = field(default=None, metadata={"check": _device()})
    output_device: str | int | None = field(default=None, metadata={"check": _device()})
    input_rate: int | None = field(
        default=None, metadata={"check": _number(8000, 384000, integer=True, nullable=True)}
    )
    output_rate: int | None = field(
        default=None, metadata={"check": _number(8000, 384000, integer=True, nullable=True)}
    )
    block_ms: int = field(default=20, metadata={"check": _number(5, 200, integer=True)})
    highpass_hz: float = field(default=80.0, metadata={"check": _number(0, 1000)})
    agc: bool = field(default=False, metadata={"check": _typed(bool, "true or false")})
    noise_suppression: bool = field(
        default=False, metadata={"check": _typed(bool, "true or false")}
    )
    volume: float = field(default=1.0, metadata={"check": _number(0, 1)})
    prebuffer_ms: int = field(default=120, metadata={"check": _number(0, 2000, integer=True)})
    # auto: on unless the input device is an echo-cancelling one (echo_mode.py); off for
    # boards with hardware echo cancellation or an OS echo-cancel device
    echo_cancellation: str = field(default="auto", metadata={"check": _switch()})


@dataclass(frozen=True)
class ConversationConfig:
    chime: bool = field(default=True, metadata={"check": _typed(bool, "true or false")})
    chime_file: Path | None = field(default=None, metadata={"check": _path(nullable=True)})
    pre_roll_ms: int = field(default=300, metadata={"check": _number(0, 2000, integer=True)})
    listen_timeout_s: float = field(default=30.0, metadata={"check": _number(1, 600)})
    echo_guard_ms: int = field(default=500, metadata={"check": _number(0, 5000, integer=True)})
    muted: bool = field(default=False, metadata={"check": _typed(bool, "true or false")})


@dataclass(frozen=True)
class SatelliteConfig:
    name: str = field(default_factory=socket.gethostname, metadata={"check": _typed(str, "a name")})
    link: LinkConfig = field(default_factory=LinkConfig, metadata={"section": LinkConfig})
    zeroconf: ZeroconfConfig = field(
        default_factory=ZeroconfConfig, metadata={"section": ZeroconfConfig}
    )
    wake_word: WakeWordConfig = field(
        default_factory=WakeWordConfig, metadata={"section": WakeWordConfig}
    )
    audio: AudioConfig = field(default_factory=AudioConfig, metadata={"section": AudioConfig})
    conversation: ConversationConfig = field(
        default_factory=ConversationConfig, metadata={"section": ConversationConfig}
    )
    log_level: str = field(
        default="info", metadata={"check": _choice("debug", "info", "warning", "error")}
    )
    # Not a key: what the file has of RETIRED, one message each (file, line, key, why).
    ignored: tuple[str, ...] = field(default=(), compare=False, metadata={"internal": True})

    def __repr__(self) -> str:  # dataclass repr already hides access_key; keep it short
        return f"SatelliteConfig(name={self.name!r}, port={self.link.port})"


def load_config(path: str | Path) -> SatelliteConfig:
    """Read and check a YAML file; raises ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the configuration: {err.strerror}") from None
    config = parse_config(text, str(path))
    if config.link.state_dir is None:
        state_dir = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
        config = with_overrides(
            config, link={"state_dir": Path(state_dir) if state_dir else path.parent.absolute()}
        )
    return config


def parse_config(text: str, source: str = "<config>") -> SatelliteConfig:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else "?"
        raise ConfigError(f"{source}:{line}: YAML syntax error: {err.problem or err}") from None
    if root is None:
        return SatelliteConfig()
    ignored: list[str] = []
    config = _build(SatelliteConfig, root, "", source, ignored)
    return replace(config, ignored=tuple(ignored)) if ignored else config


def _build(cls: type, node: yaml.Node, prefix: str, source: str, ignored: list[str]) -> Any:
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(
            f"{source}:{node.start_mark.line + 1}: {where}: expected a mapping of keys"
        )
    known = {f.name: f for f in fields(cls) if not f.metadata.get("internal")}
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        line = key_node.start_mark.line + 1
        if (why := RETIRED.get(f"{prefix}{key}")) is not None:
            ignored.append(
                f"{source}:{line}: {prefix}{key} is no longer read, it is ignored: {why}; "
                "remove the line"
            )
            continue
        if key not in known:
            raise ConfigError(
                f"{source}:{line}: {prefix}{key}: unknown key (expected one of {', '.join(known)})"
            )
        if key in values:
            raise ConfigError(f"{source}:{line}: {prefix}{key}: given twice")
        spec = known[key]
        if "section" in spec.metadata:
            values[key] = _build(
                spec.metadata["section"], value_node, f"{prefix}{key}.", source, ignored
            )
            continue
        check: Check = spec.metadata["check"]
        value = yaml.SafeLoader("").construct_object(value_node, deep=True)
        try:
            values[key] = check.convert(value)
        except WeakKeyError as err:
            raise ConfigError(
                f"{source}:{value_node.start_mark.line + 1}: {prefix}{key}: {err}"
            ) from None
        except TypeError:
            shown = "***" if key == "access_key" else repr(value)
            raise ConfigError(
                f"{source}:{value_node.start_mark.line + 1}: {prefix}{key}: expected {check.expected}, got {shown}"
            ) from None
    for name, spec in known.items():
        if spec.metadata.get("required") and name not in values:
            raise ConfigError(
                f"{source}:{node.start_mark.line + 1}: {prefix}{name}: missing (required)"
            )
        if (
            "section" in spec.metadata
            and name not in values
            and _has_required(spec.metadata["section"])
        ):
            raise ConfigError(
                f"{source}:{node.start_mark.line + 1}: {prefix}{name}: missing (it holds a required key)"
            )
    return cls(**values)


def _has_required(cls: type) -> bool:
    return any(
        f.metadata.get("required")
        or ("section" in f.metadata and _has_required(f.metadata["section"]))
        for f in fields(cls)
    )


def with_overrides(config: SatelliteConfig, **sections: dict[str, Any]) -> SatelliteConfig:
    """A copy with some section keys changed (tests and the CLI), e.g. link={"port": 0}."""
    changes: dict[str, Any] = {}
    for name, values in sections.items():
        current = getattr(config, name)
        changes[name] = replace(current, **values) if is_dataclass(current) else values  # type: ignore[type-var]
    return replace(config, **changes)
