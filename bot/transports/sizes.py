"""WeCom's byte limits per channel, and the one way to fit a message into them: split on lines, or cut visibly.

WeCom counts UTF-8 bytes, not characters: a Chinese character is three bytes, so 2048 bytes hold about 680
of them. Some channels refuse a longer message (webhook errcode 40058), others cut it silently (message/send),
so every transport fits the content before it posts. Use `fit(content, limit, marker=…)`:

- `split_parts(text, limit)` splits on line boundaries into parts of at most `limit` bytes, in order; a single
  line longer than the limit is broken at a character boundary. Channels that can send several messages use it
  (webhook, app message, appchat, kf, aibot push).
- `cut(text, limit, marker)` keeps the first lines that fit and ends with the visible marker ("…（未完）" in
  bot/texts.yaml): for channels where one message is all there is (an aibot response_url, a customer task, whose
  monthly cap a second part would spend).
"""

from __future__ import annotations

from typing import Final

# Webhook (群机器人) text 2048 bytes, markdown 4096 bytes:
# https://developer.work.weixin.qq.com/document/path/91770 (消息类型及数据格式).
WEBHOOK_TEXT: Final = 2048
WEBHOOK_MARKDOWN: Final = 4096
# message/send text and markdown "最长不超过2048个字节，超过将截断" (cut silently):
# https://developer.work.weixin.qq.com/document/path/90236
APP_MESSAGE_TEXT: Final = 2048
APP_MESSAGE_MARKDOWN: Final = 2048
# appchat/send text and markdown, 2048 bytes: https://developer.work.weixin.qq.com/document/path/90248
APPCHAT_TEXT: Final = 2048
APPCHAT_MARKDOWN: Final = 2048
# kf/send_msg text, 2048 bytes: https://developer.work.weixin.qq.com/document/path/94677
KF_TEXT: Final = 2048
# aibot stream content and markdown, 20480 bytes (被动回复消息格式 / 主动推送消息):
# https://developer.work.weixin.qq.com/document/path/100719 and path/101463
AIBOT_STREAM: Final = 20480
AIBOT_MARKDOWN: Final = 20480
# add_msg_template text "最多4000个字节": https://developer.work.weixin.qq.com/document/path/92135
CUSTOMER_TASK_TEXT: Final = 4000

# (transport, msgtype) -> byte limit; a transport not listed here has no limit worth fitting (the console).
LIMITS: Final[dict[tuple[str, str], int]] = {
    ("webhook", "text"): WEBHOOK_TEXT,
    ("webhook", "markdown"): WEBHOOK_MARKDOWN,
    ("app_message", "text"): APP_MESSAGE_TEXT,
    ("app_message", "markdown"): APP_MESSAGE_MARKDOWN,
    ("appchat", "text"): APPCHAT_TEXT,
    ("appchat", "markdown"): APPCHAT_MARKDOWN,
    ("kf", "text"): KF_TEXT,
    ("aibot", "markdown"): AIBOT_MARKDOWN,
    ("aibot", "text"): AIBOT_MARKDOWN,  # the aibot pushes text as markdown
    ("aibot_response", "markdown"): AIBOT_STREAM,
    ("aibot_response", "text"): AIBOT_STREAM,
    ("customer_task", "text"): CUSTOMER_TASK_TEXT,
}


def size(text: str) -> int:
    """Return the UTF-8 byte length WeCom counts."""
    return len(text.encode("utf-8"))


def limit_for(transport: str, msgtype: str) -> int | None:
    """Return the byte limit of `msgtype` content on `transport`, or None when it has none."""
    return LIMITS.get((transport, msgtype))


def _head(text: str, limit: int) -> str:
    """Return the longest prefix of `text` within `limit` bytes, ending on a whole character."""
    data = text.encode("utf-8")[:limit]
    return data.decode("utf-8", "ignore")


def split_parts(text: str, limit: int, *, reserve: int = 0) -> list[str]:
    """Split `text` into parts of at most `limit` bytes each, on line boundaries, keeping every character in order.

    `reserve` bytes are kept free in the first part (for @mentions a transport adds in front). An empty text
    is one empty part. A line longer than the limit is broken at a character boundary.
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    if size(text) + reserve <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    room = limit - reserve
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if size(candidate) <= room:
            current = candidate
            continue
        if current:
            parts.append(current)
            room = limit
        while size(line) > room:
            head = _head(line, room)
            parts.append(head)
            line = line[len(head) :]
            room = limit
        current = line
    if current or not parts:
        parts.append(current)
    return parts


def cut(text: str, limit: int, marker: str) -> str:
    """Return `text` if it fits in `limit` bytes, else its first whole lines that fit with `marker` after them."""
    if size(text) <= limit:
        return text
    room = limit - size(marker)
    if room <= 0:
        return _head(marker, limit)
    kept = ""
    for line in text.split("\n"):
        candidate = f"{kept}\n{line}" if kept else line
        if size(candidate) > room:
            break
        kept = candidate
    if not kept:
        kept = _head(text, room)
    return kept + marker


def fit(text: str, limit: int | None, *, marker: str | None = None, reserve: int = 0) -> list[str]:
    """Fit `text` into `limit`: split into parts, or, with a `marker`, cut to one part. No limit: one part."""
    if limit is None:
        return [text]
    if marker is not None:
        return [cut(text, limit - reserve, marker)]
    return split_parts(text, limit, reserve=reserve)
