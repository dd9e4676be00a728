"""Two distributions, one link protocol (issue #14 item 1, docs/architecture.md "Packaging").

- What HACS ships (custom_components/realtime_voice/) is only what Home Assistant imports: the
  integration, the Realtime client (core/realtime), the link (core/link) and core/backoff.py.
- The satellite package (satellite/, ``realtime-voice-satellite``) is only what the Pi runs; it
  reaches the link through a symlink to core/link, so its wheel must hold the real files.
- Benchmarks, the probe and test helpers (dev/, tests/) are in neither.
The integration's side is also checked where Home Assistant really loads it
(tests/integration/test_shipped_modules.py).
"""

from __future__ import annotations

import ast
import email.parser
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import wave
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.import_graph import PACKAGE as INTEGRATION_MODULE
from tests.import_graph import SATELLITE as SATELLITE_SOURCE
from tests.import_graph import SATELLITE_PACKAGE as SATELLITE_MODULE
from tests.import_graph import check, import_graph, imports_in

ROOT = Path(__file__).resolve().parents[1]
HACS = ROOT / "custom_components" / "realtime_voice"
LINK = HACS / "core" / "link"
SATELLITE = ROOT / "satellite"
SATELLITE_PACKAGE = SATELLITE / "realtime_voice_satellite"
PYENV = Path.home() / ".pyenv" / "versions"

# Platform modules that Home Assistant's loader imports by name when they exist (the entity platforms
# come from PLATFORMS in __init__.py; these are the others it looks for).
HA_PLATFORM_MODULES = ("config_flow", "diagnostics", "repairs", "logbook", "intent", "trigger")
# Names that belong to the repository's tools, never to a shipped package.
REPOSITORY_ONLY = ("tests", "realtime_voice_dev", "realtime_voice_core", "custom_components")


