"""Keyword auto-replies: text that is no command, matched against `keywords:` in the YAML."""

from __future__ import annotations

from bot.config.core import KeywordRule
from bot.context import Context
from bot.registry import on_text
from bot.replies import Reply
from bot.text import fold
from models.membership import display_names, group_name_of, guide_of

# The member's words quoted to the guide stop here.
QUOTED = 200


def matches(rule: KeywordRule, text: str) -> bool:
    """Tell whether `text` triggers `rule` (width- and case-insensitive)."""
    folded = fold(text)
    words = [fold(w) for w in rule.match]
    if rule.mode == "exact":
        return folded in words
    return any(word in folded for word in words)


# Runs after capabilities that own free text (an open quiz takes answers first).
@on_text(priority=900)
def keyword_reply(ctx: Context, text: str) -> list[Reply] | str | None:
    for rule in ctx.config.keywords:
        if matches(rule, text):
            if not rule.notify_guide:
                return rule.reply
            return [Reply(rule.reply), *notify_guide(ctx, text)]
    return None


def notify_guide(ctx: Context, text: str) -> list[Reply]:
    """Tell the member's guide (the group's guide, else the guide who brought them) what the member asked."""
    user = ctx.member.user_id
    if not user:
        return []
    chat_id = ctx.chat.chat_id if ctx.chat else None
    group = ctx.config.group(chat_id)
    guide = (group.guide if group else None) or guide_of(ctx.session, user, chat_id) or guide_of(ctx.session, user)
    if guide is None or guide == user:
        return []
    name = display_names(ctx.session, [user])[user]
    where = (
        (group.name if group else group_name_of(ctx.session, chat_id) or chat_id) if chat_id else ctx.text("keyword_dm")
    )
    quoted = text if len(text) <= QUOTED else text[:QUOTED] + "…"
    return [Reply(ctx.text("keyword_notify_guide", name=name, user=user, where=where, text=quoted), to_user=guide)]
