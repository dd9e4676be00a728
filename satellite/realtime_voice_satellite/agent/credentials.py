"""What the satellite keeps in its state directory (``link.state_dir``): the access key
(``access_key``, when satellite.yaml sets none) and the link's TLS certificate.

The access key is made by pairing (Home Assistant types the code the satellite speaks; both sides
derive the key) or, for a satellite without a speaker, by ``--new-access-key``, which prints it once on
the terminal (never logged) to type into Home Assistant. ``--pair`` asks the running satellite to
open pairing mode: it leaves ``pair_request`` in the state directory, which the agent looks for.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..link import keys
from ..link.tls import LinkCertificate
from .certificate import CertificateError, ensure_certificate
from .config import ConfigError, SatelliteConfig

ACCESS_KEY_FILE = "access_key"
PAIR_REQUEST_FILE = "pair_request"


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


def write_access_key(directory: Path, key: str | None = None) -> str:
    """``key`` (else a new one) in ``directory``/access_key (owner-only), replacing any earlier one."""
    key = key or keys.new_access_key()
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


def stored_access_key(config: SatelliteConfig) -> str | None:
    """The access key: satellite.yaml's, else the one in the state directory; None: not paired
    yet (the agent then opens pairing mode)."""
    return config.link.access_key or read_access_key(state_dir(config))


def request_pairing(config: SatelliteConfig) -> Path:
    """Ask the running agent (or the next start) to open pairing mode; the request file's path."""
    if config.link.access_key:
        raise ConfigError(
            "link.access_key is set in satellite.yaml and wins over a paired key: remove it to "
            "pair by a spoken code"
        )
    path = state_dir(config) / PAIR_REQUEST_FILE
    try:
        private_dir(path.parent)
        path.write_text("pair\n", encoding="utf-8")
        # the service user removes it: a file root left in its directory is still its to delete
    except OSError as err:
        raise ConfigError(
            f"{path}: cannot ask for pairing: {err.strerror} (run it as the service's user, "
            "e.g. sudo -u realtime-voice, or with sudo)"
        ) from None
    return path


def take_pair_request(directory: Path) -> bool:
    """True once for each ``--pair`` (the request file is removed)."""
    try:
        (directory / PAIR_REQUEST_FILE).unlink()
    except FileNotFoundError:
        return False
    return True


def link_certificate(config: SatelliteConfig) -> LinkCertificate:
    try:
        return ensure_certificate(state_dir(config), config.name)
    except CertificateError as err:
        raise ConfigError(str(err)) from None


def show_access_key(key: str, config: SatelliteConfig, *, new: bool) -> None:
    """On the terminal only (stdout), never in the log."""
    what = "A new access key was made" if new else "The access key"
    print(
        f"{what} for satellite {config.name!r} (kept in {state_dir(config)}/access_key).\n"
        f"Enter it in Home Assistant (Realtime Voice, field 'access key'); it is shown only now:\n\n"
        f"    {key}\n",
        flush=True,
    )
