"""What a handler returns: a message and where it goes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Reply:
    """A message; with no `to_user` and no `to_chat` it answers the conversation it came from."""

    text: str
    to_user: str | None = None
    to_chat: str | None = None
    mentions: tuple[str, ...] = ()
    msgtype: Literal["text", "markdown"] = "text"
    # A late answer to an aibot message: sent once through the event's response_url (valid one hour).
    via_response_url: bool = False

    @property
    def answers_origin(self) -> bool:
        return self.to_user is None and self.to_chat is None
