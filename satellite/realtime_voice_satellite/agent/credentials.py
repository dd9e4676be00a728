"""What the satellite generates and keeps in its state directory (``link.state_dir``): the access
key (``access_key``, when satellite.yaml sets none) and the link's TLS certificate.

The access key is shown once, when it is made: printed on the terminal (never logged), for the user to
enter in Home Assistant. ``--new-access-key`` makes a new one (rotation).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..link import keys
from ..link.tls import LinkCertificate
from .certificate import CertificateError, ensure_certificate
from .config import ConfigError, SatelliteConfig, with_overrides

ACCESS_KEY_FILE = "access_key"


def state_dir(config: SatelliteConfig) -> Path:
    """``link.state_dir``; load_config fills it in (systemd's $STATE_DIRECTORY, else the config
    file's directory). A configuration not read from a file: $STATE_DIRECTORY, else the user's
    state directory (``~/.local/state/realtime-voice``)."""
    if config.link.state_dir is not None:
        return config.link.state_dir
    env = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "realtime-voice"


def private_dir(directory: Path) -> int | None:
    """``directory`` made if missing (owner only: 0700, its missing parents as usual), or an
    existing one of this user's that others may enter made owner-only; its old mode when it
    was changed, else None. A directory of another user's is left as it is."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = directory.stat()
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077 and status.st_uid == os.geteuid():
        directory.chmod(mode & 0o700)
        return mode
    return None


def write_access_key(directory: Path) -> str:
    """A new access key in ``directory``/access_key (owner-only), replacing any earlier one."""
    key = keys.new_access_key()
    path = directory / ACCESS_KEY_FILE
    try:
        private_dir(directory)
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(key + "\n")
    except OSError as err:
        raise ConfigError(
            f"{path}: cannot write the access key: {err.strerror} "
            "(set link.state_dir to a directory the satellite may write)"
        ) from None
    return key


def read_access_key(directory: Path) -> str | None:
    path = directory / ACCESS_KEY_FILE
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the access key: {err.strerror}") from None
    if (why := keys.weakness(key)) is not None:
        raise ConfigError(f"{path}: this access key {why}; {keys.HOW_TO_MAKE_ONE}")
    return key


def with_access_key(config: SatelliteConfig) -> tuple[SatelliteConfig, str | None]:
    """``config`` with its access key: satellite.yaml's, else the generated one (made now if there
    is none yet). The second value is the key when it was made now (to show once), else None."""
    if config.link.access_key:
        return config, None
    directory = state_dir(config)
    key = read_access_key(directory)
    created = None
    if key is None:
        key = created = write_access_key(directory)
    return with_overrides(config, link={"access_key": key}), created


def link_certificate(config: SatelliteConfig) -> LinkCertificate:
    try:
        return ensure_certificate(state_dir(config), config.name)
    except CertificateError as err:
        raise ConfigError(str(err)) from None
