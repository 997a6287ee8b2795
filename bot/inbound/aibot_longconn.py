"""The aibot long connection as an inbound adapter: one process holds it (a database lease), frames become Events.

`aibot.mode: websocket`. The holder subscribes with the bot's id and secret, heartbeats, turns message and
event frames into Events through the same dispatcher as the HTTP callback, and answers with stream frames
(a welcome frame for enter_chat). WeCom's disconnected_event means another connection subscribed with this
bot: the holder gives the lease back and waits `aibot.replaced_wait_seconds` instead of taking the bot back at
once (two deployments would otherwise kick each other in a loop). Network errors back off up to a minute.
While it holds the connection, this process's aibot push transport can push into the bot's chats.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from typing import Any, Protocol

from websockets.exceptions import WebSocketException

from bot.inbound.aibot_callback import ENTER_CHAT, answer_body, event_from_aibot
from bot.inbound.messages import InvalidMessage, aibot_message
from bot.services import Services
from bot.wecom import aibot_ws
from bot.wecom.aibot_ws import AibotConnection, SubscribeRefused

log = logging.getLogger(__name__)

LEASE_NAME = "aibot_ws"
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
# Wrong credentials are not fixed by retrying quickly; the config may be reloaded meanwhile.
REFUSED_WAIT = 300.0


class Lease(Protocol):
    holder: str

    def ensure(self) -> bool: ...

    def release(self) -> None: ...


class AibotLongConnection:
    """Keeps WeCom's long connection while this process holds the lease; stands by otherwise."""

    def __init__(self, services: Services, lease: Lease, *, rng: random.Random | None = None):
        self._services = services
        self._lease = lease
        self._stop = threading.Event()
        self._rng = rng or random.Random()
        self._thread = threading.Thread(target=self._run, name="aibot-long-connection", daemon=True)
        self.connection: AibotConnection | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, seconds: float) -> None:
        """Block up to `seconds`, or until stopped."""
        self._stop.wait(seconds)

    def _run(self) -> None:
        backoff = BACKOFF_FIRST
        try:
            while not self._stop.is_set():
                settings = self._services.config().aibot
                standby = min(settings.lease_seconds / 3, 5.0)
                if not self._lease.ensure():
                    self._stop.wait(standby)
                    continue
                connection = AibotConnection(
                    bot_id=settings.bot_id,
                    secret=settings.secret,
                    url=settings.ws_url,
                    # The heartbeat also renews the lease, so it beats well inside the lease.
                    heartbeat_seconds=min(settings.heartbeat_seconds, settings.lease_seconds / 3),
                )
                self.connection = connection
                aibot_ws.set_current(connection)
                delay = 0.0
                try:
                    outcome = connection.run(self._stop, self._on_frame, tick=self._lease.ensure)
                except SubscribeRefused as exc:
                    log.error(
                        "WeCom refused aibot.bot_id / aibot.secret (%s); trying again in %.0f s", exc, REFUSED_WAIT
                    )
                    outcome, delay = aibot_ws.REFUSED, REFUSED_WAIT
                except (OSError, WebSocketException, TimeoutError, ValueError) as exc:
                    outcome = aibot_ws.CLOSED
                    log.warning("aibot long connection failed (%s)", exc)
                finally:
                    aibot_ws.set_current(None)
                    self.connection = None
                if outcome in (aibot_ws.REPLACED, aibot_ws.REFUSED):
                    # Give the lease back: a standby may hold better luck (new credentials after a reload).
                    self._lease.release()
                if outcome == aibot_ws.REPLACED:
                    delay = settings.replaced_wait_seconds
                    log.warning("another connection took over aibot %s; standing by for %.0f s", settings.bot_id, delay)
                elif outcome == aibot_ws.CLOSED:
                    delay = backoff / 2 + self._rng.random() * backoff / 2
                    log.info("aibot long connection closed; reconnecting in %.1f s", delay)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                elif outcome != aibot_ws.REFUSED:
                    backoff = BACKOFF_FIRST
                if delay:
                    self._stop.wait(delay)
        finally:
            self._lease.release()

    def _on_frame(self, connection: AibotConnection, frame: dict[str, Any]) -> None:
        """Turn one callback frame into an Event, dispatch it, and answer on the connection."""
        rid = str((frame.get("headers") or {}).get("req_id") or "")
        body = frame.get("body")
        if not isinstance(body, dict):
            log.warning("aibot frame without a body ignored")
            return
        try:
            message, raw = aibot_message(json.dumps(body, ensure_ascii=False))
        except InvalidMessage as exc:
            log.warning("aibot frame %r ignored: %s", exc.msg_id, exc.reason)
            return
        if message.msgtype == "stream":
            return  # refreshes belong to the HTTP callback; long-connection answers are sent finished
        svc = self._services
        event = event_from_aibot(message, raw, svc.clock.now())
        outcome = svc.dispatcher.handle(event)
        if not outcome.passive:
            return
        marker = svc.config().texts.render("outbound_cut_marker")
        answer = answer_body(svc.session_factory, event, outcome.passive_text, svc.clock.now(), marker)
        command = aibot_ws.RESPOND_WELCOME if event.kind == "event" and event.name == ENTER_CHAT else aibot_ws.RESPOND
        try:
            connection.request(command, answer, rid=rid)
        except Exception as exc:  # the answer is lost, the event is recorded; nothing else to undo
            log.warning("could not answer aibot frame %s: %s", rid, exc)
