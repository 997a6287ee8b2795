"""签到: once per business day, with streak bonuses, credited through the ledger."""

from __future__ import annotations

from bot.context import Context
from bot.registry import command
from bot.replies import Reply
from handlers.points.config import POINTS_SECTION
from handlers.points.rules import tier_up, today
from models import checkin, ledger
from models.activity import record_activity


@command("签到", aliases=["checkin", "打卡"], role="member", examples=[("签到", "签到成功")])
def check_in(ctx: Context, args: str) -> list[Reply]:
    """每天签到领积分，连续签到有额外奖励。"""
    user = ctx.member.user_id
    if not user:
        return []
    points = POINTS_SECTION.of(ctx.config)
    day = today(ctx)
    chat_id = ctx.chat.chat_id if ctx.chat else None
    result = checkin.check_in(
        ctx.session,
        user_id=user,
        day=day,
        chat_id=chat_id,
        at=ctx.now(),
        points_for=lambda streak: points.checkin_points + points.bonus(streak),
    )
    if not result.created:
        balance, _ = ledger.account_of(ctx.session, user)
        return [Reply(ctx.text("checkin_already", streak=result.streak, balance=balance, reset=points.reset_hour))]

    record_activity(ctx.session, chat_id=chat_id, user_id=user, at=ctx.now(), kind="checkin")
    posted = ledger.post(
        ctx.session,
        user_id=user,
        delta=result.points,
        reason="checkin",
        key=f"checkin:{user}:{day.isoformat()}",
        actor=user,
        at=ctx.now(),
        day=day,
        chat_id=chat_id,
        daily_cap=points.cap,
    )
    if posted.applied != result.points:
        checkin.set_points(ctx.session, user, day, posted.applied)
    balance = posted.balance
    lines = [ctx.text("checkin_ok", points=posted.applied, streak=result.streak, balance=balance)]
    bonus = points.bonus(result.streak)
    if posted.applied < result.points:
        # The cap cut this check-in: never claim the bonus is included when it (or part of it) was not credited.
        key = "checkin_bonus_capped" if bonus else "checkin_capped"
        text = ctx.text(key, streak=result.streak, bonus=bonus, cap=points.daily_earn_cap, points=posted.applied)
        lines.append(text)
    elif bonus:
        lines.append(ctx.text("checkin_bonus", streak=result.streak, bonus=bonus))
    return [Reply("\n".join(lines)), *tier_up(ctx, posted, user, chat_id)]
