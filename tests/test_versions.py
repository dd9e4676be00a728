"""One version (issue #24 item 1): the integration's manifest.json and the satellite package say the
same (the satellite's pyproject.toml reads its version from the package; scripts/release sets
both), ``realtime-voice --version`` prints it, and CHANGELOG.md says what the coming release needs
and speaks: the Home Assistant of hacs.json and supported_version.py, the link protocol of
core/link/protocol.py (the one file both sides run)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from realtime_voice_core.link import protocol

from .release_build import ROOT, release_module

rv = release_module()


def test_the_integration_and_the_satellite_have_one_version() -> None:
    version = rv.manifest_version()
    assert rv.VERSION_RE.match(version), version
    assert rv.satellite_version() == version
    project = tomllib.loads((ROOT / "satellite" / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "realtime_voice_satellite.__version__"
    }
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "realtime-voice"), "--version"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert shown == f"realtime-voice {version}"
    for doc in rv.DOCS_WITH_VERSION:  # the install commands clone the release's tag
        assert set(re.findall(r"VERSION=(\S+)", doc.read_text())) == {version}, doc


def test_the_link_protocol_is_read_where_both_sides_get_it() -> None:
    newest, spoken = rv.protocol_versions()
    assert (newest, spoken) == (protocol.PROTOCOL_VERSION, protocol.PROTOCOL_VERSIONS)
    assert newest in spoken
    hello = re.search(
        r'"type":"hello","protocol":(\d+)', (ROOT / "docs" / "link-protocol.md").read_text()
    )
    assert hello is not None
    assert int(hello[1]) == newest


def test_the_changelog_says_what_the_next_release_needs() -> None:
    supported = (ROOT / "custom_components" / "realtime_voice" / "supported_version.py").read_text()
    minimum = re.search(r'^MIN_HA_VERSION = "([^"]+)"$', supported, re.M)
    assert minimum is not None
    rv.check_changelog("Unreleased")
    assert f"Home Assistant {minimum[1]} or newer;" in rv.compatibility_line()
    spoken = " and ".join(map(str, protocol.PROTOCOL_VERSIONS))
    assert f"link protocol {spoken}." in rv.compatibility_line()
    assert spoken.endswith(str(protocol.PROTOCOL_VERSION))
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in text
    for heading in re.findall(r"^## \[([^\]]+)\]", text, re.M):
        if heading != "Unreleased":
            assert rv.VERSION_RE.match(heading), heading
            assert re.search(
                rf"^## \[{re.escape(heading)}\] - \d{{4}}-\d{{2}}-\d{{2}}\n\nHome Assistant \S+ or "
                r"newer; link protocol [\d and]+\.$",
                text,
                re.M,
            ), heading


def test_the_license_is_apache_2() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith(
        "Apache License\n                           Version 2.0, January 2004"
    )
    assert "END OF TERMS AND CONDITIONS" in text
    for pyproject in (ROOT / "pyproject.toml", ROOT / "satellite" / "pyproject.toml"):
        assert tomllib.loads(pyproject.read_text())["project"]["license"] == "Apache-2.0"
    assert (ROOT / "satellite" / "LICENSE").resolve() == ROOT / "LICENSE"


def test_the_shipped_release_notes_are_the_changelogs_section_of_the_version() -> None:
    """The update entity's notes (custom_components/realtime_voice/release_notes.md, written by
    scripts/release) agree with CHANGELOG.md; without them, the version is not released yet."""
    version = rv.manifest_version()
    if rv.RELEASE_NOTES.exists():
        assert rv.RELEASE_NOTES.read_text() == rv.release_notes(version)
    else:
        try:
            rv.changelog_section(version)
        except rv.ReleaseError:
            return
        raise AssertionError(f"CHANGELOG.md has {version}, but {rv.RELEASE_NOTES} is missing")
