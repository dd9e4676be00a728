"""Headless Chromium (Debian's ``chromium``) driven over the Chrome DevTools Protocol.

Only what the screenshot test needs: open a page, read its text through every shadow root (HA's
frontend is made of web components), click an element by its text, capture a PNG.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from websockets.sync.client import ClientConnection, connect

from .stack import Proc, StackError, wait_for

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1280,1600",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]

# All text of the page, shadow roots included, one text node per line.
DEEP_TEXT_JS = """(() => {
  const out = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.textContent.trim();
      if (text) out.push(text);
      return;
    }
    if (node.nodeName === 'STYLE' || node.nodeName === 'SCRIPT') return;
    if (node.nodeType === Node.ELEMENT_NODE && node.hasAttribute('label')) {
      out.push(node.getAttribute('label'));
    }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  if (document.body) walk(document.body);
  return out.join('\\n');
})()"""

# Where the innermost element whose own text is exactly the given text is (through shadow roots).
FIND_TEXT_JS = """((wanted) => {
  let found = null;
  const walk = (node) => {
    if (found) return;
    if (node.nodeType === Node.ELEMENT_NODE) {
      const own = Array.from(node.childNodes)
        .filter((c) => c.nodeType === Node.TEXT_NODE).map((c) => c.textContent.trim()).join('');
      const box = node.getBoundingClientRect();
      if (own === wanted && box.width > 0 && box.height > 0) { found = box; return; }
    }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  if (document.body) walk(document.body);
  return found && {x: found.x + found.width / 2, y: found.y + found.height / 2};
})"""


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._next_id = 1
        self.failure_shot: Path | None = None  # where wait_text saves the page when it fails

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = self._next_id
        self._next_id += 1
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv(max(0.1, deadline - time.monotonic())))
            if message.get("id") == ident:
                if "error" in message:
                    raise StackError(f"CDP {method} failed: {message['error']}")
                return message.get("result", {})
        raise StackError(f"CDP {method}: no answer")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise StackError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def text(self) -> str:
        return str(self.evaluate(DEEP_TEXT_JS) or "")

    def wait_text(self, *wanted: str, within: float = 30) -> str:
        """Wait until every one of ``wanted`` is on the page; returns the page's text."""
        last = ""

        def has_all() -> bool:
            nonlocal last
            last = self.text()
            return all(w in last for w in wanted)

        try:
            wait_for(has_all, within, f"the page to show {wanted}")
        except StackError as err:
            missing = [w for w in wanted if w not in last]
            if self.failure_shot is not None:
                self.screenshot(self.failure_shot)
            raise StackError(f"{err}\nmissing {missing}; page text:\n{last[:3000]}") from None
        return last

    def click_text(self, text: str) -> None:
        """A real mouse click (pressed and released) on the middle of the text."""
        where = self.evaluate(f"{FIND_TEXT_JS}({json.dumps(text)})")
        if not where:
            raise StackError(f"nothing to click with the text {text!r}\n{self.text()[:2000]}")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                type=kind,
                x=where["x"],
                y=where["y"],
                button="left" if kind != "mouseMoved" else "none",
                clickCount=1 if kind != "mouseMoved" else 0,
            )

    def click_text_until_gone(self, text: str, gone: str, within: float = 30) -> None:
        """Click ``text`` until ``gone`` leaves the page, as a user clicks again when the first
        click landed while a dialog was still opening (its buttons move during the animation)."""

        def clicked_away() -> bool:
            if gone not in self.text():
                return True
            with contextlib.suppress(StackError):  # the button between two frames of the animation
                self.click_text(text)
            time.sleep(1.0)
            return gone not in self.text()

        wait_for(clicked_away, within, f"{gone!r} to go after clicking {text!r}", self.text)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


@contextlib.contextmanager
def chromium(log: Path) -> Iterator[Browser]:
    binary = chromium_binary()
    if binary is None:
        raise StackError("chromium is not installed (scripts/setup installs Debian's chromium)")
    profile = Path(tempfile.mkdtemp(prefix="e2e-chromium-"))
    proc = Proc(
        "chromium", [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"], log
    )
    ws: ClientConnection | None = None
    try:
        proc.start()
        port_file = profile / "DevToolsActivePort"
        wait_for(port_file.exists, 30, "chromium's DevTools port", log.read_text)
        port = port_file.read_text().split("\n")[0].strip()
        targets = wait_for(
            lambda: [
                t
                for t in requests.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
                if t["type"] == "page"
            ],
            20,
            "a page target",
        )
        ws = connect(targets[0]["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=10)
        browser = Browser(ws)
        browser.send("Page.enable")
        yield browser
    finally:
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close()
        proc.stop()
        shutil.rmtree(profile, ignore_errors=True)
