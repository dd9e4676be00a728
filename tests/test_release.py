"""scripts/release (issue #24 item 1): one run on a copy of the repository (tests/release_build.py)
sets the version everywhere, builds the satellite's sdist and wheel and the HACS zip, and verifies
them by installing the wheel from a local index on Python 3.11; bad input stops it before it
changes anything."""

from __future__ import annotations

import email.parser
import json
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from .release_build import ROOT, Release, release_module

LICENSE = (ROOT / "LICENSE").read_bytes()


def test_a_release_sets_the_version_in_both_distributions(release: Release) -> None:
    rv = release_module()
    assert rv.manifest_version(release.root / rv.MANIFEST.relative_to(ROOT)) == release.version
    assert (
        rv.satellite_version(release.root / rv.SATELLITE_INIT.relative_to(ROOT)) == release.version
    )
    assert re.search(
        rf"^==> custom_components/realtime_voice/manifest.json: [\d.]+ -> {release.version}$",
        release.output,
        re.M,
    ), release.output
    # the verification ran: pip took the wheel from the local index on Bookworm's Python
    assert f"Verified: realtime-voice-satellite=={release.version} from http://127.0.0.1:" in (
        release.output
    )
    assert " on Python 3.11." in release.output
    assert "hears hey_jarvis" in release.output


def test_the_wheel_and_sdist_hold_the_version_and_the_license(release: Release) -> None:
    with zipfile.ZipFile(release.wheel) as wheel:
        names = wheel.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(wheel.read(info).decode())
        (license_name,) = [n for n in names if "/licenses/" in n]
        assert wheel.read(license_name) == LICENSE
    assert metadata["Version"] == release.version
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["License-File"] == "LICENSE"
    with tarfile.open(release.sdist) as sdist:
        top = f"realtime_voice_satellite-{release.version}"
        names = sdist.getnames()
        member = sdist.extractfile(f"{top}/LICENSE")
        assert member is not None
        assert member.read() == LICENSE
        # the link arrives as real files, and the sdist can build its wheel (its backend is in it)
        link = sdist.getmember(f"{top}/realtime_voice_satellite/link/protocol.py")
        assert link.isfile()
        assert f"{top}/build_backend.py" in names


