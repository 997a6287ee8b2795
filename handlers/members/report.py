"""成员: a guide's view of a group's members, joins, leaves and silent members."""

from __future__ import annotations

from datetime import datetime, time

from bot.context import Context
from bot.registry import command
from handlers.members.config import MEMBERS_SECTION
from handlers.members.group_info import find_chat, group_name
from models.membership import group_figures


def local_day_start(ctx: Context) -> datetime:
    """Return the start of today in the configured time zone."""
    local_now = ctx.now().astimezone(ctx.config.zone)
    return datetime.combine(local_now.date(), time(0), tzinfo=ctx.config.zone)


@command("成员", aliases=["members"], role="guide", examples=[("成员", "近 7 天")])
def members_report(ctx: Context, args: str) -> str:
    """查看群成员数、今日和近 7 天进退群人数、沉默成员数（私聊时写群名：成员 群名）。"""
    wanted = args.strip()
    if wanted:
        chat_id = find_chat(ctx, wanted)
        if chat_id is None:
            return ctx.text("members_unknown_group", name=wanted)
    elif ctx.chat is not None:
        chat_id = ctx.chat.chat_id
    else:
        shown = next((c.name for c in ctx.registry.resolved(ctx.config) if c.spec.name == "成员"), "成员")
        return ctx.text("members_need_group", command=shown)
    days = MEMBERS_SECTION.of(ctx.config).silent_days
    roles = ctx.config.roles
    figures = group_figures(
        ctx.session,
        chat_id,
        now=ctx.now(),
        day_start=local_day_start(ctx),
        silent_days=days,
        exclude=() if roles.staff_on_boards else roles.staff,
    )
    return ctx.text(
        "members_report",
        group=group_name(ctx, chat_id),
        members=figures.members,
        joined_today=figures.joined_today,
        left_today=figures.left_today,
        joined_7d=figures.joined_7d,
        left_7d=figures.left_7d,
        days=days,
        silent=figures.silent,
    )
