"""The aibot long connection (智能机器人长连接): WeCom's WebSocket protocol, frames in and out, nothing more.

Documented at https://developer.work.weixin.qq.com/document/path/101463: connect to
wss://openws.work.weixin.qq.com, subscribe with `aibot_subscribe` (bot_id, secret), keep it alive with `ping`
(every 30 s), receive `aibot_msg_callback` and `aibot_event_callback` frames, answer a message with
`aibot_respond_msg` (stream frames) or an enter_chat event with `aibot_respond_welcome_msg`, and push with
`aibot_send_msg` (markdown). Every frame carries headers.req_id; WeCom acknowledges a request with a frame of
the same req_id and an errcode. When another connection subscribes with the same bot, WeCom sends this one an
`aibot_event_callback` whose event is `disconnected_event` and closes it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from bot.transports.base import DeliveryError
from bot.wecom.api import explain

log = logging.getLogger(__name__)

DEFAULT_URL = "wss://openws.work.weixin.qq.com"
SUBSCRIBE = "aibot_subscribe"
PING = "ping"
MSG_CALLBACK = "aibot_msg_callback"
EVENT_CALLBACK = "aibot_event_callback"
RESPOND = "aibot_respond_msg"
RESPOND_WELCOME = "aibot_respond_welcome_msg"
SEND = "aibot_send_msg"
DISCONNECTED = "disconnected_event"
# The chat_type aibot_send_msg takes: 1 a single chat (userid), 2 a group chat (chatid).
CHAT_SINGLE, CHAT_GROUP = 1, 2
# WeCom's own SDKs send ping every 30 s.
HEARTBEAT_SECONDS = 30.0

# How a connection ended, for the holder to decide what comes next.
STOPPED = "stopped"  # asked to stop
REPLACED = "replaced"  # WeCom's disconnected_event: another connection subscribed with this bot
LOST_LEASE = "lost_lease"  # this process no longer holds the database lease
CLOSED = "closed"  # the network or WeCom closed it: reconnect with backoff
REFUSED = "refused"  # WeCom refused the credentials


class SubscribeRefused(Exception):
    """WeCom refused the bot id or secret: retrying cannot help until the config changes."""


def req_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


FrameHandler = Callable[["AibotConnection", dict[str, Any]], None]


class AibotConnection:
    """One subscribed connection at a time; `run` holds it until it ends, `request` sends frames from any thread."""

    def __init__(
        self,
        *,
        bot_id: str,
        secret: str,
        url: str = DEFAULT_URL,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        timeout: float = 10.0,
        workers: int = 4,
    ):
        self.bot_id = bot_id
        self._secret = secret
        self.url = url
        self.heartbeat = heartbeat_seconds
        self.timeout = timeout
        self._ws: ClientConnection | None = None
        self._pending: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aibot-frame")
        self.connected = threading.Event()

    # --- sending -----------------------------------------------------------------------------------------

    def request(self, cmd: str, body: dict[str, Any] | None, *, rid: str | None = None, wait: bool = True) -> dict:
        """Send a frame and, with `wait`, return WeCom's acknowledgement; raise DeliveryError on an errcode."""
        ws = self._ws
        if ws is None or not self.connected.is_set():
            raise DeliveryError("the aibot long connection is not open here", transient=True, refused=True)
        rid = rid or req_id(cmd)
        frame: dict[str, Any] = {"cmd": cmd, "headers": {"req_id": rid}}
        if body is not None:
            frame["body"] = body
        waiter: tuple[threading.Event, list[dict[str, Any]]] = (threading.Event(), [])
        if wait:
            with self._lock:
                self._pending[rid] = waiter
        try:
            ws.send(json.dumps(frame, ensure_ascii=False))
        except (ConnectionClosed, OSError) as exc:
            self._pending.pop(rid, None)
            raise DeliveryError(f"the aibot long connection dropped: {exc}", transient=True, refused=True) from exc
        if not wait:
            return {}
        if not waiter[0].wait(self.timeout):
            self._pending.pop(rid, None)
            # Sent but not acknowledged: WeCom may have taken it, so the unit stays spent.
            raise DeliveryError(f"WeCom did not acknowledge {cmd} within {self.timeout:g} s", transient=True)
        answer = waiter[1][0]
        errcode = int(answer.get("errcode") or 0)
        if errcode:
            # The same meanings (hints, permanence) as the HTTP API's errcodes.
            raise explain(errcode, f"{cmd}: {answer.get('errmsg', '')}")
        return answer

    def push_markdown(self, chat_id: str, content: str, *, group: bool = True) -> None:
        """Push a markdown message into a chat as the bot (aibot_send_msg)."""
        body = {
            "chatid": chat_id,
            "chat_type": CHAT_GROUP if group else CHAT_SINGLE,
            "msgtype": "markdown",
            "markdown": {"content": content},
        }
        self.request(SEND, body)

    # --- the connection ------------------------------------------------------------------------------------

    def run(self, stop: threading.Event, on_frame: FrameHandler, tick: Callable[[], bool] = lambda: True) -> str:
        """Connect, subscribe and serve frames until stopped, replaced, the lease is lost, or the socket closes.

        `tick` runs with each heartbeat; returning False (the lease is gone) ends the connection.
        Raises SubscribeRefused when WeCom refuses the credentials, OSError on network trouble.
        """
        with connect(self.url, open_timeout=self.timeout, close_timeout=2, ping_interval=None, max_size=2**22) as ws:
            self._ws = ws
            try:
                return self._serve(ws, stop, on_frame, tick)
            finally:
                self.connected.clear()
                self._ws = None
                with self._lock:
                    for event, _ in self._pending.values():
                        event.set()
                    self._pending.clear()

    def _serve(
        self, ws: ClientConnection, stop: threading.Event, on_frame: FrameHandler, tick: Callable[[], bool]
    ) -> str:
        rid = req_id(SUBSCRIBE)
        ws.send(
            json.dumps(
                {"cmd": SUBSCRIBE, "headers": {"req_id": rid}, "body": {"bot_id": self.bot_id, "secret": self._secret}}
            )
        )
        answer = json.loads(ws.recv(timeout=self.timeout))
        if int(answer.get("errcode") or 0) != 0:
            raise SubscribeRefused(f"errcode {answer.get('errcode')}: {answer.get('errmsg', '')}")
        self.connected.set()
        log.info("aibot long connection subscribed as bot %s", self.bot_id)
        next_beat = time.monotonic() + self.heartbeat
        last_heard = time.monotonic()
        while not stop.is_set():
            wait = max(0.05, min(next_beat - time.monotonic(), 1.0))
            try:
                raw = ws.recv(timeout=wait)
            except TimeoutError:
                raw = None
            except ConnectionClosed:
                return STOPPED if stop.is_set() else CLOSED
            now = time.monotonic()
            if raw is not None:
                last_heard = now
                frame = json.loads(raw)
                outcome = self._on_raw(frame, on_frame)
                if outcome is not None:
                    return outcome
            if now >= next_beat:
                if not tick():
                    return LOST_LEASE
                if now - last_heard > 3 * self.heartbeat:
                    log.warning("aibot long connection silent for %.0f s; reconnecting", now - last_heard)
                    return CLOSED
                ws.send(json.dumps({"cmd": PING, "headers": {"req_id": req_id(PING)}}))
                next_beat = now + self.heartbeat
        return STOPPED

    def _on_raw(self, frame: dict[str, Any], on_frame: FrameHandler) -> str | None:
        cmd = frame.get("cmd") or ""
        rid = str((frame.get("headers") or {}).get("req_id") or "")
        if cmd in (MSG_CALLBACK, EVENT_CALLBACK):
            event = ((frame.get("body") or {}).get("event") or {}).get("eventtype")
            if cmd == EVENT_CALLBACK and event == DISCONNECTED:
                log.warning("WeCom says another connection took over aibot %s (disconnected_event)", self.bot_id)
                return REPLACED
            self._pool.submit(self._handle, on_frame, frame)
            return None
        with self._lock:
            waiter = self._pending.pop(rid, None)
        if waiter is not None:
            waiter[1].append(frame)
            waiter[0].set()
        return None

    def _handle(self, on_frame: FrameHandler, frame: dict[str, Any]) -> None:
        try:
            on_frame(self, frame)
        except Exception:
            log.exception("handling an aibot long-connection frame failed")


# The connection this process holds, for the aibot push transport (None when another process holds it).
_current: AibotConnection | None = None


def set_current(connection: AibotConnection | None) -> None:
    global _current
    _current = connection


def current() -> AibotConnection | None:
    """Return this process's open aibot connection, or None when it holds none."""
    connection = _current
    return connection if connection is not None and connection.connected.is_set() else None
