"""A fake of WeCom's aibot long-connection server on 127.0.0.1, speaking the documented frames.

It accepts `aibot_subscribe` with the right bot id and secret (errcode 0, else 853000 as WeCom answers a wrong
secret), acknowledges every request frame by its req_id, records them, lets a test push `aibot_msg_callback` /
`aibot_event_callback` frames to the subscribed connection, and, like WeCom, sends the older connection a
`disconnected_event` and closes it when a new connection subscribes with the same bot.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

BOT_ID = "aib-fake-bot"
BOT_SECRET = "aib-fake-secret"
WRONG_SECRET = 853000


@dataclass
class FakeAibotServer:
    url: str = ""
    frames: list[dict[str, Any]] = field(default_factory=list)  # every frame clients sent, in order
    subscriptions: int = 0
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # cmd -> scripted ack (errcode …)
    _current: ServerConnection | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: Server | None = None

    # --- what tests use ----------------------------------------------------------------------------------

    def sent(self, cmd: str) -> list[dict[str, Any]]:
        with self._lock:
            return [f for f in self.frames if f.get("cmd") == cmd]

    def wait_for(self, cmd: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.sent(cmd)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no {count} {cmd} frame(s) within {timeout} s; got {self.frames}")

    def wait_subscribed(self, count: int = 1, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.subscriptions >= count and self._current is not None:
                return
            time.sleep(0.02)
        raise AssertionError(f"no {count} subscription(s) within {timeout} s")

    def push(self, cmd: str, body: dict[str, Any]) -> str:
        """Send a callback frame to the subscribed connection; return its req_id."""
        rid = f"cb_{uuid.uuid4().hex[:12]}"
        connection = self._current
        assert connection is not None, "nobody is subscribed"
        connection.send(json.dumps({"cmd": cmd, "headers": {"req_id": rid}, "body": body}, ensure_ascii=False))
        return rid

    def message(self, text: str, *, user: str = "zhangsan", chat: str | None = "wr-internal") -> str:
        body: dict[str, Any] = {
            "msgid": f"m{uuid.uuid4().hex[:10]}",
            "aibotid": BOT_ID,
            "chattype": "group" if chat else "single",
            "from": {"userid": user},
            "msgtype": "text",
            "text": {"content": f"@群助手 {text}"},
        }
        if chat:
            body["chatid"] = chat
        return self.push("aibot_msg_callback", body)

    def event(self, eventtype: str, *, user: str = "zhangsan") -> str:
        body = {
            "msgid": f"e{uuid.uuid4().hex[:10]}",
            "aibotid": BOT_ID,
            "chattype": "single",
            "from": {"userid": user},
            "msgtype": "event",
            "event": {"eventtype": eventtype},
        }
        return self.push("aibot_event_callback", body)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    # --- the server side -------------------------------------------------------------------------------

    def _handler(self, connection: ServerConnection) -> None:
        try:
            first = json.loads(connection.recv(timeout=10))
            self._record(first)
            rid = (first.get("headers") or {}).get("req_id")
            body = first.get("body") or {}
            if first.get("cmd") != "aibot_subscribe" or (body.get("bot_id"), body.get("secret")) != (
                BOT_ID,
                BOT_SECRET,
            ):
                connection.send(
                    json.dumps(
                        {"headers": {"req_id": rid}, "errcode": WRONG_SECRET, "errmsg": "invalid bot_id or secret"}
                    )
                )
                return
            with self._lock:
                old, self._current = self._current, connection
                self.subscriptions += 1
            if old is not None:
                # WeCom keeps one connection per bot: the older one is told and closed.
                try:
                    old.send(
                        json.dumps(
                            {
                                "cmd": "aibot_event_callback",
                                "headers": {"req_id": "dc"},
                                "body": {"msgtype": "event", "event": {"eventtype": "disconnected_event"}},
                            }
                        )
                    )
                    old.close()
                except ConnectionClosed:
                    pass
            connection.send(json.dumps({"headers": {"req_id": rid}, "errcode": 0, "errmsg": "ok"}))
            for raw in connection:
                frame = json.loads(raw)
                self._record(frame)
                ack = self.answers.get(frame.get("cmd", ""), {"errcode": 0, "errmsg": "ok"})
                connection.send(json.dumps({"headers": frame.get("headers") or {}, **ack}))
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            with self._lock:
                if self._current is connection:
                    self._current = None

    def _record(self, frame: dict[str, Any]) -> None:
        with self._lock:
            self.frames.append(frame)


def start_fake_aibot() -> FakeAibotServer:
    """Serve a fresh fake on an ephemeral port; call .stop() when done."""
    fake = FakeAibotServer()
    server = serve(fake._handler, "127.0.0.1", 0)
    fake._server = server
    fake.url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
    threading.Thread(target=server.serve_forever, name="fake-aibot-ws", daemon=True).start()
    return fake
