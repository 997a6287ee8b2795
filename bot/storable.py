"""The one rule for characters that some store refuses: PostgreSQL text, SQLite via UTF-8, xlsx cells.

PostgreSQL refuses NUL in text; no UTF-8 codec writes a lone surrogate (JSON's "\\ud800" decodes to
one); XML 1.0, and so openpyxl, refuse the other C0 control characters. SQLite takes all of them,
so without a rule the two backends would answer the same input differently. The rule: those
characters are removed; tab, line feed and carriage return stay.
"""

from __future__ import annotations

import re
from typing import Any

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
