"""Chat text as the bot reads it: one folding for width and case, words, @mentions, and storable characters."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# WeCom puts U+2005 (four-per-em space) after an @mention; users also type full-width spaces.
SPACES = "\u0020\u00a0\u2005\u3000\t\r\n"
_MENTION = re.compile(rf"@[^{SPACES}@]+")


FULL_WIDTH_DIGITS = {chr(0xFF10 + n): str(n) for n in range(10)}


def _is_other_digit(char: str) -> bool:
    """Tell a digit-like character that is neither ASCII nor full-width (², ①, 𝟏, ٣)."""
    return char not in FULL_WIDTH_DIGITS and not char.isascii() and unicodedata.digit(char, None) is not None


def fold_width(text: str) -> str:
    """Fold full-width letters, digits and signs to what a half-width keyboard types (「Ａ０１：」 → 「A01:」).

    Digit-like characters other than ASCII and full-width ones stay as written, so they never
    pass for numbers in `whole_number` or in a `[0-9]` pattern.
    """
    if not any(_is_other_digit(char) for char in text):
        return unicodedata.normalize("NFKC", text)
    return "".join(char if _is_other_digit(char) else unicodedata.normalize("NFKC", char) for char in text)


def fold(text: str) -> str:
    """Fold width and case, so 'ＨＥＬＰ', 'Help' and 'help' (or 'Ｂ' and 'b') compare equal."""
    return fold_width(text).strip(SPACES).casefold()


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


# The one rule for characters some store refuses: PostgreSQL text, SQLite via UTF-8, xlsx cells.
# PostgreSQL refuses NUL in text; no UTF-8 codec writes a lone surrogate (JSON's "\ud800" decodes to
# one); XML 1.0, and so openpyxl, refuse the other C0 control characters. SQLite takes all of them,
# so without a rule the two backends would answer the same input differently. The rule: those
# characters are removed; tab, line feed and carriage return stay.
# C0 controls except \t \n \r (the set openpyxl's ILLEGAL_CHARACTERS_RE names), and every surrogate:
# a Python str holds a surrogate only when it is unpaired.
UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def storable(text: str) -> str:
    """Return `text` without the characters that a store refuses."""
    return UNSTORABLE.sub("", text)


def storable_tree(value: Any) -> Any:
    """Apply `storable` to every string, keys included, in decoded JSON or XML (dicts, lists, scalars)."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_tree(key): storable_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_tree(item) for item in value]
    return value
