"""The browser kit: Debian's headless Chromium through its chromedriver, and the app served on 127.0.0.1.

Pages load a stub of WeCom's JS-SDK (`ww`) instead of the shipped file: it answers getContext,
getCurExternalChat and getCurExternalContact from what the test sets, and records every sendChatMessage
in sessionStorage, so a test reads what the guide "sent" even across page loads.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MISSING = (
    "browser tests need Debian's packages chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
)
# WeCom's chat toolbar is a narrow column.
TOOLBAR_SIZE = (360, 780)

STUB = """
(function () {
  var state = JSON.parse(sessionStorage.getItem("ww") || '{"sent": [], "signatures": []}');
  function save() { sessionStorage.setItem("ww", JSON.stringify(state)); }
  window.wwStub = state;
  window.ww = {
    register: function (options) {
      state.corpId = options.corpId; save();
      options.getAgentConfigSignature(location.href).then(function (s) { state.signatures.push(s); save(); });
    },
    getContext: function () { return Promise.resolve({ entry: CONTEXT.entry }); },
    getCurExternalChat: function () { return Promise.resolve({ chatId: CONTEXT.chatId }); },
    getCurExternalContact: function () { return Promise.resolve({ userId: CONTEXT.userId }); },
    sendChatMessage: function (message) {
      if (CONTEXT.refuse) { return Promise.reject({ errMsg: "sendChatMessage:cancel" }); }
      state.sent.push(message); save();
      return Promise.resolve({ errMsg: "sendChatMessage:ok" });
    }
  };
})();
"""


@dataclass
class WwContext:
    """What the stub SDK answers; tests change it between page loads."""

    entry: str = "group_chat_tools"
    chatId: str = ""  # noqa: N815 - the SDK's own field names
    userId: str = ""  # noqa: N815
    refuse: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def install_stub(app: Flask, context: WwContext) -> None:
    """Serve the stub SDK at /test/ww-stub.js and make the pages load it instead of the shipped file."""

    def stub() -> tuple[str, int, dict[str, str]]:
        values = {"entry": context.entry, "chatId": context.chatId, "userId": context.userId, "refuse": context.refuse}
        return f"var CONTEXT = {json.dumps(values)};\n{STUB}", 200, {"Content-Type": "text/javascript"}

    app.add_url_rule("/test/ww-stub.js", "ww_stub", stub)
    app.config["GROUPBOT_JSSDK_URL"] = "/test/ww-stub.js"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session, in a toolbar-sized window; skipped without the packages."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(MISSING)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("browser tests need selenium (pip install -e '.[dev]')")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={TOOLBAR_SIZE[0]},{TOOLBAR_SIZE[1]}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    # Headless windows are at least 500 px wide; the toolbar's width is emulated instead.
    width, height = TOOLBAR_SIZE
    metrics = {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        yield driver
    finally:
        driver.quit()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The app served by waitress on an ephemeral port of 127.0.0.1, in a thread."""

    def __init__(self, app: Flask, port: int):
        import waitress

        self._server = waitress.create_server(app, host="127.0.0.1", port=port, threads=8)
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self._server.run, name="live-server", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.close()
        self._thread.join(5)
