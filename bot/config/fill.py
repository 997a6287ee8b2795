"""Fill a template whose optional fields may be empty: a line left with nothing to offer is dropped.

`{kf_link}` (the customer group's 微信客服 link) is empty where kf is off, the group is no customer
group, or no link was made yet. A line whose only placeholders are such optional fields and that
would render with all of them empty ("点此签到/报名：" and nothing after it) is left out; a line
that also uses another placeholder is kept, with the optional field empty.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

# Fields a template may use that are empty when there is nothing to fill in.
OPTIONAL_FIELDS = frozenset({"kf_link"})


def _fields_of(line: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(line) if field}
    except ValueError:
        return set()  # a brace that pairs across lines: leave the line to format_map


def fill(template: str, fields: Mapping[str, Any]) -> str:
    """Fill `template` with `fields`; optional fields absent from `fields` are empty."""
    values = {name: "" for name in OPTIONAL_FIELDS} | dict(fields)
    if not any(name in template for name in OPTIONAL_FIELDS):
        return template.format_map(values)
    kept = []
    for line in template.split("\n"):
        used = _fields_of(line)
        if used and used <= OPTIONAL_FIELDS and not any(values[name] for name in used):
            continue
        kept.append(line)
    return "\n".join(kept).format_map(values)