def module_name(path: Path, top: Path, package: str) -> str:
    """The dotted name of ``path``, a file under ``top``, the directory of ``package``."""
    parts = list(path.relative_to(top).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def imported_names(path: Path, top: Path, package: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path`` (a file under ``top``, the
    directory of ``package``); for ``from X import y`` both X and X.y (y may be a module)."""
    here = module_name(path, top, package).split(".")
    if path.name != "__init__.py":
        here.pop()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = here[: len(here) - node.level + 1]
                module = ".".join([*base, *([module] if module else [])])
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


# --- what HACS ships --------------------------------------------------------------------------


def test_hacs_ships_only_what_home_assistant_imports() -> None:
    """Every module under custom_components/realtime_voice/ is reached from what HA loads: the
    integration's __init__, its entity platforms and the platform modules HA looks for."""
    package = "custom_components.realtime_voice"
    modules = {module_name(p, HACS, package): p for p in HACS.rglob("*.py")}
    init = ast.parse((HACS / "__init__.py").read_text())
    platforms = {
        node.attr.lower()
        for node in ast.walk(init)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "Platform"
    }
    assert "assist_satellite" in platforms
    todo = [package] + [
        f"{package}.{name}"
        for name in (*platforms, *HA_PLATFORM_MODULES)
        if f"{package}.{name}" in modules
    ]
    reached: set[str] = set()
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        for _, imported in imported_names(modules[name], HACS, package):
            parts = imported.split(".")
            # importing a.b.c imports a and a.b too
            todo += [".".join(parts[:end]) for end in range(1, len(parts) + 1)]
        todo = [m for m in todo if m in modules and m not in reached]
    unreached = sorted(str(modules[m].relative_to(ROOT)) for m in set(modules) - reached)
    assert not unreached, "shipped by HACS, never imported by HA:\n" + "\n".join(unreached)


def test_every_relative_import_of_the_integration_finds_its_module() -> None:
    """A module moved out of (or within) the integration leaves no import of its old place
    (mypy and the integration tests see it too, but only in the HA environment)."""
    package = "custom_components.realtime_voice"
    modules = {module_name(p, HACS, package) for p in HACS.rglob("*.py")}
    missing = []
    for path in HACS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                here = module_name(path, HACS, package).split(".")
                if path.name != "__init__.py":
                    here.pop()
                base = here[: len(here) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
                if module not in modules:
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {module}")
    assert missing == []


def test_hacs_ships_no_satellite_bench_or_test_code() -> None:
    names = {p.relative_to(HACS).as_posix() for p in HACS.rglob("*") if p.is_file()}
    assert not [n for n in names if "bench" in n or "probe" in n or n.endswith("cli.py")]
    for sub in ("audio", "wakeword", "satellite"):
        assert not (HACS / "core" / sub).exists(), f"core/{sub} is the satellite's"
    offenders = [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for path in HACS.rglob("*.py")
        for line, name in imported_names(path, HACS, "custom_components.realtime_voice")
        if name.split(".")[0]
        in (
            *REPOSITORY_ONLY[:2],
            "realtime_voice_satellite",
            "sounddevice",
            "soxr",
            "pyopen_wakeword",
        )
    ]
    assert offenders == []


def test_the_realtime_core_and_the_link_never_import_homeassistant() -> None:
    core = "custom_components.realtime_voice.core"
    offenders = [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for path in (HACS / "core").rglob("*.py")
        for line, name in imported_names(path, HACS / "core", core)
        if name.split(".")[0] in ("homeassistant", *REPOSITORY_ONLY) and not name.startswith(core)
    ]
    assert offenders == []


def test_the_link_imports_nothing_outside_itself() -> None:
    """core/link is the code both sides share: the satellite gets it as one directory."""
    link = "custom_components.realtime_voice.core.link"
    offenders = [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for path in LINK.rglob("*.py")
        for line, name in imported_names(path, LINK, link)
        if name.startswith("custom_components") and not name.startswith(link)
    ]
    assert offenders == []


# --- the satellite package ------------------------------------------------------------------------


def test_the_satellite_reaches_the_link_through_a_symlink() -> None:
    link = SATELLITE_PACKAGE / "link"
    assert link.is_symlink(), "satellite/realtime_voice_satellite/link must be a symlink"
    assert not Path(link.readlink()).is_absolute()
    assert link.resolve() == LINK


def test_no_shipped_code_puts_anything_on_sys_path() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for top in (HACS, SATELLITE_PACKAGE)
        for path in top.rglob("*.py")
        if "sys.path" in path.read_text()
    ]
    assert offenders == []


@pytest.fixture(scope="module")
def satellite_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of ``pip install ./satellite``: pip builds a local directory in place.

    A build in place leaves ``satellite/build/``; a module that was there from an older build but
    has since been removed from the source must not reach the next wheel.
    """
    out = tmp_path_factory.mktemp("wheel")
    STALE_MODULE.parent.mkdir(parents=True, exist_ok=True)
    STALE_MODULE.write_text("REMOVED_SINCE_THE_LAST_BUILD = True\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(SATELLITE)],
        check=True,
        capture_output=True,
        text=True,
    )  # fmt: skip
    STALE_MODULE.unlink(missing_ok=True)  # the build removes it
    (wheel,) = out.glob("realtime_voice_satellite-*.whl")
    return wheel


STALE_MODULE = SATELLITE / "build" / "lib" / "realtime_voice_satellite" / "removed_since.py"


def test_a_stale_build_folder_does_not_reach_the_wheel(satellite_wheel: Path) -> None:
    with zipfile.ZipFile(satellite_wheel) as wheel:
        names = wheel.namelist()
    assert "realtime_voice_satellite/agent/agent.py" in names
    assert not [n for n in names if "removed_since" in n]


def test_the_satellite_wheel_holds_the_real_link_files(satellite_wheel: Path) -> None:
    with zipfile.ZipFile(satellite_wheel) as wheel:
        names = set(wheel.namelist())
        for source in sorted(LINK.glob("*.py")):
            name = f"realtime_voice_satellite/link/{source.name}"
            assert name in names, f"{name} missing from the wheel"
            assert wheel.read(name) == source.read_bytes(), f"{name} differs from {source}"


def test_the_satellite_wheel_holds_the_digits_it_speaks_a_pairing_code_with(
    satellite_wheel: Path,
) -> None:
    """Ten short clips, read by agent/spoken_code.py: small, and each a real sound."""
    with zipfile.ZipFile(satellite_wheel) as wheel:
        clips = {
            n.rsplit("/", 1)[1]: wheel.read(n)
            for n in wheel.namelist()
            if n.startswith("realtime_voice_satellite/agent/digits/")
        }
    assert sorted(clips) == [f"{d}.wav" for d in range(10)]
    assert sum(map(len, clips.values())) < 200_000
    for name, data in clips.items():
        with wave.open(io.BytesIO(data)) as clip:
            seconds = clip.getnframes() / clip.getframerate()
            assert 0.2 < seconds < 0.8, name


def test_the_satellite_wheel_holds_only_what_the_pi_runs(satellite_wheel: Path) -> None:
    with zipfile.ZipFile(satellite_wheel) as wheel:
        sources = {n: wheel.read(n).decode() for n in wheel.namelist() if n.endswith(".py")}
        metadata = email.parser.Parser().parsestr(
            wheel.read(
                next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            ).decode()
        )
        entry_points = wheel.read(
            next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
        ).decode()
    assert {n.split("/")[0] for n in sources} == {"realtime_voice_satellite"}
    for must in (
        "cli.py",
        "agent/agent.py",
        "audio/dsp.py",
        "wakeword/detector.py",
        "link/client.py",
    ):
        assert f"realtime_voice_satellite/{must}" in sources
    assert not [n for n in sources if "bench" in n or "probe" in n or "test" in n or "standin" in n]
    offenders = []
    for name, text in sources.items():
        assert "sys.path" not in text, name
        for node in ast.walk(ast.parse(text, filename=name)):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            offenders += [
                f"{name}:{node.lineno} {m}"
                for m in modules
                if m.split(".")[0] in ("homeassistant", *REPOSITORY_ONLY)
            ]
    assert offenders == []
    assert metadata["Name"] == "realtime-voice-satellite"
    assert metadata["Requires-Python"] == ">=3.11"
    assert "realtime-voice = realtime_voice_satellite.cli:main" in entry_points


def test_the_satellite_wheel_imports_without_the_repository(
    satellite_wheel: Path, tmp_path: Path
) -> None:
    """Every module of the wheel imports with only the wheel and the third-party packages on the
    path (no editable installs: python -S reads no .pth files), Home Assistant and the repository's
    packages made unimportable."""
    with zipfile.ZipFile(satellite_wheel) as wheel:
        wheel.extractall(tmp_path)
    code = (
        "import sys, importlib, pkgutil\n"
        f"sys.path[:0] = [{str(tmp_path)!r}, {sysconfig.get_paths()['purelib']!r}]\n"
        f"for name in ('homeassistant', *{REPOSITORY_ONLY!r}): sys.modules[name] = None\n"
        "import realtime_voice_satellite as package\n"
        f"assert package.__file__.startswith({str(tmp_path)!r}), package.__file__\n"
        "names = [m.name for m in pkgutil.walk_packages(package.__path__, 'realtime_voice_satellite.')]\n"
        "for name in names: importlib.import_module(name)\n"
        "from realtime_voice_satellite import cli\n"
        "cli.entry_points = lambda group: []  # no other distribution adds commands\n"
        "print(len(names), sorted(cli.build_parser()._subparsers._group_actions[0].choices))\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    count, commands = result.stdout.split(" ", 1)
    assert int(count) > 20
    assert commands.strip() == "['satellite', 'wakeword']"


def test_the_satellite_sources_compile_on_python_3_11(tmp_path: Path) -> None:
    """Bookworm's Python: the satellite package, link included, has no newer syntax."""
    found = sorted(PYENV.glob("3.11.*/bin/python3.11"))
    python = found[-1] if found else shutil.which("python3.11")
    if python is None:
        pytest.skip("no Python 3.11 here")
    sources = sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(SATELLITE_PACKAGE, followlinks=True)
        for name in names
        if name.endswith(".py")
    )
    assert any("/link/" in s for s in sources)
    code = "import sys\nfor path in sys.argv[1:]: compile(open(path).read(), path, 'exec')\n"
    result = subprocess.run(
        [str(python), "-c", code, *sources], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# --- the repository's own tools -----------------------------------------------------------------


def test_the_repository_cli_adds_bench_and_probe() -> None:
    """In the repository's .venv the one console script also has the host's tools (realtime_voice_dev
    adds them through the ``realtime_voice.commands`` entry points)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "realtime-voice"), "--help"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    for command in ("satellite", "wakeword", "bench", "probe"):
        assert command in result.stdout


# --- no import circle in either package (issues #26, #28; the graph: tests/import_graph.py) -----


def test_the_integration_has_no_import_circle() -> None:
    graph = import_graph()
    assert len(graph) > 40  # the walk found the integration
    check(graph)


def test_the_satellite_has_no_import_circle() -> None:
    graph = import_graph(SATELLITE_SOURCE, SATELLITE_MODULE)
    assert len(graph) > 50  # the walk found the satellite, its link too
    assert f"{SATELLITE_MODULE}.link.protocol" in graph
    check(graph, SATELLITE_MODULE)


def test_the_running_agent_imports_neither_its_setup_nor_its_commands() -> None:
    """The running agent apart from setting up (setup/: --setup, --doctor, devices) and from the
    command line (commands/, cli.py): those use the agent, never the other way round."""
    graph = import_graph(SATELLITE_SOURCE, SATELLITE_MODULE)
    outside = (
        f"{SATELLITE_MODULE}.setup",
        f"{SATELLITE_MODULE}.commands",
        f"{SATELLITE_MODULE}.cli",
    )
    offenders = [
        f"{name} imports {imported}"
        for name, imports in graph.items()
        if name.startswith(f"{SATELLITE_MODULE}.agent")
        for imported in imports
        if imported.startswith(outside)
    ]
    assert offenders == []


def test_an_import_back_under_type_checking_is_a_circle() -> None:
    """The check itself, on the circle issue #26 started from."""
    graph = import_graph()
    announcer = f"{INTEGRATION_MODULE}.announcer"
    source = (
        "from typing import TYPE_CHECKING\n"
        "from .core.conversation import brain\n"
        "if TYPE_CHECKING:\n"
        "    from .session_manager import SessionManager\n"
    )
    graph[announcer] = imports_in(source, announcer, package=False, modules=set(graph))
    assert graph[announcer] == {
        f"{INTEGRATION_MODULE}.core.conversation.brain",
        f"{INTEGRATION_MODULE}.session_manager",
    }
    with pytest.raises(pytest.fail.Exception, match=r"import circle: .*announcer"):
        check(graph)
