"""What a handler returns: a message and where it goes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Reply:
    """A message; with no `to_user` and no `to_chat` it answers the conversation it came from."""

    text: str
    to_user: str | None = None
    to_chat: str | None = None
    mentions: tuple[str, ...] = ()
    msgtype: Literal["text", "markdown", "news"] = "text"
    # A news card's articles (title, description, url, picurl); `text` is its form for text-only channels.
    articles: tuple[Mapping[str, str], ...] = ()
    # A late answer to an aibot message: sent once through the event's response_url (valid one hour).
    via_response_url: bool = False
    # Work to do as a guide sends this by hand from the sidebar: `{"hook": name, ...}`, a capability's
    # send hook (a quiz starts its clock when its question leaves).
    on_send: Mapping[str, Any] | None = None
    # Tappable choices (id, label) shown under the text where the channel can (微信客服's msgmenu); a tap
    # comes back as a message carrying the id. Channels without menus send the text alone.
    menu: tuple[tuple[str, str], ...] = ()

    @property
    def answers_origin(self) -> bool:
        return self.to_user is None and self.to_chat is None


@dataclass(frozen=True)
class CountedAsActivity:
    """Returned beside its replies by a text handler that recorded the text as its own kind of activity.

    A quiz answer counts on the activity board as an answer; this tells the dispatcher not to count the
    same text a second time as a chat message.
    """


COUNTED_AS_ACTIVITY = CountedAsActivity()
