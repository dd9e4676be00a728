"""The whole product as processes on loopback: a real ``hass``, the satellite agent, the stand-in server.

Used by the end-to-end tests (tests/e2e) and by ``scripts/demo``. Everything here talks to the
processes the way a user's tools do: HA's REST and WebSocket APIs, the satellite's WAV files and log.
The Realtime endpoint is always the stand-in server (tests/realtime_standin): a SIMULATION of OpenAI's
service, never OpenAI itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import requests
from websockets.sync.client import ClientConnection, connect

from tests.helpers.network import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
# Which Home Assistant the stack runs (scripts/ha-versions): "newest" or "oldest" (scripts/test runs
# the e2e tests on both), or "test". It runs on Python >= 3.14.2, through scripts/ha-run.
HA_ENV = os.environ.get("REALTIME_VOICE_HA", "newest")
DOMAIN = "realtime_voice"
API_KEY = "sk-demo-simulated-0123456789"  # the stand-in accepts only this key
ACCESS_KEY = "e2e-access-key-0123456789abcdef"
USERNAME = "demo"
PASSWORD = "demo-password"
COMMAND_SCRIPT = {
    "transcript": "Turn on the kitchen light.",
    "tools": [
        {
            "tool": "HassTurnOn",
            "arguments": {"name": "Kitchen light"},
            "final": "The kitchen light is on.",
        }
    ],
}
OUT_RATE = 24_000


class StackError(AssertionError):
    """A step failed; the message carries the tails of the processes' logs."""


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"({path} does not exist)"
    return "\n".join(text[-lines:])


@dataclass
class Proc:
    """A child process in its own session, its output in ``log``; ``stop`` never leaves it behind."""

    name: str
    args: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> Proc:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, within: float = 15.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(within)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self.popen = None


def wait_for(
    condition: Callable[[], Any], within: float, what: str, logs: Callable[[], str] = lambda: ""
) -> Any:
    """Poll ``condition`` until it returns something truthy; else fail naming ``what``."""
    deadline = time.monotonic() + within
    last_error: Exception | None = None
    while True:
        try:
            value = condition()
        except (OSError, requests.RequestException, ValueError, KeyError) as err:
            value, last_error = None, err
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise StackError(f"timed out after {within:.0f} s waiting for {what}{detail}\n{logs()}")
        time.sleep(0.2)


# --- audio -----------------------------------------------------------------------------------------


def command_wav(path: Path, lead_s: float, text: str = "turn on the kitchen light") -> Path:
    """Silence, "hey jarvis", the command (espeak-ng, cached), and a second of silence."""
    from tests.satellite.harness import Script

    script = Script().pause(lead_s).say("hey jarvis").pause(0.1).say(text).pause(1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    from realtime_voice_satellite.audio import write_wav

    write_wav(path, script.samples(), script.rate)
    return path


def silence_wav(path: Path, seconds: float = 1.0) -> Path:
    from realtime_voice_satellite.audio import write_wav

    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, np.zeros(int(seconds * 16_000), np.int16), 16_000)
    return path


def played(path: Path) -> tuple[float, float]:
    """(seconds written, seconds of audible sound) in a satellite's growing output WAV."""
    try:
        data = path.read_bytes()[44:]
    except OSError:
        return 0.0, 0.0
    samples = np.frombuffer(data[: len(data) // 2 * 2], "<i2")
    loud = int((np.abs(samples.astype(np.int32)) > 500).sum())
    return len(samples) / OUT_RATE, loud / OUT_RATE


# --- TLS: the stand-in behind wss://, as OpenAI is reached -------------------------------------------


@dataclass(frozen=True)
class TestTls:
    """A throw-away certificate authority and a certificate for 127.0.0.1 that it signed.

    ``bundle`` is the system's CA bundle plus this CA: Home Assistant's SSL context reads the file named
    by REQUESTS_CA_BUNDLE, so a hass started with it trusts the stand-in as it trusts OpenAI.
    """

    cert: Path
    key: Path
    bundle: Path

    @classmethod
    def create(cls, folder: Path) -> TestTls:
        folder.mkdir(parents=True, exist_ok=True)
        ca_key, ca_cert = folder / "ca.key", folder / "ca.pem"
        key, csr, cert = folder / "server.key", folder / "server.csr", folder / "server.pem"
        ext = folder / "server.ext"
        # the extensions Python's strict verification (3.13+) asks for on a CA and a server
        ext.write_text(
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=critical,CA:FALSE\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
        )

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True)

        ca_subject = "/CN=realtime-voice e2e test CA"
        ca_extensions = ["-addext", "basicConstraints=critical,CA:TRUE"]
        ca_extensions += ["-addext", "keyUsage=critical,keyCertSign,cRLSign"]
        openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            ca_subject,
            *ca_extensions,
            "-keyout",
            str(ca_key),
            "-out",
            str(ca_cert),
        )
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(csr),
        )
        openssl(
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca_cert),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            str(ext),
            "-out",
            str(cert),
        )
        system = Path("/etc/ssl/certs/ca-certificates.crt")
        bundle = folder / "bundle.pem"
        bundle.write_text((system.read_text() if system.exists() else "") + ca_cert.read_text())
        return cls(cert, key, bundle)


