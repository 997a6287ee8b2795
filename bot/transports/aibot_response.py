"""Late answers to an aibot message through its one-shot response_url (valid one hour)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.outbox import RESPONSE_URL_LIFETIME_SECONDS  # noqa: F401  (re-exported for the transport)
from bot.transports.base import DeliveryError
from bot.wecom.api import WecomApi


def aibot_body(payload: dict[str, Any]) -> dict[str, Any]:
    """Build the response_url body; markdown renders plain text unchanged."""
    mentions = "".join(f"<@{user}>" for user in payload.get("mentions") or [])
    content = str(payload.get("content", ""))
    return {"msgtype": "markdown", "markdown": {"content": f"{mentions}\n{content}" if mentions else content}}


class AibotResponseTransport:
    name = "aibot_response"

    def __init__(self, api: WecomApi):
        self._api = api

    def send_at(self, payload: dict[str, Any], now: datetime) -> None:
        """Post the answer once to the payload's response_url, unless its hour is over."""
        url = payload.get("response_url")
        if not url:
            raise DeliveryError("the row has no response_url", transient=False)
        expires = payload.get("expires_at")
        if expires and datetime.fromisoformat(expires) <= now:
            raise DeliveryError(
                "the aibot response_url expired (it works once, within an hour of the member's message); "
                "answer in the group instead",
                transient=False,
            )
        try:
            self._api.post_url(url, aibot_body(payload))
        except DeliveryError as exc:
            if exc.transient:
                raise
            # The URL is one-shot: whatever WeCom refused cannot be sent through it again.
            raise DeliveryError(
                f"{exc} (the aibot response_url is spent or invalid)", transient=False, refused=exc.refused
            ) from exc
