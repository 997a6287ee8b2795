"""Keyword auto-replies: text that is no command, matched against `keywords:` in the YAML."""

from __future__ import annotations

from bot.config.core import KeywordRule
from bot.context import Context
from bot.registry import on_text
from bot.text import fold


def matches(rule: KeywordRule, text: str) -> bool:
    """Tell whether `text` triggers `rule` (width- and case-insensitive)."""
    folded = fold(text)
    words = [fold(w) for w in rule.match]
    if rule.mode == "exact":
        return folded in words
    return any(word in folded for word in words)


# Runs after capabilities that own free text (an open quiz takes answers first).
@on_text(priority=900)
def keyword_reply(ctx: Context, text: str) -> str | None:
    for rule in ctx.config.keywords:
        if matches(rule, text):
            return rule.reply
    return None
