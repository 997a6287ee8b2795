"""The one shape every inbound channel is turned into; nothing downstream knows the channel."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# "web": a guide's action on a web page (the sidebar), dispatched like a command they typed;
# "kf": a WeChat customer's message pulled from 微信客服.
Source = Literal["app", "aibot", "console", "web", "kf"]


@dataclass(frozen=True)
class Event:
    kind: Literal["text", "event", "other"]
    source: Source
    user_id: str | None
    chat_id: str | None
    at: datetime
    text: str = ""
    mentions: tuple[str, ...] = ()
    msg_id: str | None = None
    name: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    response_url: str | None = None

    @property
    def dedup_key(self) -> str:
        """Return the key a retried delivery of this event shares with the first one."""
        if self.msg_id:
            return f"{self.source}:msg:{self.msg_id}"
        # Events carry no MsgId; WeCom resends the same fields, so their fingerprint is the key.
        canonical = json.dumps(self.data, sort_keys=True, ensure_ascii=False, default=str)
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        return f"{self.source}:evt:{self.name or self.kind}:{digest}"
