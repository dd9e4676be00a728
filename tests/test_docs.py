"""The documentation read against the code: every satellite.yaml key it names is in the satellite's
config schema (and the values it gives load), the labels it quotes from Home Assistant's UI are
in strings.json (and the integration's name is the manifest's), the systemd unit it names is
scripts/realtime-voice-satellite.service's, and every link to a file of the repository resolves,
anchors included."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import fields
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import yaml

from realtime_voice_satellite.agent import service
from realtime_voice_satellite.agent.config import (
    RETIRED,
    ConfigError,
    SatelliteConfig,
    parse_config,
)

ROOT = Path(__file__).resolve().parents[1]
INTEGRATION = ROOT / "custom_components" / "realtime_voice"
DOCS = sorted((ROOT / "docs").glob("*.md"))
# What users read; CHANGELOG.md records old names on purpose, but its links must still resolve.
USER_TEXTS = [*DOCS, ROOT / "README.md", ROOT / "satellite" / "README.md"]
LINKED_TEXTS = [*USER_TEXTS, ROOT / "CHANGELOG.md"]
# The repository as its absolute links name it (README.md is also HACS's page, where relative
# links do not resolve).
REPOSITORY = "realtime-voice/ha-realtime-voice"
ABSOLUTE = re.compile(
    rf"https://(?:github\.com/{REPOSITORY}/(?:blob|tree)/main|"
    rf"raw\.githubusercontent\.com/{REPOSITORY}/main)/([^)#\s]*)(#[^)\s]*)?"
)
UNIT_FILE = ROOT / "scripts" / "realtime-voice-satellite.service"


def text_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def prose(text: str) -> str:
    """The text with its fenced code blocks blanked out (the lines stay where they were)."""
    return re.sub(
        r"^```.*?^```", lambda block: "\n" * block[0].count("\n"), text, flags=re.S | re.M
    )


def where(path: Path, text: str, index: int) -> str:
    return f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, index) + 1}"


# --- satellite.yaml keys ----------------------------------------------------------------------


def schema() -> dict[str, list[str]]:
    """Each section of satellite.yaml with its keys (SatelliteConfig's fields)."""
    sections = {}
    for section in fields(SatelliteConfig):
        if "section" in section.metadata:
            cls = section.metadata["section"]
            sections[section.name] = [f.name for f in fields(cls)]
    return sections


SECTIONS = schema()
TOP_LEVEL = {f.name for f in fields(SatelliteConfig) if not f.metadata.get("internal")}
# `section.key` or `section.key: value`, not a longer dotted name (`conversation.item.truncate`
# is a Realtime API event).
NAMED_KEY = re.compile(rf"`({'|'.join(SECTIONS)})\.([a-z_*]+)(?![.\w])(?:: ([^`]+))?`")


def named_keys() -> Iterator[tuple[str, str, str, str | None]]:
    """(where, section, key, value or None) for each satellite.yaml key named in the docs."""
    for path in USER_TEXTS:
        text = text_of(path)
        for found in NAMED_KEY.finditer(text):
            yield where(path, text, found.start()), found[1], found[2], found[3]


def test_the_docs_name_satellite_yaml_keys() -> None:
    """The scan below finds what it checks (a changed format would otherwise pass silently)."""
    named = {(section, key) for _, section, key, _ in named_keys()}
    assert {("link", "state_dir"), ("audio", "input_device"), ("wake_word", "threshold")} <= named


@pytest.mark.parametrize("path", USER_TEXTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_satellite_yaml_key_the_docs_name_is_in_the_schema(path: Path) -> None:
    text = text_of(path)
    wrong = []
    for found in NAMED_KEY.finditer(text):
        at, section, key = where(path, text, found.start()), found[1], found[2]
        line = text.splitlines()[int(at.rsplit(":", 1)[1]) - 1]
        keys = [k for k in SECTIONS[section] if fnmatchcase(k, key)]
        if f"{section}.{key}" in RETIRED and "no longer" in line:
            continue  # the docs say that it is gone
        if not keys:
            wrong.append(f"{at}: {section}.{key} is not a key of satellite.yaml's {section}")
            continue
        if found[3] is not None:  # `section.key: value`: the value loads
            for name in keys:
                try:
                    parse_config(f"{section}:\n  {name}: {found[3]}\n", at)
                except ConfigError as err:
                    wrong.append(str(err))
    assert not wrong, "\n".join(wrong)


def satellite_yaml_blocks(text: str) -> Iterator[tuple[int, str]]:
    """The docs' ```yaml blocks that are (a part of) a satellite.yaml: only its top-level keys."""
    for found in re.finditer(r"^```yaml\n(.*?)^```", text, re.S | re.M):
        data = yaml.safe_load(found[1])
        if isinstance(data, dict) and data and set(data) <= TOP_LEVEL:
            yield found.start(), found[1]


def test_every_satellite_yaml_example_in_the_docs_loads() -> None:
    checked = 0
    for path in USER_TEXTS:
        text = text_of(path)
        for index, block in satellite_yaml_blocks(text):
            config = parse_config(block, where(path, text, index))  # raises with file:line:key
            assert config.ignored == (), config.ignored
            checked += 1
    assert checked >= 1  # docs/satellite.md's stop words


# --- Home Assistant's UI: strings.json and the manifest ----------------------------------------


def strings() -> dict[str, Any]:
    return dict(json.loads(text_of(INTEGRATION / "strings.json")))


def manifest_name() -> str:
    return str(json.loads(text_of(INTEGRATION / "manifest.json"))["name"])


def leaves(tree: Any, *, under: str) -> Iterator[str]:
    """Every string below the keys named ``under`` (e.g. "data": the fields' labels)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == under:
                yield from (v for v in value.values() if isinstance(v, str))
            else:
                yield from leaves(value, under=under)


def labels() -> list[str]:
    """What the UI shows as a name: fields, menu entries, selector choices, step titles."""
    texts = strings()
    found = [
        *leaves(texts, under="data"),
        *leaves(texts, under="menu_options"),
        *leaves(texts, under="options"),
    ]
    found += [
        step["title"]
        for flow in ("config", "options")
        for step in texts.get(flow, {}).get("step", {}).values()
        if "title" in step
    ]
    return found


def is_label(quoted: str, known: list[str]) -> bool:
    """A label as the docs quote it: the whole label, or its start (a label's parenthesis, as
    in "Automatic (current model, legacy only if needed)", may be left out)."""
    quoted = quoted.strip().lower()
    return any(label.lower().startswith(quoted) for label in known)


EMPHASIS = r"\*{1,2}([^*\n]+?)\*{1,2}"
# An emphasized phrase that the sentence says is a control of the UI.
LABEL_CLAIMS = [
    re.compile(rf"\b[Tt]urn (?:on|off) {EMPHASIS}"),
    re.compile(rf"\b[Cc]hoose {EMPHASIS}"),
    re.compile(rf"{EMPHASIS} (?:was chosen|option|field|mode)\b"),
    re.compile(rf"{EMPHASIS}: {EMPHASIS} to pin"),
]


def test_every_ui_label_the_docs_quote_is_in_strings_json() -> None:
    known = labels()
    claims, wrong = 0, []
    for path in USER_TEXTS:
        text = prose(text_of(path))
        for claim in LABEL_CLAIMS:
            for found in claim.finditer(text):
                for quoted in found.groups():
                    claims += 1
                    if not is_label(quoted, known):
                        wrong.append(f"{where(path, text, found.start())}: {quoted!r}")
    assert claims >= 5  # the scan finds what it checks
    assert not wrong, "labels that are not in strings.json:\n" + "\n".join(wrong)


def test_the_docs_call_the_integration_by_its_manifest_name() -> None:
    """Add integration > NAME, Devices & services > NAME, add *NAME* with: what the UI lists."""
    name = manifest_name()
    segment = r"\*{0,2}([A-Z][^*>(),;]*?)\*{0,2}(?= >| ->|[*,;.)]| with| \(|\n\n)"
    claims, wrong = 0, []
    for path in USER_TEXTS:
        text = prose(text_of(path))
        for pattern in (
            rf"Add integration (?:>|->) {segment}",
            rf"Devices & services (?:>|->) {segment}",
            r"\badd\s+\*{1,2}([^*\n]+)\*{1,2}\s+with",
        ):
            for found in re.finditer(pattern, text, re.M):
                quoted = " ".join(found[1].split())  # a name wrapped over two lines
                if quoted in ("Add integration", "Delete") or not quoted.startswith("Realtime"):
                    continue
                claims += 1
                if quoted != name:
                    wrong.append(f"{where(path, text, found.start())}: {quoted!r}")
    assert claims >= 3
    assert not wrong, f"the integration is {name!r} in Home Assistant:\n" + "\n".join(wrong)


def flow_messages() -> list[str]:
    """The config and options flows' errors and aborts, "…" where a placeholder is."""
    texts = strings()
    return [
        re.sub(r"\s*\{\w+\}", " …", message).strip()
        for flow in ("config", "options")
        for kind in ("error", "abort")
        for message in texts.get(flow, {}).get(kind, {}).values()
    ]


def wildcard(text: str) -> str:
    """A pattern of a message in which "…" (or "...") stands for any text."""
    return ".*?".join(map(re.escape, re.split(r"\s*(?:…|\.\.\.)\s*", text)))


def quotes(quoted: str, message: str) -> bool:
    """The docs quote the message: its start, or all of it with its placeholders filled in."""
    return bool(
        re.match(wildcard(quoted), message) or re.fullmatch(wildcard(message), quoted, re.S)
    )


def test_the_flow_messages_of_troubleshooting_are_the_flows() -> None:
    """A row of docs/troubleshooting.md for the config flow, the options or a re-authentication
    quotes what the flow shows (the start of it; "…" for what varies)."""
    known = flow_messages()
    path = ROOT / "docs" / "troubleshooting.md"
    text = text_of(path)
    rows, wrong = 0, []
    for found in re.finditer(r'^\| "([^"]+)" \| ([^|]+) \|', text, re.M):
        if not re.search(r"config flow|options|re-authentication", found[2]):
            continue
        rows += 1
        if not any(quotes(found[1], message) for message in known):
            wrong.append(f"{where(path, text, found.start())}: {found[1]!r}")
    assert rows >= 5
    assert not wrong, "messages that no flow shows (strings.json):\n" + "\n".join(wrong)


# --- the systemd unit ---------------------------------------------------------------------------


def test_the_unit_the_docs_and_the_code_name_is_the_units_file() -> None:
    unit = UNIT_FILE.stem
    assert unit == service.SERVICE
    assert f"\nUNIT={unit}\n" in text_of(ROOT / "scripts" / "install-satellite")
    commands = re.compile(
        r"\b(?:systemctl(?: --?[\w-]+)*(?: [a-z-]+)(?: --?[\w-]+)*|journalctl(?: --?[\w-]+)* -u) "
        r"([\w@.-]*realtime[\w@.-]*)"
    )
    named, wrong = 0, []
    for path in USER_TEXTS:
        text = text_of(path)
        for found in commands.finditer(text):
            named += 1
            if found[1].removesuffix(".service") != unit:
                wrong.append(f"{where(path, text, found.start())}: {found[0]!r}")
        for found in re.finditer(r"[\w.-]*realtime[\w.-]*\.service\b", text):
            if found[0] != UNIT_FILE.name:
                wrong.append(f"{where(path, text, found.start())}: {found[0]!r}")
    assert named >= 5
    assert not wrong, f"the unit is {unit}:\n" + "\n".join(wrong)


# --- links ------------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings; a repeated heading gets -1, -2, ..."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", prose(text_of(path)), re.M):
        base = name = slug(heading)
        repeat = 0
        while name in found:
            repeat += 1
            name = f"{base}-{repeat}"
        found.add(name)
    return found


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def links(path: Path) -> Iterator[tuple[str, Path, str]]:
    """(where, target file, anchor) of each link of ``path`` into the repository."""
    text = prose(text_of(path))
    for found in LINK.finditer(text):
        target = found[1]
        at = where(path, text, found.start())
        if absolute := ABSOLUTE.fullmatch(target):
            yield at, ROOT / absolute[1], (absolute[2] or "").lstrip("#")
        elif not re.match(r"[a-z]+:", target):  # relative; not http:, mailto:
            file, _, anchor = target.partition("#")
            yield at, (path.parent / file if file else path), anchor


@pytest.mark.parametrize("path", LINKED_TEXTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_into_the_repository_resolves(path: Path) -> None:
    wrong = []
    for at, target, anchor in links(path):
        if not target.exists():
            wrong.append(f"{at}: {target.relative_to(ROOT)} does not exist")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            wrong.append(f"{at}: {target.relative_to(ROOT)} has no heading #{anchor}")
    assert not wrong, "\n".join(wrong)


# --- README.md, HACS's page -------------------------------------------------------------------

README = ROOT / "README.md"


def test_every_doc_path_of_the_readme_is_a_link() -> None:
    text = LINK.sub("", prose(text_of(README)))
    unlinked = re.findall(r"[\w./-]*\.md\b", text)
    assert not unlinked, f"doc paths in README.md without a link: {unlinked}"


def test_the_readmes_links_are_absolute_and_its_picture_is_in_the_repository() -> None:
    """HACS shows README.md inside Home Assistant, where a relative link leads nowhere."""
    targets = LINK.findall(prose(text_of(README)))
    assert targets
    assert all(re.match(r"https://", target) for target in targets), targets
    pictures = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text_of(README))
    assert pictures
    assert all(ABSOLUTE.fullmatch(p) for p in pictures)
    manifest = json.loads(text_of(INTEGRATION / "manifest.json"))
    assert manifest["issue_tracker"] == f"https://github.com/{REPOSITORY}/issues"


def test_the_readmes_install_commands_are_the_satellite_guides() -> None:
    guide = text_of(ROOT / "docs" / "satellite.md")
    shell = "\n".join(re.findall(r"^```sh\n(.*?)^```", text_of(README), re.S | re.M))
    commands = [line.strip() for line in shell.splitlines() if "realtime-voice" in line]
    assert any("scripts/install-satellite" in line and "--service" in line for line in commands)
    assert any("satellite --setup --config" in line for line in commands)
    for line in commands:
        assert line in guide, f"README.md's {line!r} is not docs/satellite.md's"
