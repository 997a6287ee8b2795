"""What every config section shares: strict frozen models and errors that point at a key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

Item = TypeVar("Item")


class ConfigValueError(ValueError):
    """A validation error that knows which key below the field it is about, for a precise line."""

    def __init__(self, message: str, *config_path: str | int):
        super().__init__(message)
        self.config_path = config_path


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def require_unique(items: Sequence[Item], key: Callable[[Item], str], what: str, field: str) -> Sequence[Item]:
    """Refuse a list in which two items share `key` (case-folded), pointing at the second one's `field`."""
    seen: set[str] = set()
    for index, item in enumerate(items):
        folded = key(item).casefold()
        if folded in seen:
            raise ConfigValueError(f"{what} {key(item)!r} is listed twice", index, field)
        seen.add(folded)
    return items
