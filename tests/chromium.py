"""Open a page in real headless Chromium and ask it questions over the DevTools protocol.

Tests use it to check what a person would see: how many pair rows the page has, that every
thumbnail decoded to a picture with a real size, that nothing overflows a phone's width, and a
screenshot that is not blank.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",  # tests run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the machine has no network: no phoning home
    "--disable-component-update",
    "--disable-sync",
    "--remote-allow-origins=*",
    "--remote-debugging-port=0",
]


def find_chromium() -> str:
    """The browser, or a skip (a hard failure where DUPGATE_REQUIRE_CHROMIUM is set, as in CI)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("DUPGATE_REQUIRE_CHROMIUM"):
        pytest.fail("chromium not found, and DUPGATE_REQUIRE_CHROMIUM is set (.ci/run installs it)")
    pytest.skip("chromium not installed (Debian: apt-get install chromium)")


class Browser:
    """One headless Chromium with one page, driven by DevTools commands."""

    def __init__(self) -> None:
        import websocket  # test-only dependency

        self._profile = tempfile.mkdtemp(prefix="dupgate-chromium-")
        self._proc = subprocess.Popen(
            [find_chromium(), *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port = self._port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            pages = [t for t in json.load(resp) if t["type"] == "page"]
        self._ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30)
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.send("Page.enable")
        self.send("Runtime.enable")

    def _port(self) -> int:
        active = Path(self._profile, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if active.exists() and active.read_text().strip():
                return int(active.read_text().split()[0])
            if self._proc.poll() is not None:
                raise AssertionError(f"chromium exited with {self._proc.returncode}")
            time.sleep(0.05)
        raise AssertionError("chromium did not open its DevTools port within 30 s")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self._ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._events.append(message)

    def open(self, path: Path, width: int = 1280, height: int = 900, mobile: bool = False) -> None:
        """Load the file at a viewport size and wait for its load event."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )
        self._events.clear()
        self.send("Page.navigate", url=path.resolve().as_uri())
        deadline = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: no load event within 30 s")
            self._events.append(json.loads(self._ws.recv()))

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        """The whole page as PNG bytes."""
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        return base64.b64decode(data)

    def console_and_errors(self) -> list[dict[str, Any]]:
        return [
            e
            for e in self._events
            if e.get("method") in ("Runtime.consoleAPICalled", "Runtime.exceptionThrown")
        ]

    def close(self) -> None:
        try:
            self._ws.close()
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
