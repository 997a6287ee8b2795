"""App messages (message/send) to staff, such as guides and admins, 1:1."""

from __future__ import annotations

from typing import Any

from bot.transports.base import DeliveryError
from bot.wecom.api import HINTS, WecomApi


def app_message_body(user_id: str, agent_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Build the message/send body for one recipient."""
    msgtype = payload.get("msgtype", "text")
    content = str(payload.get("content", ""))
    agent = int(agent_id) if agent_id.isdigit() else agent_id
    if msgtype == "text":
        return {"touser": user_id, "msgtype": "text", "agentid": agent, "text": {"content": content}, "safe": 0}
    if msgtype == "markdown":
        return {"touser": user_id, "msgtype": "markdown", "agentid": agent, "markdown": {"content": content}}
    if msgtype == "news":
        articles = list(payload.get("articles") or [])
        return {"touser": user_id, "msgtype": "news", "agentid": agent, "news": {"articles": articles}}
    raise DeliveryError(f"an app message cannot be msgtype {msgtype!r}", transient=False, refused=True)


class AppMessageTransport:
    name = "app_message"

    def __init__(self, api: WecomApi):
        self._api = api

    def send_to(self, user_id: str, payload: dict[str, Any]) -> None:
        """Send the payload to staff member `user_id` from the app."""
        if not self._api.agent_id:
            raise DeliveryError("wecom.agent_id is empty: set it to the app's AgentId", transient=False, refused=True)
        result = self._api.call("message/send", app_message_body(user_id, self._api.agent_id, payload))
        # WeCom answers errcode 0 even when it dropped the recipient; the invalid lists say so.
        if result.get("invaliduser"):
            raise DeliveryError(f"invaliduser {result['invaliduser']}: {HINTS[60011]}", transient=False)
