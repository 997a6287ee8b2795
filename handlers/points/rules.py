"""What the points commands share: today's business day, titled names, and the tier-up announcement."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from bot.context import Context
from bot.numbers import whole_number
from bot.replies import Reply
from handlers.points.config import POINTS_SECTION
from models import ledger
from models.ledger import PostResult
from models.membership import display_names, guide_of, is_member


def today(ctx: Context) -> date:
    """Return the business day of the event being handled."""
    return POINTS_SECTION.of(ctx.config).day(ctx.now(), ctx.config.zone)


def parse_count(word: str, high: int) -> int | None:
    """Return the whole number 1..`high` written in `word` (full-width digits too), or None."""
    return whole_number(word, high)


def command_name(ctx: Context, builtin: str) -> str:
    """Return the word members type for the command `builtin`, after any rename in the YAML's `commands:`."""
    return next((c.name for c in ctx.registry.resolved(ctx.config) if c.spec.name == builtin), builtin)


def names(ctx: Context, user_ids: Iterable[str]) -> dict[str, str]:
    """Return each member's display name; an unnamed customer is a friendly stand-in (新朋友) where members read it.

    Staff reading 1:1 see the userid instead, so they can tell two unnamed customers apart.
    """
    wanted = list(dict.fromkeys(user_ids))
    members_read = ctx.chat is not None or ctx.member.role == "member"
    stand_in = ctx.text("stand_in_name") if members_read else None
    found = display_names(ctx.session, wanted, stand_in) if wanted else {}
    return {user: found.get(user) or user for user in wanted}


def member_in_scope(ctx: Context, user_id: str, chat_id: str | None = None) -> bool:
    """Tell whether the sender may act on `user_id`: a member of one of their groups, or brought by them."""
    own = ctx.config.own_chats(ctx.member.user_id)
    if own is None or (chat_id is not None and chat_id in own):
        return True
    if any(is_member(ctx.session, chat, user_id) for chat in sorted(own)):
        return True
    return ctx.member.user_id is not None and guide_of(ctx.session, user_id) == ctx.member.user_id


def title_of(ctx: Context, earned: int) -> str:
    """Return the title shown after a name, e.g. 【金卡】, or nothing below the first tier."""
    tier = POINTS_SECTION.of(ctx.config).tier_of(earned)
    return ctx.text("tier_title", tier=tier.name) if tier else ""


def titles(ctx: Context, user_ids: Iterable[str]) -> dict[str, str]:
    """Return the title of each member by their total earned."""
    return {user: title_of(ctx, ledger.account_of(ctx.session, user)[1]) for user in user_ids}


def tier_up(ctx: Context, result: PostResult, user_id: str, chat_id: str | None) -> list[Reply]:
    """Announce in the group when a post moved the member into a higher tier; nothing otherwise."""
    points = POINTS_SECTION.of(ctx.config)
    before, after = points.tier_of(result.earned_before), points.tier_of(result.earned)
    if after is None or after == before:
        return []
    text = ctx.text("tier_up", name=names(ctx, [user_id])[user_id], tier=after.name)
    if chat_id is None:
        return [Reply(text)]
    return [Reply(text, to_chat=chat_id, mentions=(user_id,))]