# --- the stand-in Realtime server (SIMULATION) ------------------------------------------------------


@dataclass
class Standin:
    endpoint: str
    workdir: Path
    tls: TestTls | None = None  # wss:// with this certificate
    port: int = field(default_factory=free_port)
    script: dict[str, Any] = field(default_factory=lambda: dict(COMMAND_SCRIPT))
    proc: Proc | None = None
    violations: list[str] = field(default_factory=list)
    _log_offset: int = 0

    @property
    def url(self) -> str:
        scheme = "ws" if self.tls is None else "wss"
        return f"{scheme}://127.0.0.1:{self.port}/v1/realtime"

    @property
    def log(self) -> Path:
        return self.workdir / f"standin-{self.endpoint}-{self.port}.log"

    def start(self, wait: bool = True) -> Standin:
        script = self.workdir / f"standin-{self.endpoint}-{self.port}.json"
        script.write_text(json.dumps(self.script))
        args = [sys.executable, "-m", "tests.realtime_standin", "--port", str(self.port)]
        args += ["--endpoint", self.endpoint, "--api-key", API_KEY, "--script", str(script)]
        if self.tls is not None:
            args += ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        self.proc = Proc(f"stand-in ({self.endpoint})", args, self.log).start()
        return self.wait_ready() if wait else self

    def wait_ready(self) -> Standin:
        assert self.proc is not None
        wait_for(
            lambda: (
                self.url in self.log.read_text()[self._log_offset :]
                or not self.proc
                or not self.proc.alive
            ),
            30,
            f"the stand-in server to listen on {self.url}",
            lambda: tail(self.log),
        )
        if not self.proc.alive:
            raise StackError(f"the stand-in server exited\n{tail(self.log)}")
        return self

    def log_since_start(self) -> str:
        """Its log since the last ``start`` (a restart appends to the same file)."""
        return self.log.read_text(errors="replace")[self._log_offset :]

    def stop(self) -> None:
        """Stop it with SIGINT; the protocol violations it logged (each as it happened, so none is
        lost if the process dies) are kept in ``violations``."""
        if self.proc is not None:
            self.proc.stop(signal.SIGINT)
            self.proc = None
            text = self.log.read_text(errors="replace")[self._log_offset :]
            self.violations += [
                line for line in text.splitlines() if "protocol violation: " in line
            ]


# --- the satellite agent ----------------------------------------------------------------------------


