"""团购列表 and 改团: guides see the open deals of their groups and change a deal's price, places or deadline."""

from __future__ import annotations

from bot.context import Context
from bot.registry import command
from bot.replies import Reply
from bot.text import split_words
from handlers.groupbuy.commands import (
    _group_label,
    _group_reply,
    _local,
    member_notice,
    promotion_notices,
    staff_deal,
)
from handlers.groupbuy.config import GROUPBUY_SECTION
from handlers.groupbuy.terms import TermsError, parse_edit, yuan
from handlers.points.rules import command_name
from models import groupbuy
from models.groupbuy import Deal


def open_deals_for(ctx: Context) -> list[Deal]:
    """Return the open deals the sender manages: their groups' and their own (all of them for admins)."""
    own = ctx.config.own_chats(ctx.member.user_id)
    return groupbuy.open_deals(ctx.session, own, ctx.member.user_id)


@command("团购列表", aliases=["团购", "deals"], role="guide", examples=[("团购列表", "没有")])
def list_deals(ctx: Context, args: str) -> str:
    """导购查看接龙中的团：团号、标题、群、已报份数与截止时间。"""
    deals = open_deals_for(ctx)
    if not deals:
        return ctx.text("groupbuy_list_empty", command=command_name(ctx, "开团"))
    lines = [ctx.text("groupbuy_list_header", count=len(deals))]
    for deal in deals:
        lines.append(
            ctx.text(
                "groupbuy_list_line",
                code=deal.code,
                title=deal.title,
                group=_group_label(ctx, deal.chat_id),
                taken=deal.taken,
                places=deal.places,
                price=yuan(deal.price_cents),
                deadline=_local(ctx.config, deal.deadline_at),
            )
        )
    lines.append(ctx.text("groupbuy_list_footer", roster=command_name(ctx, "团购名单"), edit=command_name(ctx, "改团")))
    return "\n".join(lines)


@command(
    "改团",
    aliases=["editgroupbuy"],
    role="guide",
    examples=[("改团 NOPE 名额=60", "没有团号")],
)
def edit_deal(ctx: Context, args: str) -> list[Reply] | str:
    """导购改团：改团 团号 [价格=…] [名额=…] [截止=…]；名额不能少于已确认的份数，改价或改截止会通知成员。"""
    edit_word = command_name(ctx, "改团")
    words = split_words(args)
    if len(words) < 2:
        return ctx.text("groupbuy_edit_usage", command=edit_word)
    found = staff_deal(ctx, words[0])
    if isinstance(found, str):
        return found
    settings = GROUPBUY_SECTION.of(ctx.config)
    try:
        change = parse_edit(" ".join(words[1:]), now=ctx.now(), zone=ctx.config.zone, horizon=settings.horizon)
    except TermsError as problem:
        reason = ctx.text(problem.key, **problem.fields, command=edit_word)
        return ctx.text("groupbuy_edit_refused", reason=reason.removesuffix(ctx.text("groupbuy_not_opened")).strip())
    result = groupbuy.edit(
        ctx.session,
        found.id,
        at=ctx.now(),
        price_cents=change.price_cents,
        places=change.places,
        deadline_at=change.deadline,
    )
    deal = result.deal
    if result.status == "closed":
        return ctx.text("groupbuy_edit_closed", code=deal.code)
    if result.status == "below_taken":
        return ctx.text("groupbuy_edit_below_taken", code=deal.code, places=change.places, taken=deal.taken)
    if result.status == "unchanged":
        return ctx.text("groupbuy_edit_unchanged", code=deal.code)
    price, places, deadline = result.before
    changes = []
    if deal.price_cents != price:
        changes.append(ctx.text("groupbuy_change_price", old=yuan(price), new=yuan(deal.price_cents)))
    if deal.places != places:
        changes.append(ctx.text("groupbuy_change_places", old=places, new=deal.places))
    if deal.deadline_at != deadline:
        changes.append(
            ctx.text(
                "groupbuy_change_deadline", old=_local(ctx.config, deadline), new=_local(ctx.config, deal.deadline_at)
            )
        )
    described = "；".join(changes)
    replies = [Reply(ctx.text("groupbuy_edited", code=deal.code, changes=described))]
    if deal.price_cents != price or deal.deadline_at != deadline:
        # Members who signed up agreed to the old terms: the group hears, and each of them is told.
        notice = ctx.text("groupbuy_edit_notice", code=deal.code, title=deal.title, changes=described)
        here = ctx.chat is not None and ctx.chat.chat_id == deal.chat_id
        replies = [Reply(notice)] if here else [*replies, _group_reply(ctx.config, deal, notice)]
        for signup in groupbuy.signups(ctx.session, deal.id, "confirmed") + groupbuy.signups(
            ctx.session, deal.id, "waitlisted"
        ):
            replies.append(member_notice(ctx.session, ctx.config, deal, signup, notice))
    return replies + promotion_notices(ctx, deal, result.promoted)
