"""Chat text as the bot reads it: one folding for width and case, words, and @mentions."""

from __future__ import annotations

import re
import unicodedata

# WeCom puts U+2005 (four-per-em space) after an @mention; users also type full-width spaces.
SPACES = "\u0020\u00a0\u2005\u3000\t\r\n"
_MENTION = re.compile(rf"@[^{SPACES}@]+")


def fold(text: str) -> str:
    """Fold width and case, so 'ＨＥＬＰ', 'Help' and 'help' (or 'Ｂ' and 'b') compare equal."""
    return unicodedata.normalize("NFKC", text).strip(SPACES).casefold()


def split_words(text: str) -> list[str]:
    """Split on every kind of space WeCom produces."""
    return re.split(rf"[{SPACES}]+", text.strip(SPACES)) if text.strip(SPACES) else []


def strip_leading_mentions(text: str) -> str:
    """Drop the @mentions that address the bot at the start of a line."""
    rest = text.lstrip(SPACES)
    while rest.startswith("@"):
        match = _MENTION.match(rest)
        if not match:
            break
        rest = rest[match.end() :].lstrip(SPACES)
    return rest


def mentions_in(text: str) -> tuple[str, ...]:
    """Return the names @mentioned in `text`, in order."""
    return tuple(m.group(0)[1:] for m in _MENTION.finditer(text))
