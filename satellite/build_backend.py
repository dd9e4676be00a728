"""The satellite's build backend: setuptools' own, with the ``build/`` folder emptied first.

pip builds this directory in place (so that ``realtime_voice_satellite/link``, a symlink, becomes
real files in the wheel), and setuptools puts everything in ``build/lib`` into the wheel, including
a module left there by an earlier build that has since been removed from the source. Setuptools has
no setting for a fresh build folder, hence this wrapper (tests/test_packaging.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F403  (the other hooks, unchanged)

_BUILD = Path(__file__).resolve().parent / "build"


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    shutil.rmtree(_BUILD, ignore_errors=True)
    return build_meta.build_wheel(wheel_directory, config_settings, metadata_directory)
