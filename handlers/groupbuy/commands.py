"""团购: guides open deals (开团), members sign up (接龙/报名) and cancel, deals close and form (成团) or not."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.config.core import ROLE_RANK, Config
from bot.context import Context
from bot.numbers import whole_number
from bot.outbox import queue_reply
from bot.registry import command
from bot.replies import Reply
from bot.text import fold_width, split_words
from handlers.groupbuy.config import GROUPBUY_SECTION
from handlers.groupbuy.terms import MAX_ANSWER, TermsError, parse_terms, yuan
from handlers.kf import kf_link
from handlers.points.config import POINTS_SECTION
from handlers.points.rules import command_name
from models import groupbuy, ledger
from models.activity import record_activity
from models.groupbuy import Closed, Deal, Signup
from models.kf import window_open
from models.membership import display_names, group_name_of, guide_of

log = logging.getLogger(__name__)

# WeCom gives external contacts (WeChat users) userids starting with these; an app message cannot reach them.
EXTERNAL_ID_PREFIXES = ("wm", "wo")
MAX_QUANTITY = 100_000
# A roster in chat stops here; the CLI export has everyone.
ROSTER_LINES = 100
# The word a guide adds to 开团 to open a second deal like one opened minutes ago.
CONFIRM_WORDS = ("确认", "再开")


def _render(config: Config, key: str, **fields: object) -> str:
    return config.texts.render(key, **fields)


def _local(config: Config, at: datetime) -> str:
    return at.astimezone(config.zone).strftime("%m-%d %H:%M")


def summary(config: Config, deal: Deal, join_word: str, link: str = "") -> str:
    """The deal as members see it: terms and how to sign up (`link`: its group's kf link, for {kf_link})."""
    text = _render(
        config,
        "groupbuy_summary",
        code=deal.code,
        title=deal.title,
        price=yuan(deal.price_cents),
        places=deal.places,
        min_members=deal.min_members,
        limit=deal.per_member_limit,
        deadline=_local(config, deal.deadline_at),
        left=deal.places - deal.taken,
        command=join_word,
        kf_link=link,
    )
    if deal.field_names:
        example = " ".join(f"{name}=…" for name in deal.field_names)
        text += "\n" + _render(config, "groupbuy_summary_fields", command=join_word, code=deal.code, fields=example)
    return text


def _is_staff(ctx: Context) -> bool:
    return ROLE_RANK[ctx.member.role] >= ROLE_RANK["guide"]


def _find(ctx: Context, raw: str) -> Deal | str:
    """Return the deal 团号 `raw` names, or the reply saying there is none (staff are pointed to 团购列表)."""
    code = fold_width(raw).strip()
    deal = groupbuy.find(ctx.session, code) if code.isascii() and len(code) <= 16 else None
    if deal is None:
        if _is_staff(ctx):
            return ctx.text("groupbuy_unknown_code_staff", code=raw, command=command_name(ctx, "团购列表"))
        return ctx.text("groupbuy_unknown_code", code=raw, command=command_name(ctx, "我的团购"))
    return deal


def _in_scope(ctx: Context, deal: Deal) -> bool:
    """Tell whether the sender may manage `deal`: their own groups' deals (or every deal, by scope)."""
    return deal.opened_by == ctx.member.user_id or ctx.config.may_act_in(ctx.member.user_id, deal.chat_id)


def _scope_denied(ctx: Context, deal: Deal) -> str:
    return ctx.text("scope_denied", what=ctx.text("groupbuy_scope_what", code=deal.code))


def _group_label(ctx: Context, chat_id: str | None) -> str:
    group = ctx.config.group(chat_id)
    if group is not None:
        return group.name
    known = group_name_of(ctx.session, chat_id) if chat_id else None
    return known or ctx.text("groupbuy_no_group")


def _group_for(ctx: Context, wanted: str | None) -> str | None | Reply:
    """Return the chat a new deal is announced in: the named group, else the chat it was opened in."""
    if wanted is None:
        return ctx.chat.chat_id if ctx.chat else None
    for group in ctx.config.groups:
        if wanted in (group.name, group.chat_id):
            return group.chat_id
    return Reply(ctx.text("groupbuy_unknown_group", group=wanted))


@command(
    "开团",
    aliases=["groupbuy"],
    role="guide",
    examples=[("开团 阳光玫瑰葡萄 价格=39.9 名额=50 截止=2小时 成团=10 限购=2", "团号")],
)
def open_deal(ctx: Context, args: str) -> list[Reply] | str:
    """导购开团：开团 标题 价格=39.9 名额=50 截止=今晚20:00 [成团=10] [限购=2] [群=群名]。"""
    settings = GROUPBUY_SECTION.of(ctx.config)
    words = split_words(args)
    confirmed = bool(words) and words[-1] in CONFIRM_WORDS
    if confirmed:
        args = " ".join(words[:-1])
    try:
        terms = parse_terms(
            args, now=ctx.now(), zone=ctx.config.zone, default_limit=settings.default_limit, horizon=settings.horizon
        )
    except TermsError as problem:
        return ctx.text(problem.key, **problem.fields, command=command_name(ctx, "开团"))
    if ctx.chat is None and terms.group is None:
        # Opened 1:1 without 群=: a deal no group hears of would credit nobody; ask which group.
        own = ctx.config.own_chats(ctx.member.user_id)
        groups = [g.name for g in ctx.config.groups if own is None or g.chat_id in own]
        return ctx.text(
            "groupbuy_which_group",
            groups="、".join(groups) or ctx.text("groupbuy_no_groups"),
            command=command_name(ctx, "开团"),
        )
    chat_id = _group_for(ctx, terms.group)
    if isinstance(chat_id, Reply):
        return [chat_id]
    if chat_id is not None and not ctx.config.may_act_in(ctx.member.user_id, chat_id):
        return ctx.text("scope_denied", what=_group_label(ctx, chat_id))
    if not confirmed and settings.duplicate_minutes:
        twin = groupbuy.recent_twin(
            ctx.session,
            opened_by=ctx.member.user_id or "unknown",
            title=terms.title,
            chat_id=chat_id,
            since=ctx.now() - timedelta(minutes=settings.duplicate_minutes),
        )
        if twin is not None:
            return ctx.text(
                "groupbuy_duplicate",
                code=twin.code,
                title=twin.title,
                minutes=settings.duplicate_minutes,
                word=CONFIRM_WORDS[0],
                command=command_name(ctx, "开团"),
            )
    deal = groupbuy.open_deal(
        ctx.session,
        code_style=settings.code_style,
        code_prefix=settings.code_prefix,
        title=terms.title,
        price_cents=terms.price_cents,
        places=terms.places,
        min_members=terms.min_members,
        per_member_limit=terms.limit,
        deadline_at=terms.deadline,
        opened_by=ctx.member.user_id or "unknown",
        chat_id=chat_id,
        at=ctx.now(),
        fields=list(terms.fields),
    )
    text = summary(ctx.config, deal, command_name(ctx, "接龙"), kf_link(ctx.session, ctx.config, chat_id) or "")
    replies = [Reply(ctx.text("groupbuy_opened", code=deal.code, summary=text))]
    if chat_id is not None and (ctx.chat is None or ctx.chat.chat_id != chat_id):
        # Opened 1:1 for a customer group: the group hears of it through its push (a task the guide confirms).
        replies.append(Reply(text, to_chat=chat_id))
    return replies


def _credited_guide(ctx: Context, user_id: str, deal: Deal) -> str | None:
    """The guide this member belongs to: in the deal's group, else their latest group, else the group's guide."""
    guide = guide_of(ctx.session, user_id, deal.chat_id) if deal.chat_id else None
    guide = guide or guide_of(ctx.session, user_id)
    if guide is None and deal.chat_id:
        group = ctx.config.group(deal.chat_id)
        guide = group.guide if group else None
    return guide


def _quantity(raw: str) -> int | None:
    return whole_number(fold_width(raw).strip().removesuffix("份").removesuffix("件"), MAX_QUANTITY)


@command("接龙", aliases=["报名", "跟团"], role="member", examples=[("接龙 NOPE", "没有团号")])
def sign_up(ctx: Context, args: str) -> list[Reply] | str | None:
    """接龙报名：接龙 团号 [数量]（群里只有一个团时可省略团号）。"""
    user = ctx.member.user_id
    if not user:
        return None
    words, given = _answers(split_words(args))
    join_word = command_name(ctx, "接龙")
    if len(words) > 2:
        return ctx.text("groupbuy_join_usage", command=join_word)
    if not words or (
        len(words) == 1 and _quantity(words[0]) is not None and groupbuy.find(ctx.session, words[0]) is None
    ):
        # 「接龙」 or 「接龙 2」 in a group with exactly one open deal means that deal.
        deals = groupbuy.open_in_chat(ctx.session, ctx.chat.chat_id) if ctx.chat else []
        if len(deals) != 1:
            codes = "、".join(d.code for d in deals)
            return ctx.text("groupbuy_join_which" if deals else "groupbuy_join_usage", command=join_word, codes=codes)
        words = [deals[0].code, *words]
    found = _find(ctx, words[0])
    if isinstance(found, str):
        return found
    quantity = _quantity(words[1]) if len(words) == 2 else 1
    if quantity is None:
        return ctx.text("groupbuy_bad_quantity", value=words[1], limit=found.per_member_limit)
    answers = _check_answers(ctx, found, given, join_word, quantity)
    if isinstance(answers, str):
        return answers
    chat_id = ctx.chat.chat_id if ctx.chat else None
    result = groupbuy.sign_up(
        ctx.session,
        found.id,
        user_id=user,
        chat_id=chat_id,
        quantity=quantity,
        guide=_credited_guide(ctx, user, found),
        at=ctx.now(),
        answers=answers,
    )
    deal = result.deal or found
    if result.status == "closed":
        return ctx.text("groupbuy_closed", code=deal.code, title=deal.title)
    if result.status == "limit":
        return ctx.text("groupbuy_over_limit", code=deal.code, limit=deal.per_member_limit, quantity=quantity)
    signup = result.signup
    assert signup is not None
    if result.status == "already":
        state = ctx.text(f"groupbuy_status_{signup.status}")
        return ctx.text(
            "groupbuy_already", code=deal.code, number=signup.number, status=state, command=command_name(ctx, "取消")
        )
    record_activity(ctx.session, chat_id=chat_id or deal.chat_id, user_id=user, at=ctx.now(), kind="signup")
    if result.status == "waitlisted":
        return ctx.text(
            "groupbuy_waitlisted", code=deal.code, title=deal.title, number=signup.number, position=result.position
        )
    replies = [
        Reply(
            ctx.text(
                "groupbuy_joined",
                code=deal.code,
                title=deal.title,
                number=signup.number,
                quantity=quantity,
                amount=yuan(quantity * deal.price_cents),
                left=deal.places - deal.taken,
            )
        )
    ]
    if GROUPBUY_SECTION.of(ctx.config).close_when_full and deal.taken >= deal.places:
        closed = groupbuy.close(ctx.session, deal.id, by="full", at=ctx.now())
        if closed is not None:
            replies.extend(settle_close(ctx.session, ctx.config, closed, ctx.now()))
    return replies


def _answers(words: list[str]) -> tuple[list[str], dict[str, str]]:
    """Split 接龙's words into the positional ones (团号, 数量) and the answers typed as 名称=值."""
    positional: list[str] = []
    given: dict[str, str] = {}
    for word in words:
        folded = fold_width(word)
        if "=" in folded:
            name, _, value = folded.partition("=")
            given[name.strip()] = value.strip()
        else:
            positional.append(word)
    return positional, given


def _check_answers(
    ctx: Context, deal: Deal, given: dict[str, str], join_word: str, quantity: int
) -> dict[str, str] | str:
    """Return the answers to the deal's fields, or the reply asking for what is missing or unknown."""
    wanted = deal.field_names
    unknown = [name for name in given if name not in wanted]
    if unknown:
        if not wanted:
            return ctx.text("groupbuy_no_fields", code=deal.code, names="、".join(unknown))
        return ctx.text("groupbuy_unknown_field", names="、".join(unknown), fields="、".join(wanted))
    missing = [name for name in wanted if not given.get(name)]
    if missing:
        example = " ".join(f"{name}=…" for name in wanted)
        return ctx.text(
            "groupbuy_missing_fields",
            code=deal.code,
            names="、".join(missing),
            example=f"{join_word} {deal.code} {quantity} {example}",
        )
    too_long = [name for name, value in given.items() if len(value) > MAX_ANSWER]
    if too_long:
        return ctx.text("groupbuy_answer_too_long", names="、".join(too_long), max=MAX_ANSWER)
    return {name: given[name] for name in wanted}


@command("取消", aliases=["取消报名", "取消接龙"], role="member", examples=[("取消 NOPE", "没有团号")])
def cancel(ctx: Context, args: str) -> list[Reply] | str | None:
    """取消报名：取消 团号（群里只有一个团时可省略团号）；空出的名额按顺序给候补。"""
    user = ctx.member.user_id
    if not user:
        return None
    words = split_words(args)
    cancel_word = command_name(ctx, "取消")
    if not words:
        # 「取消」 alone means the one open deal the member is in (here, in a group); several are listed.
        mine = groupbuy.open_signups_of(ctx.session, user, ctx.chat.chat_id if ctx.chat else None)
        if len(mine) > 1:
            lines = [ctx.text("groupbuy_cancel_which", command=cancel_word)]
            lines += [
                ctx.text("groupbuy_cancel_choice", code=d.code, title=d.title, number=s.number, quantity=s.quantity)
                for s, d in mine
            ]
            return "\n".join(lines)
        words = [mine[0][1].code] if mine else []
    if len(words) != 1:
        return ctx.text("groupbuy_cancel_usage", command=cancel_word)
    found = _find(ctx, words[0])
    if isinstance(found, str):
        return found
    result = groupbuy.cancel(ctx.session, found.id, user_id=user, at=ctx.now())
    if result.status == "missing":
        return ctx.text("groupbuy_not_signed_up", code=found.code, command=command_name(ctx, "接龙"))
    if result.status == "closed":
        return ctx.text("groupbuy_cancel_closed", code=found.code)
    assert result.deal is not None and result.signup is not None
    deal = result.deal
    replies = [Reply(ctx.text("groupbuy_cancelled", code=deal.code, title=deal.title, number=result.signup.number))]
    return replies + promotion_notices(ctx, deal, result.promoted)


def promotion_notices(ctx: Context, deal: Deal, promoted: Sequence[Signup]) -> list[Reply]:
    """Tell each member moved off the waitlist (a cancel or more places freed room) that they are in."""
    notices = []
    for signup in promoted:
        text = ctx.text(
            "groupbuy_promoted",
            code=deal.code,
            title=deal.title,
            number=signup.number,
            quantity=signup.quantity,
            amount=yuan(signup.quantity * deal.price_cents),
        )
        notices.append(member_notice(ctx.session, ctx.config, deal, signup, text, ctx.now()))
    return notices


@command("我的团购", aliases=["mygroupbuys"], role="member", examples=[("我的团购", "还没有")])
def my_signups(ctx: Context, args: str) -> str | None:
    """查看我报名的团购与跟团号。"""
    user = ctx.member.user_id
    if not user:
        return None
    found = groupbuy.of_member(ctx.session, user, GROUPBUY_SECTION.of(ctx.config).my_list_size)
    if not found:
        return ctx.text("groupbuy_mine_empty", command=command_name(ctx, "接龙"))
    lines = [ctx.text("groupbuy_mine_header")]
    for signup, deal in found:
        state = (
            deal_state(ctx.config, deal) if deal.status == "closed" else ctx.text(f"groupbuy_status_{signup.status}")
        )
        lines.append(
            ctx.text(
                "groupbuy_mine_line",
                code=deal.code,
                title=deal.title,
                number=signup.number,
                quantity=signup.quantity,
                amount=yuan(signup.quantity * deal.price_cents),
                status=state,
                deadline=_local(ctx.config, deal.deadline_at),
            )
        )
    return "\n".join(lines)


def deal_state(config: Config, deal: Deal) -> str:
    """Say whether a deal is open, formed or did not form."""
    return _render(config, f"groupbuy_state_{deal.outcome or deal.status}")


def staff_deal(ctx: Context, code: str) -> Deal | str:
    """The deal `code` names, when the asking guide may act on it; else the sentence saying why not."""
    found = _find(ctx, code)
    if isinstance(found, str) or _in_scope(ctx, found):
        return found
    return _scope_denied(ctx, found)


@command("截团", aliases=["closegroupbuy"], role="guide", examples=[("截团 NOPE", "没有团号")])
def close_deal(ctx: Context, args: str) -> list[Reply] | str:
    """导购截团：截团 团号，立即结束接龙并公布是否成团。"""
    words = split_words(args)
    if len(words) != 1:
        return ctx.text("groupbuy_close_usage", command=command_name(ctx, "截团"))
    found = staff_deal(ctx, words[0])
    if isinstance(found, str):
        return found
    closed = groupbuy.close(ctx.session, found.id, by=ctx.member.user_id or "unknown", at=ctx.now())
    if closed is None:
        return ctx.text("groupbuy_already_closed", code=found.code, state=deal_state(ctx.config, found))
    notices = settle_close(ctx.session, ctx.config, closed, ctx.now())
    here = ctx.chat is not None and ctx.chat.chat_id == closed.deal.chat_id
    if here:
        # Closed in its own group: the announcement is the answer, not a second push.
        return [Reply(notices[0].text, mentions=notices[0].mentions), *notices[1:]]
    state = deal_state(ctx.config, closed.deal)
    return [Reply(ctx.text("groupbuy_close_done", code=closed.deal.code, state=state)), *notices]


@command("团购名单", aliases=["roster"], role="guide", examples=[("团购名单 NOPE", "没有团号")])
def roster(ctx: Context, args: str) -> str:
    """导购查看接龙名单：团购名单 团号（跟团号、名字、数量、导购）。"""
    words = split_words(args)
    if len(words) != 1:
        return ctx.text("groupbuy_roster_usage", command=command_name(ctx, "团购名单"))
    found = staff_deal(ctx, words[0])
    if isinstance(found, str):
        return found
    return roster_text(ctx.session, ctx.config, found)


def roster_text(session: Session, config: Config, deal: Deal) -> str:
    """The numbered roster of a deal, confirmed then waitlisted, with totals."""
    confirmed = groupbuy.signups(session, deal.id, "confirmed")
    waiting = groupbuy.signups(session, deal.id, "waitlisted")
    people = display_names(session, [s.user_id for s in confirmed + waiting] + [s.guide for s in confirmed if s.guide])
    quantity = sum(s.quantity for s in confirmed)
    lines = [
        _render(
            config,
            "groupbuy_roster_header",
            code=deal.code,
            title=deal.title,
            state=deal_state(config, deal),
            members=len(confirmed),
            quantity=quantity,
            amount=yuan(quantity * deal.price_cents),
            places=deal.places,
        )
    ]
    for signup in confirmed[:ROSTER_LINES]:
        guide = people.get(signup.guide, signup.guide) if signup.guide else _render(config, "groupbuy_no_guide")
        line = _render(
            config,
            "groupbuy_roster_line",
            number=signup.number,
            name=people[signup.user_id],
            quantity=signup.quantity,
            guide=guide,
        )
        answers = signup.answer_map
        if answers:
            line += " " + " ".join(f"{name}={answers.get(name, '')}" for name in deal.field_names)
        lines.append(line)
    if len(confirmed) > ROSTER_LINES:
        lines.append(_render(config, "groupbuy_roster_more", count=len(confirmed) - ROSTER_LINES))
    if waiting:
        names = "、".join(
            _render(config, "groupbuy_roster_waiting", name=people[s.user_id], quantity=s.quantity)
            for s in waiting[:ROSTER_LINES]
        )
        waiting_quantity = sum(s.quantity for s in waiting)
        lines.append(
            _render(config, "groupbuy_roster_waitlist", count=len(waiting), quantity=waiting_quantity, names=names)
        )
    if not confirmed and not waiting:
        lines.append(_render(config, "groupbuy_roster_empty"))
    return "\n".join(lines)


def member_notice(
    session: Session, config: Config, deal: Deal, signup: Signup, text: str, now: datetime | None = None
) -> Reply:
    """Tell one member something 1:1: staff by app message; a WeChat customer by 微信客服, else through their guide.

    An app message reaches only people in the company directory; 微信客服 reaches a customer only within
    48 hours of their last message there, so outside it the guide gets the note to pass on.
    """
    if not signup.user_id.startswith(EXTERNAL_ID_PREFIXES):
        return Reply(text, to_user=signup.user_id)
    if now is not None and window_open(session, signup.user_id, now):
        return Reply(text, to_user=signup.user_id)
    name = display_names(session, [signup.user_id])[signup.user_id]
    relay = _render(config, "groupbuy_relay", name=name, user=signup.user_id, message=text)
    return Reply(relay, to_user=signup.guide or deal.opened_by)


def _group_reply(config: Config, deal: Deal, text: str, mentions: Iterable[str] = ()) -> Reply:
    # A chat the YAML does not list has no push transport; its opener hears instead of a failing push.
    if deal.chat_id and config.group(deal.chat_id) is not None:
        return Reply(text, to_chat=deal.chat_id, mentions=tuple(mentions))
    return Reply(text, to_user=deal.opened_by)


def settle_close(session: Session, config: Config, closed: Closed, now: datetime) -> list[Reply]:
    """Credit a formed deal's members their points; return the group announcement (first) and the member notices."""
    deal = closed.deal
    quantity = sum(s.quantity for s in closed.confirmed)
    fields = {
        "code": deal.code,
        "title": deal.title,
        "members": len(closed.confirmed),
        "quantity": quantity,
        "amount": yuan(quantity * deal.price_cents),
        "min_members": deal.min_members,
    }
    if closed.formed:
        replies = [_group_reply(config, deal, _render(config, "groupbuy_formed", **fields))]
        _credit_points(session, config, deal, closed.confirmed, now)
        note = _render(config, "groupbuy_member_waitlist_closed", **fields)
        replies.extend(member_notice(session, config, deal, s, note, now) for s in closed.waitlisted)
        return replies
    replies = [_group_reply(config, deal, _render(config, "groupbuy_not_formed", **fields))]
    note = _render(config, "groupbuy_member_not_formed", **fields)
    replies.extend(member_notice(session, config, deal, s, note, now) for s in closed.confirmed + closed.waitlisted)
    return replies


def _credit_points(session: Session, config: Config, deal: Deal, confirmed: list[Signup], now: datetime) -> None:
    points = GROUPBUY_SECTION.of(config).points_per_signup
    if not points:
        return
    day = POINTS_SECTION.of(config).day(now, config.zone)
    # Keyed per deal and member: a second close (or a retried one) can never credit twice.
    members = dict.fromkeys(signup.user_id for signup in confirmed)
    ledger.post_many(
        session,
        [ledger.Credit(user_id=user, delta=points, key=f"groupbuy:{deal.id}:{user}") for user in members],
        reason="groupbuy",
        actor="system",
        at=now,
        day=day,
        chat_id=deal.chat_id,
        note=deal.code,
        daily_cap=POINTS_SECTION.of(config).cap,
    )


def close_due_groupbuys(session_factory: sessionmaker[Session], config: Config, now: datetime) -> int:
    """Close every open deal whose deadline has passed, announcing each once; return how many this call closed.

    Each deal closes in its own transaction with its announcements queued in the outbox, so two
    processes running this at once close (and announce) every deal exactly once between them.
    """
    with session_factory() as session:
        ids = groupbuy.due(session, now)
    count = 0
    for deal_id in ids:
        with session_factory.begin() as session:
            closed = groupbuy.close(session, deal_id, by="deadline", at=now)
            if closed is None:
                continue
            for reply in settle_close(session, config, closed, now):
                queue_reply(session, reply, now, origin=f"groupbuy:{closed.deal.code}:close")
            count += 1
            log.info("group-buy %s closed at its deadline: %s", closed.deal.code, closed.deal.outcome)
    return count