@dataclass
class Satellite:
    name: str
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: Proc | None = None
    output: Path | None = None
    runs: int = 0
    # the agent's command (another environment's, e.g. one installed from a package index) and
    # what its environment adds (e.g. PIP_INDEX_URL)
    command: Path = BIN / "realtime-voice"
    env: dict[str, str] = field(default_factory=dict)
    # satellite.yaml's key (None: none, the satellite pairs by the code it speaks)
    access_key: str | None = ACCESS_KEY
    # file mode's room (--echo: an impulse response file or "default"): the speaker's sound back
    # into the microphone; and audio.echo_cancellation (auto, on, off)
    echo: str | None = None
    echo_cancellation: str = "auto"

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")

    @property
    def config(self) -> Path:
        return self.workdir / f"satellite-{self.slug}.yaml"

    @property
    def log(self) -> Path:
        return self.workdir / f"satellite-{self.slug}-{self.runs}.log"

    def write_config(self) -> None:
        self.config.write_text(
            f"""# generated by tests/e2e/stack.py
name: {self.name}
link: {{host: 127.0.0.1, port: {self.port}, access_key: {self.access_key or '""'},
        ping_interval_s: 1.0, ping_timeout_s: 2.0, state_dir: {self.workdir / ("state-" + self.slug)}}}
zeroconf: {{enabled: false}}
wake_word: {{models: [hey_jarvis], threshold: 0.5, warmup_s: 1.0}}
audio: {{output_rate: {OUT_RATE}, echo_cancellation: {self.echo_cancellation}}}
log_level: info
"""
        )

    def start(self, input_wav: Path, wait: bool = True) -> Satellite:
        """Start the agent on ``input_wav`` (paced in real time from now); a new output WAV."""
        self.stop()
        self.runs += 1
        self.write_config()
        self.output = self.workdir / f"speaker-{self.slug}-{self.runs}.wav"
        args = [str(self.command), "satellite", "--config", str(self.config)]
        args += ["--input-wav", str(input_wav), "--output-wav", str(self.output)]
        if self.echo is not None:
            args += ["--echo", self.echo]
        self.proc = Proc(f"satellite {self.name}", args, self.log, env=self.env).start()
        return self.wait_ready() if wait else self

    def wait_ready(self) -> Satellite:
        assert self.proc is not None
        wait_for(
            lambda: (
                "link listening" in self.log.read_text() or not self.proc or not self.proc.alive
            ),
            60,
            f"satellite {self.name} to listen on port {self.port}",
            lambda: tail(self.log),
        )
        if not self.proc.alive:
            raise StackError(f"satellite {self.name} exited\n{tail(self.log)}")
        return self

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(signal.SIGTERM)
            self.proc = None


# --- Home Assistant ---------------------------------------------------------------------------------


def write_hass_config(config_dir: Path, port: int) -> None:
    """The development config (config/configuration.yaml) on another port, this integration linked in."""
    config_dir.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "config" / "configuration.yaml").read_text()
    text = re.sub(r"server_port: \d+", f"server_port: {port}", text)
    text = text.replace("name: Realtime Voice development", "name: Realtime Voice demo")
    (config_dir / "configuration.yaml").write_text(text)
    # Onboarding steps other than the owner's account count as done: the core_config step would set up
    # integrations that need the internet (met.no, radio browser) and log errors without it.
    storage = config_dir / ".storage"
    storage.mkdir(exist_ok=True)
    onboarding = storage / "onboarding"
    if not onboarding.exists():
        done = ["core_config", "analytics", "integration"]
        onboarding.write_text(
            json.dumps(
                {"version": 4, "minor_version": 1, "key": "onboarding", "data": {"done": done}}
            )
        )
    # the integration, the test-only discovery helper (e2e_zeroconf/__init__.py) and the test-only
    # speech-to-text and text-to-speech for the Assist pipeline (loopback_speech/__init__.py)
    components = config_dir / "custom_components"
    components.mkdir(exist_ok=True)
    for name, target in (
        ("realtime_voice", ROOT / "custom_components" / "realtime_voice"),
        ("e2e_zeroconf", ROOT / "tests" / "e2e" / "e2e_zeroconf"),
        ("loopback_speech", ROOT / "tests" / "e2e" / "loopback_speech"),
    ):
        if not (components / name).exists():
            (components / name).symlink_to(target, target_is_directory=True)
    if "\ne2e_zeroconf:" not in text:
        (config_dir / "configuration.yaml").write_text(text + "\ne2e_zeroconf:\nloopback_speech:\n")


