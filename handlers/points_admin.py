"""加分 / 扣分: a guide or admin gives or takes a member's points, with a recorded reason."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bot.context import Context
from bot.mentions import split_words
from bot.registry import command
from bot.replies import Reply
from handlers.points_rules import names, tier_up, today
from models import ledger
from models.membership import is_member

# A typo such as 2000000 instead of 20 should not mint points; larger grants take several commands.
MAX_MANUAL_AMOUNT = 100_000


@dataclass(frozen=True)
class ManualOrder:
    user: str
    amount: int
    reason: str


def parse_order(ctx: Context, command_name: str, args: str) -> ManualOrder | str:
    """Read 「@成员 分数 理由」 (the @ is optional); return the order or the Chinese reply refusing it."""
    words = split_words(args)
    if len(words) < 2:
        return ctx.text("points_admin_usage", command=command_name)
    user, raw_amount = words[0].lstrip("@"), words[1]
    if not user:
        return ctx.text("points_admin_usage", command=command_name)
    # Full-width digits from a Chinese keyboard are fine; int() alone would also take "+5" or "٣".
    amount = unicodedata.normalize("NFKC", raw_amount)
    if not amount.isascii() or not amount.isdigit() or not 1 <= int(amount) <= MAX_MANUAL_AMOUNT:
        return ctx.text("points_admin_bad_amount", amount=raw_amount, limit=MAX_MANUAL_AMOUNT)
    reason = " ".join(words[2:]).strip()
    if not reason:
        return ctx.text("points_admin_no_reason", command=command_name, user=user, amount=raw_amount)
    return ManualOrder(user, int(amount), reason)


def _known_member(ctx: Context, user: str) -> bool:
    if ctx.chat is not None:
        return is_member(ctx.session, ctx.chat.chat_id, user)
    # A guide writing 1:1 names a member of any group the bot serves.
    return any(is_member(ctx.session, group.chat_id, user) for group in ctx.config.groups)


def _adjust(ctx: Context, command_name: str, args: str, sign: int) -> list[Reply] | str:
    order = parse_order(ctx, command_name, args)
    if isinstance(order, str):
        return order
    if not _known_member(ctx, order.user):
        return ctx.text("points_admin_not_member", user=order.user)
    event = ctx.event
    chat_id = ctx.chat.chat_id if ctx.chat else None
    posted = ledger.post(
        ctx.session,
        user_id=order.user,
        delta=sign * order.amount,
        reason="manual",
        # The message id: a callback WeCom retries (or a repeated console line) can never post twice.
        key=f"manual:{event.msg_id or event.dedup_key[-150:]}",
        actor=ctx.member.user_id or "unknown",
        at=ctx.now(),
        day=today(ctx),
        chat_id=chat_id,
        note=order.reason,
    )
    name = names(ctx, [order.user])[order.user]
    if posted.status == "insufficient":
        return ctx.text("points_admin_insufficient", name=name, balance=posted.balance, amount=order.amount)
    key = "points_admin_added" if sign > 0 else "points_admin_deducted"
    text = ctx.text(key, name=name, amount=order.amount, reason=order.reason, balance=posted.balance)
    return [Reply(text), *tier_up(ctx, posted, order.user, chat_id)]


@command("加分", aliases=["addpoints"], role="guide", examples=[("加分", "用法：加分 @成员 分数 理由")])
def add_points(ctx: Context, args: str) -> list[Reply] | str:
    """给成员加分：加分 @成员 分数 理由（导购、管理员）。"""
    return _adjust(ctx, "加分", args, +1)


@command("扣分", aliases=["deductpoints"], role="guide", examples=[("扣分 lisi 五 刷屏", "不是有效的分数")])
def deduct_points(ctx: Context, args: str) -> list[Reply] | str:
    """扣成员的积分：扣分 @成员 分数 理由（导购、管理员）。"""
    return _adjust(ctx, "扣分", args, -1)
