"""Group robot webhooks (群机器人): text, markdown and news into internal groups, with @mentions."""

from __future__ import annotations

from typing import Any

from bot.transports.base import DeliveryError
from bot.wecom.api import WecomApi


def webhook_body(payload: dict[str, Any]) -> dict[str, Any]:
    """Build the webhook/send body WeCom documents for the payload's msgtype."""
    msgtype = payload.get("msgtype", "text")
    mentions = list(payload.get("mentions") or [])
    content = str(payload.get("content", ""))
    if msgtype == "text":
        text: dict[str, Any] = {"content": content}
        if mentions:
            text["mentioned_list"] = mentions
        return {"msgtype": "text", "text": text}
    if msgtype == "markdown":
        # Markdown has no mentioned_list; WeCom renders <@userid> inside the content as a mention.
        prefix = "".join(f"<@{user}>" for user in mentions)
        return {"msgtype": "markdown", "markdown": {"content": f"{prefix}\n{content}" if prefix else content}}
    if msgtype == "news":
        return {"msgtype": "news", "news": {"articles": list(payload.get("articles") or [])}}
    raise DeliveryError(f"the group robot cannot send msgtype {msgtype!r}", transient=False, refused=True)


class WebhookTransport:
    name = "webhook"

    def __init__(self, api: WecomApi):
        self._api = api

    def send_to(self, key: str, payload: dict[str, Any]) -> None:
        """Post the payload to the robot with webhook key `key`."""
        self._api.post_url(f"{self._api.api_base}/cgi-bin/webhook/send", webhook_body(payload), params={"key": key})
