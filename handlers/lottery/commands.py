"""抽奖: a guide draws winners among this week's most active, this week's check-ins, or the whole group."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.context import Context
from bot.numbers import whole_number
from bot.registry import command
from bot.replies import Reply
from bot.text import fold_width, split_words
from handlers.lottery.config import LOTTERY_SECTION
from handlers.members.group_info import find_chat, group_name
from handlers.points.config import POINTS_SECTION
from handlers.points.rules import command_name, names, today
from models import ledger, lottery
from models.activity import activity_counts
from models.business_day import day_start, week_start
from models.checkin import Checkin
from models.lottery import PoolKind
from models.membership import current_members

ALL_WORDS = ("全群", "所有人", "全部")
CHECKIN_WORDS = ("签到", "本周签到")
ACTIVE_PREFIXES = ("活跃前", "活跃榜前", "前")


def _week_since(ctx: Context) -> datetime:
    points = POINTS_SECTION.of(ctx.config)
    return day_start(week_start(today(ctx)), ctx.config.zone, points.reset_hour)


def pool_of(ctx: Context, chat_id: str, kind: str, top: int | None) -> list[str]:
    """Return the members a draw chooses among; staff never win their own draw."""
    staff = ctx.config.roles.staff
    if kind == PoolKind.ACTIVE:
        rows = activity_counts(
            ctx.session, chat_id=chat_id, since=_week_since(ctx), until=ctx.now(), limit=top or 10, exclude=staff
        )
        return [user for user, _count in rows]
    if kind == PoolKind.CHECKINS:
        first = week_start(today(ctx))
        query = select(Checkin.user_id).where(Checkin.chat_id == chat_id, Checkin.day >= first).distinct()
        return [user for user in ctx.session.scalars(query) if user not in staff]
    return [user for user in current_members(ctx.session, chat_id) if user not in staff]


def _pool_word(word: str, max_top: int) -> tuple[PoolKind, int | None] | None:
    """Read 活跃前10 / 签到 / 全群; None when `word` names no pool."""
    folded = fold_width(word)
    if folded in ALL_WORDS:
        return PoolKind.GROUP, None
    if folded in CHECKIN_WORDS:
        return PoolKind.CHECKINS, None
    for prefix in ACTIVE_PREFIXES:
        if folded.startswith(prefix):
            top = whole_number(folded.removeprefix(prefix).removesuffix("名"), max_top)
            return (PoolKind.ACTIVE, top) if top is not None else None
    return None


@command(
    "抽奖",
    aliases=["lottery"],
    role="guide",
    examples=[("抽奖", "用法"), ("抽奖 3 全群", "还没有人")],
)
def draw(ctx: Context, args: str) -> list[Reply] | str:
    """导购抽奖：抽奖 人数 [活跃前10|签到|全群] [奖品=一元购] [积分=20] [群=群名]，结果可核验。"""
    settings = LOTTERY_SECTION.of(ctx.config)
    word = command_name(ctx, "抽奖")
    words = split_words(args)
    options: dict[str, str] = {}
    plain: list[str] = []
    for item in words:
        folded = fold_width(item)
        if "=" in folded:
            key, _, value = folded.partition("=")
            options[key.strip()] = value.strip()
        else:
            plain.append(item)
    unknown = set(options) - {"奖品", "积分", "群"}
    if not plain or len(plain) > 2 or unknown:
        return ctx.text("lottery_usage", command=word)
    count = whole_number(plain[0], settings.max_winners)
    if count is None:
        return ctx.text("lottery_bad_count", value=plain[0], max=settings.max_winners)
    pool_kind, top = PoolKind.GROUP, None
    if len(plain) == 2:
        parsed = _pool_word(plain[1], settings.max_pool_top)
        if parsed is None:
            return ctx.text("lottery_bad_pool", value=plain[1], max=settings.max_pool_top)
        pool_kind, top = parsed
    points = 0
    if "积分" in options:
        credited = whole_number(options["积分"], settings.max_points) if settings.max_points else None
        if credited is None:
            return ctx.text("lottery_bad_points", value=options["积分"], max=settings.max_points)
        points = credited
    prize = options.get("奖品") or settings.default_prize
    if len(prize) > 32:
        return ctx.text("lottery_prize_too_long", max=32)
    if ctx.chat is not None and "群" not in options:
        chat_id: str | None = ctx.chat.chat_id
    elif "群" in options:
        chat_id = find_chat(ctx, options["群"])
        if chat_id is None:
            return ctx.text("lottery_unknown_group", group=options["群"])
    else:
        return ctx.text("lottery_need_group", command=word)
    assert chat_id is not None
    if not ctx.config.may_act_in(ctx.member.user_id, chat_id):
        return ctx.text("scope_denied", what=group_name(ctx, chat_id))
    pool = pool_of(ctx, chat_id, pool_kind, top)
    pool_name = ctx.text(f"lottery_pool_{pool_kind}", top=top or 0)
    if not pool:
        return ctx.text("lottery_empty_pool", pool=pool_name, group=group_name(ctx, chat_id))
    row = lottery.draw(
        ctx.session,
        chat_id=chat_id,
        pool_kind=pool_kind,
        pool_top=top,
        pool=pool,
        count=count,
        prize=prize,
        points=points,
        drawn_by=ctx.member.user_id or "unknown",
        at=ctx.now(),
    )
    winners = row.winner_ids
    for user in winners if points else []:
        # Keyed by draw and winner: a retried callback or a second run can never credit twice.
        ledger.post(
            ctx.session,
            user_id=user,
            delta=points,
            reason="lottery",
            key=f"lottery:{row.id}:{user}",
            actor=row.drawn_by,
            at=ctx.now(),
            day=today(ctx),
            chat_id=chat_id,
            note=prize,
        )
    shown = names(ctx, winners)
    announcement = ctx.text(
        "lottery_announcement",
        prize=prize,
        pool=pool_name,
        size=len(row.pool_ids),
        count=len(winners),
        winners="、".join(shown[user] for user in winners),
        points=ctx.text("lottery_points", points=points) if points else "",
        id=row.id,
        digest=row.pool_digest[:12],
    )
    internal = (group := ctx.config.group(chat_id)) is None or group.kind == "internal"
    mentions = tuple(winners) if internal else ()
    if ctx.chat is not None and ctx.chat.chat_id == chat_id:
        return [Reply(announcement, mentions=mentions)]
    ack = ctx.text("lottery_drawn_ack", id=row.id, group=group_name(ctx, chat_id), count=len(winners))
    return [Reply(ack), Reply(announcement, to_chat=chat_id, mentions=mentions)]
