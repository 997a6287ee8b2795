"""加分 / 扣分: a guide or admin gives or takes a member's points, with a recorded reason."""

from __future__ import annotations

from dataclasses import dataclass

from bot.context import Context
from bot.registry import command
from bot.replies import Reply
from bot.text import fold_width, split_words
from handlers.points.rules import command_name, names, parse_count, tier_up, today
from models import ledger
from models.membership import is_member, members_named

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
    # 「@」 or the full-width 「＠」; what follows is a userid or the display name WeCom inserts.
    user, raw_amount = words[0].lstrip("@＠"), words[1]
    if not user:
        return ctx.text("points_admin_usage", command=command_name)
    # Full-width digits from a Chinese keyboard are fine.
    amount = parse_count(raw_amount, MAX_MANUAL_AMOUNT)
    if amount is None:
        return ctx.text("points_admin_bad_amount", amount=raw_amount, limit=MAX_MANUAL_AMOUNT)
    reason = " ".join(words[2:]).strip()
    if not reason:
        return ctx.text("points_admin_no_reason", command=command_name, user=user, amount=raw_amount)
    return ManualOrder(user, amount, reason)


def _chats(ctx: Context) -> list[str]:
    # A guide writing 1:1 names a member of any group they act in (every group the bot serves, for admins).
    if ctx.chat is not None:
        return [ctx.chat.chat_id]
    own = ctx.config.own_chats(ctx.member.user_id)
    return [group.chat_id for group in ctx.config.groups if own is None or group.chat_id in own]


def resolve_member(ctx: Context, written: str) -> list[str]:
    """Return the userids `written` may mean: itself when it is a member's userid, else the members with that name.

    WeCom inserts the display name after 「@」, so 「@张三」 is looked up among the names of the
    group's current members; a userid always wins over a name.
    """
    chats = _chats(ctx)
    spellings = list(dict.fromkeys((written, fold_width(written))))
    for user in spellings:
        if any(is_member(ctx.session, chat_id, user) for chat_id in chats):
            return [user]
    for name in spellings:
        found = members_named(ctx.session, chats, name)
        if found:
            return found
    return []


def _adjust(ctx: Context, builtin: str, args: str, sign: int) -> list[Reply] | str:
    shown_command = command_name(ctx, builtin)
    parsed = parse_order(ctx, shown_command, args)
    if isinstance(parsed, str):
        return parsed
    if ctx.chat is not None and not ctx.config.may_act_in(ctx.member.user_id, ctx.chat.chat_id):
        return ctx.text("scope_denied", what=ctx.text("points_scope_group"))
    found = resolve_member(ctx, parsed.user)
    if not found:
        return ctx.text("points_admin_not_member", user=parsed.user)
    if len(found) > 1:
        return ctx.text(
            "points_admin_ambiguous",
            user=parsed.user,
            count=len(found),
            users="、".join(found),
            first=found[0],
            command=shown_command,
        )
    order = ManualOrder(found[0], parsed.amount, parsed.reason)
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