def test_the_hacs_zip_is_the_integration_folder(release: Release) -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert hacs["zip_release"] is True
    with zipfile.ZipFile(release.dist / hacs["filename"]) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
    integration = ROOT / "custom_components" / "realtime_voice"
    shipped = {
        p.relative_to(integration).as_posix()
        for p in integration.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    # the notes of the release, which scripts/release wrote (this tree may have none yet)
    assert names == shipped | {"release_notes.md"}
    assert manifest["domain"] == "realtime_voice"
    assert manifest["version"] == release.version


def test_the_integration_ships_the_releases_notes_for_its_update_entity(release: Release) -> None:
    """HACS ships only custom_components/realtime_voice, not CHANGELOG.md: scripts/release copies
    the version's section there, where the satellites' update entity reads it (update.py)."""
    hacs = json.loads((ROOT / "hacs.json").read_text())
    with zipfile.ZipFile(release.dist / hacs["filename"]) as archive:
        shipped = archive.read("release_notes.md").decode()
    changelog = (release.root / "CHANGELOG.md").read_text()
    section = changelog.split(f"\n## [{release.version}] - ", 1)[1].split("\n## ", 1)[0]
    assert shipped.startswith(f"## [{release.version}] - ")
    assert shipped.split("\n", 1)[1].strip() == section.split("\n", 1)[1].strip()
    assert "link protocol" in shipped
    notes = release.root / "custom_components" / "realtime_voice" / "release_notes.md"
    assert notes.read_text() == shipped
    assert f"release_notes.md: the notes of {release.version} from CHANGELOG.md" in release.output


def test_the_index_is_pep_503(release: Release) -> None:
    page = (release.dist / "simple" / "realtime-voice-satellite" / "index.html").read_text()
    assert f'href="../../{release.wheel.name}#sha256=' in page
    assert f'href="../../{release.sdist.name}#sha256=' in page
    assert (
        'href="realtime-voice-satellite/"' in (release.dist / "simple" / "index.html").read_text()
    )


# --- what stops a release -------------------------------------------------------------------------


@pytest.fixture
def small_copy(tmp_path: Path) -> Path:
    """The files that scripts/release reads before it builds anything."""
    rv = release_module()
    for source in (
        ROOT / "scripts" / "release",
        ROOT / "CHANGELOG.md",
        ROOT / "hacs.json",
        rv.MANIFEST,
        rv.SATELLITE_INIT,
        rv.PROTOCOL,
        *rv.DOCS_WITH_VERSION,
    ):
        target = tmp_path / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    return tmp_path


def run_release(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    result = subprocess.run(
        [sys.executable, str(copy / "scripts" / "release"), *args, "--dist", str(copy / "dist")],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before
    assert not (copy / "dist").exists()
    return result


@pytest.mark.parametrize("version", ["1.2", "v1.2.3", "1.02.3", "1.2.3.dev1", "1.2.3-beta"])
def test_a_version_that_is_not_x_y_z_is_refused(small_copy: Path, version: str) -> None:
    result = run_release(small_copy, version)
    assert f"release: version '{version}' is not X.Y.Z" in result.stderr


def test_a_version_without_a_changelog_section_is_refused(small_copy: Path) -> None:
    result = run_release(small_copy, "9.8.7")
    assert "CHANGELOG.md has no section for 9.8.7: rename '## [Unreleased]'" in result.stderr


def test_a_changelog_section_must_be_dated_and_say_what_it_needs(small_copy: Path) -> None:
    changelog = small_copy / "CHANGELOG.md"
    text = changelog.read_text()
    changelog.write_text(text.replace("## [Unreleased]", "## [9.8.7]"))
    assert "must be '## [9.8.7] - YYYY-MM-DD'" in run_release(small_copy, "9.8.7").stderr
    line = release_module().compatibility_line()
    changelog.write_text(
        text.replace("## [Unreleased]", "## [9.8.7] - 2026-12-07").replace(line, "Works.")
    )
    assert f"section 9.8.7 does not say: {line}" in run_release(small_copy, "9.8.7").stderr


def test_the_release_notes_are_the_changelogs_section(release: Release) -> None:
    notes = subprocess.run(
        [sys.executable, str(release.root / "scripts" / "release"), release.version, "--notes"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert notes.startswith(release_module().compatibility_line())
    assert "### Security" in notes
    assert "## [" not in notes


def test_the_pypi_page_has_no_link_into_the_repository_tree(release: Release) -> None:
    """The wheel's description (satellite/README.md) is what PyPI shows: a relative link there
    points nowhere."""
    with zipfile.ZipFile(release.wheel) as wheel:
        info = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        description = email.parser.Parser().parsestr(wheel.read(info).decode()).get_payload()
    assert "realtime-voice-satellite" in str(description)
    links = re.findall(r"\]\(([^)]+)\)", str(description))
    assert links
    assert all(link.startswith("https://") for link in links), links


def test_a_second_run_changes_no_file_and_keeps_what_else_is_in_dist(
    release: Release, tmp_path: Path
) -> None:
    """On the release's own commit (as the publishing workflow runs it) nothing is bumped; DIR
    loses only an earlier release's files."""
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "notes.txt").write_text("mine")
    (dist / "realtime_voice_satellite-0.0.1-py3-none-any.whl").write_text("old")
    result = subprocess.run(
        [sys.executable, str(release.root / "scripts" / "release"), release.version,
         "--dist", str(dist), "--no-verify"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert " -> " not in result.stdout
    assert (dist / "notes.txt").read_text() == "mine"
    assert {p.name for p in dist.glob("realtime_voice_satellite-*")} == {
        release.sdist.name,
        release.wheel.name,
    }
