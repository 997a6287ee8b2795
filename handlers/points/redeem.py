"""兑换: the reward catalogue, redeeming points for a reward, and guides fulfilling or cancelling it."""

from __future__ import annotations

import logging

from bot.config.core import ROLE_RANK
from bot.context import Context
from bot.outbox import is_external
from bot.registry import command
from bot.replies import Reply
from bot.text import fold, split_words
from handlers.points.config import POINTS_SECTION
from handlers.points.rules import command_name, member_in_scope, names, parse_count, today
from models import ledger, rewards
from models.kf import window_open
from models.membership import guide_of

log = logging.getLogger(__name__)

FULFIL_WORDS = frozenset({"完成", "发放", "已发放", "done"})
CANCEL_WORDS = frozenset({"取消", "cancel"})
# Redemption ids live in an INTEGER column; a larger number cannot name one (and SQLite overflows on it).
MAX_REDEMPTION_ID = 2**31 - 1


@command("兑换", aliases=["redeem"], role="member", examples=[("兑换", "兑换"), ("兑换 NOPE", "没有代码为")])
def redeem(ctx: Context, args: str) -> list[Reply] | str | None:
    """用积分兑换奖品：兑换 查看奖品，兑换 代码 兑换；导购：兑换 完成/取消 编号。"""
    words = split_words(args)
    if not words:
        return catalogue(ctx)
    action = fold(words[0])
    if action in FULFIL_WORDS or action in CANCEL_WORDS:
        if len(words) != 2:
            return ctx.text("redeem_usage", command=command_name(ctx, "兑换"))
        return settle(ctx, fulfil=action in FULFIL_WORDS, raw_id=words[1])
    if len(words) != 1:
        return ctx.text("redeem_usage", command=command_name(ctx, "兑换"))
    return take(ctx, words[0])


def catalogue(ctx: Context) -> str:
    """List the rewards with their cost and the units left."""
    offered = POINTS_SECTION.of(ctx.config).rewards
    if not offered:
        return ctx.text("redeem_catalogue_empty")
    balance = ledger.account_of(ctx.session, ctx.member.user_id)[0] if ctx.member.user_id else 0
    lines = [ctx.text("redeem_catalogue_header", balance=balance, command=command_name(ctx, "兑换"))]
    for reward in offered:
        # Apply the YAML's current stock first, so a restock shows at once, not after the next redemption.
        units = rewards.sync_stock(ctx.session, reward.code, reward.stock)
        lines.append(
            ctx.text("redeem_catalogue_line", code=reward.code, name=reward.name, cost=reward.cost, left=units)
        )
    return "\n".join(lines)


def take(ctx: Context, code: str) -> list[Reply] | str | None:
    """Redeem one unit of `code` for the asker and tell their guide."""
    user = ctx.member.user_id
    if not user:
        return None
    reward = POINTS_SECTION.of(ctx.config).reward(fold(code))
    if reward is None:
        return ctx.text("redeem_unknown", code=code, command=command_name(ctx, "兑换"))
    chat_id = ctx.chat.chat_id if ctx.chat else None
    result = rewards.redeem(
        ctx.session,
        user_id=user,
        chat_id=chat_id,
        code=reward.code,
        name=reward.name,
        cost=reward.cost,
        stock=reward.stock,
        per_member_limit=reward.per_member_limit,
        at=ctx.now(),
        day=today(ctx),
    )
    if result.status == "insufficient":
        return ctx.text("redeem_insufficient", reward=reward.name, cost=reward.cost, balance=result.balance)
    if result.status == "sold_out":
        return ctx.text("redeem_sold_out", reward=reward.name, command=command_name(ctx, "兑换"))
    if result.status == "limit":
        return ctx.text("redeem_limit", reward=reward.name, limit=reward.per_member_limit)
    assert result.redemption is not None
    redemption_id = result.redemption.id
    replies = [
        Reply(ctx.text("redeem_ok", reward=reward.name, cost=reward.cost, balance=result.balance, id=redemption_id))
    ]
    guide = guide_of(ctx.session, user, chat_id)
    if guide:
        note = ctx.text(
            "redeem_notify_guide",
            command=command_name(ctx, "兑换"),
            name=names(ctx, [user])[user],
            user=user,
            reward=reward.name,
            cost=reward.cost,
            id=redemption_id,
        )
        replies.append(Reply(note, to_user=guide))
    else:
        log.warning(
            "redemption %s of %s has no guide to notify; see `groupbot points redemptions`", redemption_id, user
        )
    return replies


def settle(ctx: Context, *, fulfil: bool, raw_id: str) -> list[Reply] | str:
    """Mark a redemption fulfilled, or cancel it with a refund (guides and admins only)."""
    if ROLE_RANK[ctx.member.role] < ROLE_RANK["guide"]:
        word = "完成" if fulfil else "取消"
        shown = f"{command_name(ctx, '兑换')} {word}"
        return ctx.text("permission_denied", command=shown, role=ctx.text("role_guide"))
    redemption_id = parse_count(raw_id, MAX_REDEMPTION_ID)
    if redemption_id is None:
        return ctx.text("redeem_bad_id", id=raw_id, command=command_name(ctx, "兑换"))
    by = ctx.member.user_id or "unknown"
    pending = rewards.get(ctx.session, redemption_id)
    if pending is not None and not member_in_scope(ctx, pending.user_id, pending.chat_id):
        return ctx.text("scope_denied", what=ctx.text("points_scope_redemption", id=redemption_id))
    if fulfil:
        result = rewards.fulfil(ctx.session, redemption_id, by=by, at=ctx.now())
    else:
        result = rewards.cancel(ctx.session, redemption_id, by=by, at=ctx.now(), day=today(ctx))
    if result.status == "missing" or result.redemption is None:
        return ctx.text("redeem_not_found", id=redemption_id)
    found = result.redemption
    if result.status == "not_pending":
        return ctx.text("redeem_not_pending", id=redemption_id, status=ctx.text(f"redemption_{found.status}"))
    member = names(ctx, [found.user_id])[found.user_id]
    if fulfil:
        return [
            Reply(ctx.text("redeem_fulfilled", id=found.id, member=member, reward=found.name)),
            _member_note(ctx, found.user_id, ctx.text("redeem_member_fulfilled", reward=found.name, id=found.id)),
        ]
    member_note = ctx.text(
        "redeem_member_cancelled", reward=found.name, id=found.id, cost=found.cost, balance=result.balance
    )
    return [
        Reply(ctx.text("redeem_cancelled", id=found.id, member=member, reward=found.name, cost=found.cost)),
        _member_note(ctx, found.user_id, member_note),
    ]


def _member_note(ctx: Context, user_id: str, text: str) -> Reply:
    """Tell the member 1:1: staff by app message, a WeChat customer by 微信客服 while their window is open.

    Outside the 48 hours kf may not write to a customer, so the guide who settled the redemption gets the
    note in their own answer, to pass on.
    """
    if not is_external(user_id) or window_open(ctx.session, user_id, ctx.now()):
        return Reply(text, to_user=user_id)
    return Reply(ctx.text("redeem_relay", name=names(ctx, [user_id])[user_id], message=text))
