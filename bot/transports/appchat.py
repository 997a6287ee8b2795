"""Group chats the app created (appchat/send): internal groups, no robot needed."""

from __future__ import annotations

from typing import Any

from bot.transports.base import DeliveryError
from bot.wecom.api import WecomApi


def appchat_body(chat_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Build the appchat/send body; appchat has no @mentions, so they are not sent."""
    msgtype = payload.get("msgtype", "text")
    content = str(payload.get("content", ""))
    if msgtype == "text":
        return {"chatid": chat_id, "msgtype": "text", "text": {"content": content}, "safe": 0}
    if msgtype == "markdown":
        return {"chatid": chat_id, "msgtype": "markdown", "markdown": {"content": content}}
    if msgtype == "news":
        return {
            "chatid": chat_id,
            "msgtype": "news",
            "news": {"articles": list(payload.get("articles") or [])},
            "safe": 0,
        }
    raise DeliveryError(f"appchat cannot send msgtype {msgtype!r}", transient=False, refused=True)


class AppchatTransport:
    name = "appchat"

    def __init__(self, api: WecomApi):
        self._api = api

    def send_to(self, chat_id: str, payload: dict[str, Any]) -> None:
        """Send the payload into the app-created group `chat_id`."""
        self._api.call("appchat/send", appchat_body(chat_id, payload))
