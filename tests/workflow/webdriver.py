"""Just enough of the W3C WebDriver protocol to drive Debian's headless Chromium.

Talks HTTP to ``chromedriver`` (package chromium-driver); no browser download, no
Selenium Manager.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Headless, and quiet on a machine whose only network is loopback.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def available() -> bool:
    return shutil.which(CHROMIUM) is not None and shutil.which(CHROMEDRIVER) is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    def __init__(self) -> None:
        self.port = _free_port()
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self.driver = subprocess.Popen(
            [CHROMEDRIVER, f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                self._call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        capabilities = {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": [*CHROMIUM_ARGS, f"--user-data-dir={self.profile}"]},
        }
        created = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self.session = created["sessionId"]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read()).get("value")

    def _session(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    def get(self, url: str) -> None:
        self._session("POST", "/url", {"url": url})

    def text_of(self, css: str) -> str:
        element = self._session("POST", "/element", {"using": "css selector", "value": css})
        return str(self._session("GET", f"/element/{next(iter(element.values()))}/text"))

    def type_into(self, css: str, text: str) -> None:
        element = self._session("POST", "/element", {"using": "css selector", "value": css})
        self._session("POST", f"/element/{next(iter(element.values()))}/value", {"text": text})

    def click(self, css: str) -> None:
        element = self._session("POST", "/element", {"using": "css selector", "value": css})
        self._session("POST", f"/element/{next(iter(element.values()))}/click", {})

    def title(self) -> str:
        return str(self._session("GET", "/title"))

    def wait_for_title(self, expected: str, timeout: float = 30.0) -> str:
        """The page's title once it is ``expected``, or the last title seen after ``timeout``.

        A click that submits a form returns before the next page has loaded, so the title
        read at once may still be the form's.
        """
        deadline = time.monotonic() + timeout
        while True:
            title = self.title()
            if title == expected or time.monotonic() > deadline:
                return title
            time.sleep(0.1)

    def screenshot_png(self) -> bytes:
        import base64

        return base64.b64decode(self._session("GET", "/screenshot"))

    def close(self) -> None:
        try:
            self._call("DELETE", f"/session/{self.session}")
        finally:
            self.driver.terminate()
            self.driver.wait(timeout=10)
            shutil.rmtree(self.profile, ignore_errors=True)
