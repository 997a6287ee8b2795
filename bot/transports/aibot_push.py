"""The aibot pushing into an internal group as itself (aibot_send_msg, markdown) over its long connection.

Only the process holding the long connection can push; a row another process claims waits a few seconds and
comes back for the holder. WeCom lets the bot push only into chats it is in and where it may speak first
(https://developer.work.weixin.qq.com/document/path/101463); an errcode says otherwise and fails the row.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.clock import Clock
from bot.transports.base import Deferred
from bot.wecom import aibot_ws

# A row for the aibot claimed by a process without the connection comes back after this long.
NOT_HERE_WAIT = timedelta(seconds=5)


def aibot_markdown(payload: dict[str, Any]) -> str:
    """Render a payload as the markdown the aibot pushes; @mentions become <@userid>."""
    mentions = "".join(f"<@{user}>" for user in payload.get("mentions") or [])
    content = str(payload.get("content", ""))
    return f"{mentions}\n{content}" if mentions else content


class AibotPushTransport:
    name = "aibot"

    def __init__(self, clock: Clock):
        self._clock = clock

    def send_to(self, chat_id: str, payload: dict[str, Any]) -> None:
        """Push the payload into `chat_id` through this process's long connection, or defer to its holder."""
        connection = aibot_ws.current()
        if connection is None:
            raise Deferred(
                self._clock.now() + NOT_HERE_WAIT, "the aibot long connection is held by another process (or none)"
            )
        connection.push_markdown(chat_id, aibot_markdown(payload))