def shown_options(form: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What an options form shows, by section (defaults and suggested values), as the UI would
    submit it unchanged."""
    sections: dict[str, dict[str, Any]] = {}
    for part in form["data_schema"]:
        shown = sections.setdefault(part["name"], {})
        for item in part["schema"]:
            if "default" in item:
                shown[item["name"]] = item["default"]
            elif (item.get("description") or {}).get("suggested_value") is not None:
                shown[item["name"]] = item["description"]["suggested_value"]
    return sections


@dataclass
class Hass:
    config_dir: Path
    tls: TestTls | None = None  # trust this test CA (besides the system's)
    port: int = field(default_factory=free_port)
    proc: Proc | None = None
    token: str = ""
    refresh_token: str = ""
    ws: ClientConnection | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    _next_id: int = 1
    log_checked_upto: int = 0
    # the endpoint of the account the first satellite's flow created (later ones use it unasked)
    account_url: str | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client_id(self) -> str:
        return f"{self.base}/"

    @property
    def log(self) -> Path:
        return self.config_dir / "home-assistant.log"

    @property
    def console(self) -> Path:
        return self.config_dir / "hass-console.log"

    def logs(self) -> str:
        return f"--- tail of {self.log} ---\n{tail(self.log)}"

    def start(self, wait: bool = True) -> Hass:
        write_hass_config(self.config_dir, self.port)
        args = [str(ROOT / "scripts" / "ha-run"), HA_ENV, "hass", "-c", str(self.config_dir)]
        args += ["--log-file", str(self.log)]
        env = {} if self.tls is None else {"REQUESTS_CA_BUNDLE": str(self.tls.bundle)}
        self.proc = Proc("hass", args, self.console, env=env).start()
        return self.wait_ready() if wait else self

    def wait_ready(self) -> Hass:
        """Until hass answers: before onboarding, /api/onboarding (200); after it (where that
        answers 404), /api/config with the owner's token, until HA reports itself RUNNING (every
        integration set up)."""

        def up() -> bool:
            if not self.proc or not self.proc.alive:
                raise StackError(f"hass exited\n{tail(self.console)}\n{self.logs()}")
            if not self.token:
                return requests.get(f"{self.base}/api/onboarding", timeout=2).status_code == 200
            response = requests.get(
                f"{self.base}/api/config",
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=2,
            )
            return response.status_code == 200 and response.json().get("state") == "RUNNING"

        wait_for(up, 120, f"Home Assistant to answer on {self.base}", self.logs)
        return self

    def restart(self) -> Hass:
        """Stop hass as systemd or `ha core restart` do (SIGTERM) and start it again; the owner
        stays logged in (the token is still valid) and the event subscriptions are made again."""
        self.stop()
        self.start()
        self.connect_websocket()
        return self

    def stop(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close()
            self.ws = None
        if self.proc is not None:
            self.proc.stop(signal.SIGTERM, within=30)
            self.proc = None

    # REST -------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = requests.request(
            method,
            f"{self.base}{path}",
            headers=headers,
            timeout=kwargs.pop("timeout", 30),
            **kwargs,
        )
        if response.status_code >= 400:
            raise StackError(
                f"{method} {path} -> HTTP {response.status_code}: {response.text[:500]}\n{self.logs()}"
            )
        return response.json() if response.content else None

    def onboard(self) -> None:
        """Create the owner (demo / demo-password) as the first UI visit does; log in as them."""
        result = self.request(
            "POST",
            "/api/onboarding/users",
            json={
                "client_id": self.client_id,
                "name": "Demo",
                "username": USERNAME,
                "password": PASSWORD,
                "language": "en",
            },
        )
        tokens = self.request(
            "POST",
            "/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": result["auth_code"],
                "client_id": self.client_id,
            },
        )
        self.token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]
        self.connect_websocket()
        self.confirm_http_config()

    def confirm_http_config(self) -> None:
        """Keep the HTTP settings this hass started with, as the owner's "Confirm" does.

        Since 2026.11 HA moves the `http:` YAML into its storage as a trial that it reverts five
        minutes later (restarting on the default port) unless the owner confirms it in a dialog that
        the frontend shows over every page. Older releases have no such step (unknown command).
        """
        try:
            self.ws_command("http/config/promote")
        except StackError as err:
            if "unknown_command" not in str(err) and "not_allowed" not in str(err):
                raise

    def state(self, entity_id: str) -> dict[str, Any] | None:
        response = requests.get(
            f"{self.base}/api/states/{entity_id}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        return response.json() if response.status_code == 200 else None

    def state_of(self, entity_id: str) -> str | None:
        found = self.state(entity_id)
        return None if found is None else found["state"]

    def wait_state(
        self, entity_id: str, want: Callable[[str | None], bool], within: float, what: str
    ) -> str:
        wait_for(lambda: want(self.state_of(entity_id)), within, f"{entity_id} {what}", self.logs)
        return str(self.state_of(entity_id))

    def call(self, domain: str, service: str, **data: Any) -> Any:
        return self.request("POST", f"/api/services/{domain}/{service}", json=data, timeout=90)

    # config flow ------------------------------------------------------------------------------------

    def add_satellite(
        self,
        satellite: Satellite,
        standin: Standin,
        model_selection: str = "auto",
        steps: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Drive the config flow over REST as the UI does: the address, the access key (in the pair
        step), and the OpenAI key when no account holds one (the first satellite); then, where this satellite
        needs another endpoint than its account's or another model selection, its options.
        Returns the created entry."""

        def post(path: str, data: dict[str, Any]) -> dict[str, Any]:
            result = self.request("POST", path, json=data)
            if steps is not None:
                steps.append(result)
            return result

        flow = "/api/config/config_entries/flow"
        result = post(flow, {"handler": DOMAIN, "show_advanced_options": False})
        if result.get("step_id") != "user":
            raise StackError(f"expected the address form, got {result}")
        result = post(f"{flow}/{result['flow_id']}", {"host": "127.0.0.1", "port": satellite.port})
        # the pair step: this satellite has its key already (not in pairing mode), so the key
        # is typed, as for a satellite without a speaker
        if result.get("step_id") != "pair":
            raise StackError(f"expected the pair form, got {result}\n{self.logs()}")
        result = post(f"{flow}/{result['flow_id']}", {"access_key": ACCESS_KEY})
        account_url: str | None = None
        if result.get("step_id") == "account":
            result = post(f"{flow}/{result['flow_id']}", {"api_key": API_KEY, "url": standin.url})
            account_url = standin.url
        elif result.get("step_id") == "choose_account":
            choices = result["data_schema"][0]["selector"]["select"]["options"]
            endpoint = urlsplit(standin.url).netloc
            chosen = next((c for c in choices if endpoint in c["label"]), choices[0])
            result = post(f"{flow}/{result['flow_id']}", {"account_entry": chosen["value"]})
            if endpoint in chosen["label"]:
                account_url = standin.url
        elif result.get("type") == "create_entry":  # the one account: used without a question
            account_url = self.account_url
        if result.get("type") != "create_entry":
            raise StackError(f"expected an entry, got {result}\n{self.logs()}")
        if self.account_url is None:
            self.account_url = account_url
        entry = result["result"]
        if account_url != standin.url or model_selection != "auto":
            self._set_realtime_options(entry["entry_id"], standin, model_selection, account_url)
        return entry

    def _set_realtime_options(
        self, entry_id: str, standin: Standin, model_selection: str, account_url: str | None
    ) -> None:
        """The options flow over REST: the model selection, and another key (an account of the
        standin's endpoint) when the satellite's account has another endpoint."""
        flow = "/api/config/config_entries/options/flow"
        result = self.request("POST", flow, json={"handler": entry_id})
        if result.get("step_id") != "init":
            raise StackError(f"expected the options form, got {result}")
        # what the form shows (defaults and suggested values), as the UI submits it, with the changes
        sections = shown_options(result)
        sections["realtime"]["model_selection"] = model_selection
        if account_url != standin.url:
            sections["realtime"]["new_account"] = True
        result = self.request("POST", f"{flow}/{result['flow_id']}", json=sections)
        if result.get("step_id") == "account":
            result = self.request(
                "POST",
                f"{flow}/{result['flow_id']}",
                json={"api_key": API_KEY, "url": standin.url},
            )
        if result.get("type") != "create_entry":
            raise StackError(f"expected the options saved, got {result}\n{self.logs()}")

    def set_options(self, entry_id: str, changes: dict[str, dict[str, Any]]) -> None:
        """The options flow over REST, as the UI submits it: what the form shows, with ``changes``
        (by section, e.g. ``{"conversation": {"conversation_mode": "pipeline"}}``)."""
        flow = "/api/config/config_entries/options/flow"
        result = self.request("POST", flow, json={"handler": entry_id})
        sections = shown_options(result)
        for section, values in changes.items():
            sections[section].update(values)
        result = self.request("POST", f"{flow}/{result['flow_id']}", json=sections)
        if result.get("type") != "create_entry":
            raise StackError(f"expected the options saved, got {result}\n{self.logs()}")

    def remove_entry(self, entry_id: str) -> None:
        self.request("DELETE", f"/api/config/config_entries/entry/{entry_id}")

    # WebSocket: commands and events -----------------------------------------------------------------

    def connect_websocket(self) -> None:
        ws = connect(f"ws://127.0.0.1:{self.port}/api/websocket", open_timeout=10)
        assert json.loads(ws.recv(10))["type"] == "auth_required"
        ws.send(json.dumps({"type": "auth", "access_token": self.token}))
        reply = json.loads(ws.recv(10))
        if reply["type"] != "auth_ok":
            raise StackError(f"websocket auth failed: {reply}")
        self.ws = ws
        for kind in (
            "wake_word_detected",
            "conversation_started",
            "conversation_ended",
            "tool_called",
        ):
            self.ws_command("subscribe_events", event_type=f"{DOMAIN}_{kind}")

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        assert self.ws is not None
        try:
            message = json.loads(self.ws.recv(timeout))
        except TimeoutError:
            return None
        if message.get("type") == "event":
            self.events.append(message["event"])
        return message

    def ws_command(self, kind: str, **data: Any) -> Any:
        assert self.ws is not None
        ident = self._next_id
        self._next_id += 1
        self.ws.send(json.dumps({"id": ident, "type": kind, **data}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = self._receive(max(0.1, deadline - time.monotonic()))
            if message and message.get("type") == "result" and message.get("id") == ident:
                if not message["success"]:
                    raise StackError(f"websocket {kind} failed: {message}")
                return message["result"]
        raise StackError(f"no answer to websocket command {kind}\n{self.logs()}")

    def wait_event(
        self, event_type: str, within: float, since: int = 0, logs: Callable[[], str] | None = None
    ) -> dict[str, Any]:
        """The first event of this type at index >= ``since`` in ``events`` (waits for it)."""
        deadline = time.monotonic() + within
        while True:
            for event in self.events[since:]:
                if event["event_type"] == event_type:
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                more = logs() if logs else ""
                raise StackError(
                    f"no {event_type} event within {within:.0f} s\n{self.logs()}\n{more}"
                )
            self._receive(min(left, 0.5))

    def pump_events(self) -> None:
        while self._receive(0.01):
            pass

    def entity_ids(self, entry_id: str) -> list[str]:
        entries = self.ws_command("config/entity_registry/list")
        return sorted(e["entity_id"] for e in entries if e.get("config_entry_id") == entry_id)

    def expose(self, *entity_ids: str) -> None:
        self.ws_command(
            "homeassistant/expose_entity",
            assistants=["conversation"],
            entity_ids=list(entity_ids),
            should_expose=True,
        )

    # log --------------------------------------------------------------------------------------------

    def integration_errors(self) -> list[str]:
        """ERROR (and CRITICAL) lines of this integration's loggers in the HA log."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        pattern = re.compile(r" (ERROR|CRITICAL) \([^)]*\) \[custom_components\.realtime_voice")
        return [line for line in text.splitlines() if pattern.search(line)]

    def integration_reports(self) -> list[str]:
        """HA's reports about this integration: deprecated API, blocking or thread-unsafe calls.

        HA logs them as "Detected that custom integration 'realtime_voice' ..." (frame helper) or
        "Detected blocking call to ... by custom integration 'realtime_voice' ..." (at any level).
        """
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [
            line
            for line in text.splitlines()
            if "Detected" in line and "custom integration 'realtime_voice'" in line
        ]


@dataclass
class Stack:
    """hass + any number of stand-ins and satellites; ``close`` stops them all."""

    workdir: Path
    hass: Hass = field(init=False)
    standins: list[Standin] = field(default_factory=list)
    satellites: list[Satellite] = field(default_factory=list)

    tls: TestTls = field(init=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tls = TestTls.create(self.workdir / "tls")
        self.hass = Hass(self.workdir / "config", tls=self.tls)

    def standin(self, endpoint: str, wait: bool = True, tls: bool = False) -> Standin:
        """A stand-in on ws://, or on wss:// with a certificate that hass trusts (``tls``)."""
        standin = Standin(endpoint, self.workdir, tls=self.tls if tls else None)
        self.standins.append(standin)
        return standin.start(wait)

    def satellite(self, name: str) -> Satellite:
        satellite = Satellite(name, self.workdir)
        self.satellites.append(satellite)
        return satellite

    def logs(self) -> str:
        parts = [self.hass.logs()]
        parts += [f"--- tail of {s.log} ---\n{tail(s.log, 15)}" for s in self.satellites if s.runs]
        parts += [f"--- tail of {s.log} ---\n{tail(s.log, 10)}" for s in self.standins]
        return "\n".join(parts)

    def close(self) -> None:
        for satellite in self.satellites:
            satellite.stop()
        for standin in self.standins:
            standin.stop()
        self.hass.stop()


@contextlib.contextmanager
def running_stack(workdir: Path, fresh: bool = True) -> Iterator[Stack]:
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    stack = Stack(workdir)
    try:
        yield stack
    finally:
        stack.close()


def new_secret() -> str:
    return secrets.token_urlsafe(24)
