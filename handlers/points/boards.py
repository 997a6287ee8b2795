"""积分 / 排行 / 活跃榜: a member's balance, tier and rank, and the boards that reward the most active."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.context import Context
from bot.registry import command
from bot.text import fold
from handlers.points.config import POINTS_SECTION
from handlers.points.rules import command_name, names, title_of, titles, today
from models import ledger
from models.activity import activity_counts
from models.business_day import competition_ranks, day_start, month_start, week_start

PERIOD_WORDS = {
    "week": ("本周", "周", "周榜", "week"),
    "month": ("本月", "月", "月榜", "month"),
    "all": ("总榜", "总", "全部时间", "all"),
}
SCOPE_ALL_WORDS = ("全部群", "所有群", "全群", "全部")
# Older than any activity the bot can have recorded.
ALL_TIME = datetime(2000, 1, 1, tzinfo=UTC)


@command("积分", aliases=["points", "我的积分"], role="member", examples=[("积分", "的积分")])
def my_points(ctx: Context, args: str) -> str | None:
    """查看我的积分、等级和排名。"""
    user = ctx.member.user_id
    if not user:
        return None
    balance, earned = ledger.account_of(ctx.session, user)
    tier = POINTS_SECTION.of(ctx.config).tier_of(earned)
    rank = ledger.overall_rank(ctx.session, user)
    text = ctx.text(
        "points_summary",
        name=names(ctx, [user])[user],
        balance=balance,
        earned=earned,
        tier=tier.name if tier else ctx.text("tier_none"),
        rank=ctx.text("points_rank", rank=rank) if rank else ctx.text("points_no_rank"),
    )
    higher = [t for t in POINTS_SECTION.of(ctx.config).tiers if t.min_earned > earned]
    if higher:
        text += "\n" + ctx.text("points_next_tier", missing=higher[0].min_earned - earned, tier=higher[0].name)
    return text


def parse_board_args(args: str) -> tuple[str, bool] | None:
    """Return (period, everywhere) from words like 「本月 全部群」; None when a word is not understood."""
    period, everywhere = "week", False
    for word in args.split():
        folded = fold(word)
        found = next((p for p, words in PERIOD_WORDS.items() if folded in {fold(w) for w in words}), None)
        if found:
            period = found
        elif folded in {fold(w) for w in SCOPE_ALL_WORDS}:
            everywhere = True
        else:
            return None
    return period, everywhere


def period_start(period: str, day: date) -> date | None:
    """Return the first business day counted by `period` (None for all time)."""
    return {"week": week_start(day), "month": month_start(day), "all": None}[period]


def _scope(ctx: Context, everywhere: bool) -> tuple[str | None, str]:
    chat_id = None if everywhere or ctx.chat is None else ctx.chat.chat_id
    return chat_id, ctx.text("scope_all" if chat_id is None else "scope_group")


@command("排行", aliases=["排行榜", "积分榜", "rank"], role="member", examples=[("排行 本月", "本月")])
def points_board(ctx: Context, args: str) -> str:
    """积分排行榜：排行 [本周|本月|总榜] [全部群]，默认本群本周。"""
    parsed = parse_board_args(args)
    if parsed is None:
        return ctx.text("leaderboard_usage", command=command_name(ctx, "排行"))
    period, everywhere = parsed
    chat_id, scope = _scope(ctx, everywhere)
    size = POINTS_SECTION.of(ctx.config).leaderboard_size
    rows = ledger.leaderboard(ctx.session, chat_id=chat_id, since=period_start(period, today(ctx)), limit=size)
    period_name = ctx.text(f"period_{period}")
    if not rows:
        return ctx.text("leaderboard_empty", scope=scope, period=period_name)
    shown = names(ctx, [user for user, _ in rows])
    title = titles(ctx, shown)
    lines = [ctx.text("leaderboard_header", scope=scope, period=period_name, size=size)]
    for rank, user, points in competition_ranks(rows):
        lines.append(ctx.text("leaderboard_line", rank=rank, name=shown[user], title=title[user], points=points))
    return "\n".join(lines)


@command("活跃榜", aliases=["活跃", "active"], role="member", examples=[("活跃榜", "活跃")])
def activity_board(ctx: Context, args: str) -> str:
    """活跃榜：按发言、签到、答题、报名次数排名，活跃榜 [本周|本月|总榜] [全部群]。"""
    parsed = parse_board_args(args)
    if parsed is None:
        return ctx.text("leaderboard_usage", command=command_name(ctx, "活跃榜"))
    period, everywhere = parsed
    chat_id, scope = _scope(ctx, everywhere)
    size = POINTS_SECTION.of(ctx.config).leaderboard_size
    points = POINTS_SECTION.of(ctx.config)
    start = period_start(period, today(ctx))
    since = day_start(start, ctx.config.zone, points.reset_hour) if start else ALL_TIME
    staff = () if ctx.config.roles.staff_on_boards else ctx.config.roles.staff
    rows = activity_counts(ctx.session, chat_id=chat_id, since=since, until=ctx.now(), limit=size, exclude=staff)
    period_name = ctx.text(f"period_{period}")
    if not rows:
        return ctx.text("activity_empty", scope=scope, period=period_name)
    shown = names(ctx, [user for user, _ in rows])
    lines = [ctx.text("activity_header", scope=scope, period=period_name, size=size)]
    for rank, user, count in competition_ranks(rows):
        title = title_of(ctx, ledger.account_of(ctx.session, user)[1])
        lines.append(ctx.text("activity_line", rank=rank, name=shown[user], title=title, count=count))
    return "\n".join(lines)
