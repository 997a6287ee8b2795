"""The admin console: what the bot did, per group, member, deal, quiz and guide, with charts and tables.

Admins see everything; a guide sees the groups they own (and deals they opened) and may act only there.
Every action is a POST with the session's CSRF token and lands in the audit table shown on 概览.
The pages' sentences live in their templates (templates/console/): they are page furniture, not chat
messages, so they are not part of `texts:` (which holds only what the bot says in WeCom).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, redirect, render_template, request, session
from openpyxl import Workbook
from sqlalchemy.orm import Session

from bot.cli.common import CSV_ENCODING, safe_cells
from bot.config.core import Config, GroupConfig
from bot.events import Event
from bot.transports.limiter import days_in_month, window
from bot.web.auth import config, current_user, may_see, role_of, safe_next, services
from models import console_audit, console_queries, ledger, rate_limit, scheduler_lease
from models import groupbuy as deals_model
from models import nudge as nudges
from models import outbox as outbox_rows
from models import quiz as quiz_model
from models.membership import display_names, guide_of, member_count

blueprint = Blueprint("console", __name__, url_prefix="/web/console", template_folder="templates")
F = TypeVar("F", bound=Callable[..., Any])

# WeCom's web login for browsers outside WeCom (构造企业微信登录链接, login_type=CorpApp for a self-built
# app): developer.work.weixin.qq.com/document/path/98152. It returns to redirect_uri with code and state;
# the code is exchanged like the in-app OAuth code (auth/getuserinfo, document/path/98176).
WEB_LOGIN_URL = "https://login.work.weixin.qq.com/wwlogin/sso/login"
SCHEDULER_LEASE = "scheduler"  # scheduler.leader.LEASE_NAME (bot/ does not import scheduler/)

SOURCES = {"app": "自建应用", "aibot": "智能机器人", "kf": "微信客服", "web": "网页", "console": "本地调试"}
CHANNELS = {"group": "群消息", "app_message": "应用消息", "aibot_response": "机器人回复", "kf": "微信客服"}
STATES = {"pending": "待发送", "waiting": "等导购发送", "sending": "发送中", "sent": "已发送", "failed": "失败"}
ROUTES = {
    "webhook": "群机器人",
    "appchat": "应用群聊",
    "customer_task": "群发任务",
    "console": "本地打印",
    "sidebar": "侧边栏（导购发送）",
    "kf": "微信客服",
}
REASONS = {
    "checkin": "签到",
    "quiz": "竞猜",
    "groupbuy": "团购",
    "manual": "手动调整",
    "redeem": "兑换",
    "refund": "退回",
}
SIGNUPS = {"confirmed": "已确认", "waitlisted": "候补", "cancelled": "已取消"}
REDEMPTIONS = {"pending": "待发放", "fulfilled": "已发放", "cancelled": "已取消"}
NUDGE_ACTIONS = {"group_mention": "群内提醒", "private_note": "私信提醒", "tell_guide": "告知导购"}
NUDGE_OUTCOMES = {"sent": "已发送", "holdout": "对照组（不发送）", "unreachable": "无法触达"}
KINDS = {"customer": "客户群", "internal": "内部群"}


# --- who is looking ----------------------------------------------------------------------------------


def console_login_required(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if request.method == "GET":
                return redirect("/web/console/login?" + urlencode({"next": request.full_path.rstrip("?")}))
            abort(401, "not signed in")
        return func(*args, **kwargs)

    return cast(F, wrapper)


def viewer() -> str:
    return current_user() or ""


def is_admin() -> bool:
    return role_of(viewer()) == "admin"


def my_groups(current: Config | None = None) -> list[GroupConfig]:
    current = current or config()
    return [g for g in current.groups if may_see(viewer(), g)]


def scope() -> list[str] | None:
    """The chats whose figures this viewer may see; None for an admin (all)."""
    return None if is_admin() else [g.chat_id for g in my_groups()]


def admin_only() -> None:
    if not is_admin():
        abort(403, "管理员可见")


# --- names, never ids ---------------------------------------------------------------------------------


def stand_in(user_id: str, word: str = "成员") -> str:
    """A friendly name for someone group sync has not named yet: stable, short, not their id."""
    return f"{word}·{hashlib.sha1(user_id.encode()).hexdigest()[:4]}"


class Names:
    """People's names from group sync, looked up once per page; unknowns get a stand-in."""

    def __init__(self, db: Session, current: Config):
        self._db = db
        self._config = current
        self._known: dict[str, str] = {}

    def load(self, user_ids: Iterable[str | None]) -> None:
        wanted = {u for u in user_ids if u and u not in self._known}
        if wanted:
            self._known.update(display_names(self._db, wanted))

    def __call__(self, user_id: str | None) -> str:
        if not user_id:
            return "—"
        if user_id not in self._known:
            self.load([user_id])
        name = self._known.get(user_id, user_id)
        if name != user_id:
            return name
        role = self._config.roles.role_of(user_id)
        return stand_in(user_id, {"admin": "管理员", "guide": "导购"}.get(role, "成员"))

    def group(self, chat_id: str | None) -> str:
        group = self._config.group(chat_id) if chat_id else None
        return group.name if group is not None else ("私聊" if not chat_id else stand_in(chat_id, "群"))


# --- pages' shared pieces --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """One chart and its table: categories along x, one or more named series of numbers."""

    id: str
    kind: str  # line | bar
    x: list[str]
    series: list[tuple[str, list[float]]]
    unit: str = ""

    def spec(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "x": self.x,
                "unit": self.unit,
                "series": [{"name": n, "data": d} for n, d in self.series],
            },
            ensure_ascii=False,
        )

    def rows(self) -> list[tuple[str, list[float]]]:
        return [(label, [data[i] for _, data in self.series]) for i, label in enumerate(self.x)]


def local(at: datetime | None) -> str:
    return at.astimezone(config().zone).strftime("%Y-%m-%d %H:%M") if at else "—"


def yuan(cents: int) -> str:
    return f"{cents / 100:.2f}"


def day_label(day: date) -> str:
    return f"{day.month}/{day.day}"


def local_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), config().zone)


def render(template: str, **values: Any) -> str:
    return render_template(
        f"console/{template}",
        is_admin=is_admin(),
        local=local,
        yuan=yuan,
        flash=session.pop("console_flash", []),
        **values,
    )


def flash(text: str) -> None:
    session.setdefault("console_flash", []).append(text)
    session.modified = True


def audit(db: Session, action: str, target: str, result: str | None) -> None:
    console_audit.record(db, actor=viewer(), action=action, target=target, at=services().clock.now(), result=result)


def route_of(current: Config, row: outbox_rows.OutboxMessage) -> str:
    if row.delivered_by:
        return ROUTES["sidebar"]
    group = current.group(row.target) if row.channel == "group" else None
    return ROUTES.get(group.push, group.push) if group is not None else CHANNELS.get(row.channel, row.channel)


def preview(row: outbox_rows.OutboxMessage, width: int = 48) -> str:
    payload = row.payload or {}
    text = " ".join(str(payload.get("content") or payload.get("title") or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def hint(error: str | None) -> str:
    """What to do about a failed row, in words an operator acts on."""
    text = error or ""
    if "not listed under groups" in text:
        return "这个群不在配置的群列表里：在配置中加上它，再点重试。"
    if "webhook_key" in text:
        return "群机器人地址未配置：把群机器人的 key 填入配置，再点重试。"
    if "expired" in text or "过期" in text:
        return "群发任务过期未发送：提醒导购在企业微信中确认，或点重试生成新任务。"
    if "gave up" in text:
        return "多次发送仍未成功：检查网络和企业微信配置后点重试。"
    if "errcode" in text:
        return "企业微信拒绝了这条消息：查看错误码说明后点重试。"
    return "发送失败：确认原因后可点重试。"


# --- sign-in ------------------------------------------------------------------------------------------


@blueprint.get("/login")
def login():  # type: ignore[no-untyped-def]
    """A browser outside WeCom: sign in by scanning WeCom's QR code; inside WeCom the in-app OAuth works."""
    target = safe_next(request.args.get("next") or "/web/console")
    current = config()
    ready = bool(current.web.public_url and current.wecom.corp_id and current.wecom.agent_id)
    inside = "wxwork" in request.headers.get("User-Agent", "").lower()
    return render_template("console/login.html", ready=ready, inside=inside, next=target)


@blueprint.get("/login/wecom")
def login_wecom():  # type: ignore[no-untyped-def]
    """Send the browser to WeCom's web login (scan with the WeCom app); it returns to /web/oauth."""
    current = config()
    if not (current.web.public_url and current.wecom.corp_id and current.wecom.agent_id):
        abort(503, "web.public_url, wecom.corp_id and wecom.agent_id are needed for WeCom's web login")
    state = secrets.token_urlsafe(16)
    session["oauth_state"] = state
    session["oauth_next"] = safe_next(request.args.get("next") or "/web/console")
    query = urlencode(
        {
            "login_type": "CorpApp",
            "appid": current.wecom.corp_id,
            "agentid": current.wecom.agent_id,
            "redirect_uri": current.web.public_url + "/web/oauth",
            "state": state,
        }
    )
    return redirect(f"{WEB_LOGIN_URL}?{query}")


# --- 概览 ---------------------------------------------------------------------------------------------


@blueprint.get("")
@console_login_required
def overview():  # type: ignore[no-untyped-def]
    current = config()
    now = services().clock.now()
    zone = current.zone
    days = console_queries.local_days(now, 7, zone)
    today_start = local_day_start(days[-1])
    week_start = local_day_start(days[0])
    chats = scope()
    groups = my_groups(current)
    data: dict[str, Any] = {}
    with services().session_factory() as db:
        names = Names(db, current)
        if chats is None:
            today = console_queries.events_by_source(db, today_start)
            week = console_queries.events_by_source(db, week_start)
            sources = sorted(set(today) | set(week))
            data["inbound"] = [(SOURCES.get(s, s), today.get(s, 0), week.get(s, 0)) for s in sources]
            per_day = console_queries.events_per_day(db, days, week_start, zone)
            data["inbound_chart"] = Chart(
                "chart-inbound",
                "bar",
                [day_label(d) for d in days],
                [(SOURCES.get(s, s), [float(v) for v in values]) for s, values in per_day.items()],
                "条",
            )
            out_today = console_queries.sent_by_purpose(db, today_start)
            out_week = console_queries.sent_by_purpose(db, week_start)
            data["outbound"] = [
                ("回复", out_today.get("answer", 0), out_week.get("answer", 0)),
                ("推送", out_today.get("push", 0), out_week.get("push", 0)),
            ]
            data["states"] = [
                (STATES.get(s, s), CHANNELS.get(c, c), n) for s, c, n in console_queries.outbox_by_state(db)
            ]
            lease = scheduler_lease.current(db, SCHEDULER_LEASE)
            data["leader"] = lease.holder if lease is not None and lease.expires_at > now else None
            data["audit"] = [
                (local(a.at), names(a.actor), a.action, a.target, a.result or "") for a in console_audit.recent(db, 20)
            ]
        failed = console_queries.failed_rows(db, chats)
        data["failed"] = [
            (
                row.id,
                local(row.created_at),
                names.group(row.target) if row.channel == "group" else names(row.target),
                preview(row),
                hint(row.last_error),
                row.last_error or "",
            )
            for row in failed
        ]
        month = window("month", now, zone)[0]
        cap = current.outbound.limits.customer_task_per_month or days_in_month(now, zone)
        data["caps"] = [
            (g.name, rate_limit.used(db, f"customer_task:{g.chat_id}/month", month), cap)
            for g in groups
            if g.kind == "customer" and g.push == "customer_task"
        ]
        data["waiting"] = [(g.name, outbox_rows.count_waiting(db, [g.chat_id])) for g in groups if g.kind == "customer"]
    holder = services().holder
    version = hashlib.sha256(current.model_dump_json().encode()).hexdigest()[:8]
    return render(
        "overview.html",
        data=data,
        version=version,
        config_error=str(holder.last_error) if holder.last_error else None,
        held=holder.held.describe() if holder.held else None,
    )


@blueprint.post("/outbox/<int:row_id>/retry")
@console_login_required
def retry(row_id: int):  # type: ignore[no-untyped-def]
    """重试 one failed row: a fresh attempt budget; a guide only for their own groups."""
    with services().session_factory.begin() as db:
        row = db.get(outbox_rows.OutboxMessage, row_id)
        chats = scope()
        if row is None or (chats is not None and not (row.channel == "group" and row.target in chats)):
            abort(403, "不是你负责的群")
        done = outbox_rows.requeue_failed(db, services().clock.now(), [row_id])
        result = "已重新排队" if done else "这条消息不是失败状态，未改动"
        audit(db, "重试", f"消息 #{row_id}", result)
    flash(result)
    return redirect("/web/console")


# --- 群 -------------------------------------------------------------------------------------------------


@blueprint.get("/groups")
@console_login_required
def groups():  # type: ignore[no-untyped-def]
    current = config()
    with services().session_factory() as db:
        rows = [
            (g, KINDS.get(g.kind, g.kind), ROUTES.get(g.push, g.push), member_count(db, g.chat_id))
            for g in my_groups(current)
        ]
        names = Names(db, current)
        guides = {g.chat_id: names(g.guide) if g.guide else "—" for g in my_groups(current)}
    return render("groups.html", rows=rows, guides=guides)


@blueprint.get("/group/<chat_id>")
@console_login_required
def group(chat_id: str):  # type: ignore[no-untyped-def]
    current = config()
    found = current.group(chat_id)
    if found is None or not may_see(viewer(), found):
        abort(403, "不是你负责的群")
    now = services().clock.now()
    zone = current.zone
    days = console_queries.local_days(now, 30, zone)
    dormant_days = int(getattr(getattr(current, "reactivation", None), "dormant_days", 7))
    with services().session_factory() as db:
        names = Names(db, current)
        joins, leaves = console_queries.changes_per_day(db, chat_id, days, local_day_start(days[0]), zone)
        chart = Chart(
            "chart-members",
            "bar",
            [day_label(d) for d in days],
            [("入群", [float(v) for v in joins]), ("退群", [float(v) for v in leaves])],
            "人",
        )
        active, dormant = console_queries.active_and_dormant(
            db, chat_id, active_since=now - timedelta(days=7), dormant_before=now - timedelta(days=dormant_days)
        )
        planned = [
            (at.strftime("%m-%d %H:%M"), summary, "已发送" if done else "待发送")
            for at, chat, summary, done in services().registry.upcoming(db, current, now, 7)
            if chat == chat_id
        ]
        sent = [
            (local(r.sent_at), route_of(current, r), names(r.delivered_by) if r.delivered_by else "机器人", preview(r))
            for r in console_queries.sent_to_chat(db, chat_id, now - timedelta(days=7))
        ]
        since = (now - timedelta(days=30)).astimezone(zone).date()
        points = ledger.leaderboard(db, chat_id=chat_id, since=since, limit=10)
        names.load(u for u, _ in points)
        board = [(names(u), p) for u, p in points]
        members = member_count(db, chat_id)
    return render(
        "group.html",
        group=found,
        kind=KINDS.get(found.kind, found.kind),
        route=ROUTES.get(found.push, found.push),
        chart=chart,
        members=members,
        active=active,
        dormant=dormant,
        dormant_days=dormant_days,
        planned=planned,
        sent=sent,
        board=board,
        joins=sum(joins),
        leaves=sum(leaves),
    )


# --- 成员 -----------------------------------------------------------------------------------------------


@blueprint.get("/members")
@console_login_required
def members():  # type: ignore[no-untyped-def]
    text = " ".join(request.args.get("q", "").split())[:64]
    current = config()
    found: list[tuple[str, str]] = []
    if text:
        with services().session_factory() as db:
            names = Names(db, current)
            for user, _name in console_queries.find_members(db, text, scope()):
                found.append((user, names(user)))
    return render("members.html", q=text, found=found)


@blueprint.get("/member/<user_id>")
@console_login_required
def member(user_id: str):  # type: ignore[no-untyped-def]
    current = config()
    chats = scope()
    with services().session_factory() as db:
        names = Names(db, current)
        memberships = console_queries.member_chats(db, user_id)
        if chats is not None and not any(m.chat_id in chats for m in memberships):
            abort(403, "不是你负责的群的成员")
        balance, earned = ledger.account_of(db, user_id)
        credited = guide_of(db, user_id)
        groups_in = [
            (names.group(m.chat_id), local(m.joined_at), local(m.left_at) if m.left_at else "在群") for m in memberships
        ]
        entries = [
            (local(e.created_at), REASONS.get(e.reason, e.reason), e.delta, names.group(e.chat_id), e.note or "")
            for e in console_queries.ledger_of(db, user_id)
        ]
        checkins = [(c.day.isoformat(), c.streak, c.points) for c in console_queries.checkins_of(db, user_id)]
        signups = [
            (d.title, s.number, s.quantity, SIGNUPS.get(s.status, s.status), local(s.created_at))
            for s, d in deals_model.of_member(db, user_id, 30)
        ]
        redemptions = [
            (r.name, r.cost, REDEMPTIONS.get(r.status, r.status), local(r.created_at))
            for r in console_queries.redemptions_of(db, user_id)
        ]
        answers = [
            (
                local(a.answered_at),
                str((q.question or {}).get("question", "")),
                a.answer,
                "对" if a.correct else "错",
                a.points,
            )
            for a, q in console_queries.quiz_answers_of(db, user_id)
        ]
        nudged = [
            (
                local(n.at),
                names.group(n.chat_id),
                NUDGE_ACTIONS.get(n.action, n.action),
                NUDGE_OUTCOMES.get(n.outcome, n.outcome),
                local(n.reactivated_at) if n.reactivated_at else "—",
            )
            for n in console_queries.nudges_of(db, user_id)
        ]
        name = names(user_id)
        guide_name = names(credited) if credited else "—"
    return render(
        "member.html",
        name=name,
        balance=balance,
        earned=earned,
        guide=guide_name,
        groups_in=groups_in,
        entries=entries,
        checkins=checkins,
        signups=signups,
        redemptions=redemptions,
        answers=answers,
        nudged=nudged,
    )


# --- 团购 -----------------------------------------------------------------------------------------------


def _deal_state(deal: deals_model.Deal) -> str:
    if deal.status == "open":
        return "接龙中"
    return {"formed": "已成团", "not_formed": "未成团"}.get(deal.outcome or "", "已截团")


def _visible_deal(db: Session, deal_id: int) -> deals_model.Deal:
    deal = db.get(deals_model.Deal, deal_id)
    chats = scope()
    if deal is None:
        abort(404)
    if chats is not None and deal.chat_id not in chats and deal.opened_by != viewer():
        abort(403, "不是你负责的团购")
    return deal


@blueprint.get("/deals")
@console_login_required
def deals():  # type: ignore[no-untyped-def]
    current = config()
    with services().session_factory() as db:
        names = Names(db, current)
        found = console_queries.deals(db, scope(), viewer())
        rows = [
            (
                d.id,
                d.code,
                d.title,
                yuan(d.price_cents),
                f"{d.taken}/{d.places}",
                _deal_state(d),
                names.group(d.chat_id),
                names(d.opened_by),
                local(d.deadline_at),
                d.status == "open",
            )
            for d in found
        ]
    return render("deals.html", rows=rows)


@blueprint.get("/deal/<int:deal_id>")
@console_login_required
def deal(deal_id: int):  # type: ignore[no-untyped-def]
    current = config()
    with services().session_factory() as db:
        found = _visible_deal(db, deal_id)
        names = Names(db, current)
        roster = _roster(db, names, deal_id)
        info = {
            "id": found.id,
            "code": found.code,
            "title": found.title,
            "price": yuan(found.price_cents),
            "places": found.places,
            "taken": found.taken,
            "min": found.min_members,
            "state": _deal_state(found),
            "open": found.status == "open",
            "group": names.group(found.chat_id),
            "opened_by": names(found.opened_by),
            "deadline": local(found.deadline_at),
        }
    return render("deal.html", deal=info, roster=roster, headers=ROSTER_HEADERS)


ROSTER_HEADERS = ["跟团号", "名字", "数量", "状态", "导购", "报名时间"]


def _roster(db: Session, names: Names, deal_id: int) -> list[list[Any]]:
    signups = deals_model.signups(db, deal_id)
    names.load(s.user_id for s in signups)
    return [
        [
            s.number,
            names(s.user_id),
            s.quantity,
            SIGNUPS.get(s.status, s.status),
            names(s.guide) if s.guide else "—",
            local(s.created_at),
        ]
        for s in signups
    ]


@blueprint.get("/deal/<int:deal_id>/export.<fmt>")
@console_login_required
def export_deal(deal_id: int, fmt: str):  # type: ignore[no-untyped-def]
    with services().session_factory() as db:
        found = _visible_deal(db, deal_id)
        rows = _roster(db, Names(db, config()), deal_id)
        name = f"groupbuy-{found.code}"
    return _export(fmt, name, ROSTER_HEADERS, rows)


def _export(fmt: str, name: str, headers: list[str], rows: list[list[Any]]) -> Response:
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(headers)
        for row in rows:
            writer.writerow(safe_cells(row))
        return Response(
            buffer.getvalue().encode(CSV_ENCODING),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "xlsx":
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(headers)
        for row in rows:
            sheet.append(safe_cells(row))
        out = io.BytesIO()
        book.save(out)
        return Response(
            out.getvalue(),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    abort(404)


@blueprint.post("/deal/<int:deal_id>/close")
@console_login_required
def close_deal(deal_id: int):  # type: ignore[no-untyped-def]
    """截团: the guide's own command, so the group hears the outcome exactly as when typed in WeCom."""
    with services().session_factory() as db:
        found = _visible_deal(db, deal_id)
        code = found.code
    event = Event(
        kind="text",
        source="web",
        user_id=viewer(),
        chat_id=None,
        at=services().clock.now(),
        text=f"截团 {code}",
        msg_id=f"console-{secrets.token_hex(12)}",
    )
    answer = services().dispatcher.handle(event).passive_text or "已提交"
    with services().session_factory.begin() as db:
        audit(db, "截团", f"团购 {code}", answer)
    flash(answer)
    return redirect(f"/web/console/deal/{deal_id}")


# --- 竞猜 -----------------------------------------------------------------------------------------------


@blueprint.get("/quizzes")
@console_login_required
def quizzes():  # type: ignore[no-untyped-def]
    current = config()
    with services().session_factory() as db:
        names = Names(db, current)
        rows = []
        for q in console_queries.quizzes(db, scope()):
            answers = quiz_model.answers_of(db, q.id)
            names.load(a.user_id for a in answers)
            winners = "、".join(names(a.user_id) for a in answers if a.won) or "—"
            rows.append(
                (
                    local(q.started_at),
                    names.group(q.chat_id),
                    str((q.question or {}).get("question", "")),
                    len({a.user_id for a in answers}),
                    q.correct_count,
                    winners,
                    "进行中" if q.closed_at is None else "已结束",
                )
            )
    return render("quizzes.html", rows=rows)


# --- 唤醒 -----------------------------------------------------------------------------------------------


@blueprint.get("/reactivation")
@console_login_required
def reactivation():  # type: ignore[no-untyped-def]
    admin_only()
    days = _int_arg("days", 30, 7, 180)
    now = services().clock.now()
    with services().session_factory() as db:
        figures = nudges.figures(db, since=now - timedelta(days=days), until=now, within=timedelta(days=days))
    nudged, holdout = figures.nudged, figures.holdout
    rate_n = round(100 * nudged.rate, 1) if nudged.rate is not None else None
    rate_h = round(100 * holdout.rate, 1) if holdout.rate is not None else None
    lift = round(rate_n - rate_h, 1) if rate_n is not None and rate_h is not None else None
    chart = Chart("chart-lift", "bar", ["提醒组", "对照组"], [("回访率", [rate_n or 0.0, rate_h or 0.0])], "%")
    steps = Chart(
        "chart-steps",
        "bar",
        [f"第 {step} 步" for step in figures.sent_by_step],
        [("发送条数", [float(v) for v in figures.sent_by_step.values()])],
        "条",
    )
    return render(
        "reactivation.html",
        days=days,
        nudged=nudged,
        holdout=holdout,
        rate_n=rate_n,
        rate_h=rate_h,
        lift=lift,
        unreachable=figures.unreachable,
        lift_chart=chart,
        steps=steps,
    )


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(request.args.get(name, default))))
    except ValueError:
        return default


# --- 导购 -----------------------------------------------------------------------------------------------


def _date_arg(name: str, default: date) -> date:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return default


GUIDE_HEADERS = ["导购", "开团数", "报名数", "件数", "GMV（元）", "带来成员", "名下成员"]


def _guide_rows(start: date, end: date) -> list[list[Any]]:
    current = config()
    with services().session_factory() as db:
        names = Names(db, current)
        figures = deals_model.guide_report(db, local_day_start(start), local_day_start(end + timedelta(days=1)))
        credited = console_queries.members_credited(db)
        rows = []
        for f in figures:
            if not is_admin() and f.guide != viewer():
                continue
            rows.append(
                [
                    names(f.guide) if f.guide else "未归属",
                    f.deals_opened,
                    f.signups,
                    f.quantity,
                    yuan(f.gmv_cents),
                    f.members,
                    credited.get(f.guide, 0),
                ]
            )
    return rows


def _range() -> tuple[date, date]:
    today = services().clock.now().astimezone(config().zone).date()
    end = _date_arg("to", today)
    start = _date_arg("from", end - timedelta(days=29))
    if start > end:
        start, end = end, start
    return start, min(end, start + timedelta(days=366))


@blueprint.get("/guides")
@console_login_required
def guides():  # type: ignore[no-untyped-def]
    start, end = _range()
    rows = _guide_rows(start, end)
    labels = [str(r[0]) for r in rows]
    gmv = Chart("chart-guides", "bar", labels, [("GMV（元）", [float(r[4]) for r in rows])])
    people = Chart(
        "chart-guide-people",
        "bar",
        labels,
        [("报名数", [float(r[2]) for r in rows]), ("带来成员", [float(r[5]) for r in rows])],
        "人",
    )
    return render("guides.html", rows=rows, headers=GUIDE_HEADERS, gmv=gmv, people=people, start=start, end=end)


@blueprint.get("/guides/export.<fmt>")
@console_login_required
def export_guides(fmt: str):  # type: ignore[no-untyped-def]
    start, end = _range()
    return _export(fmt, f"guides-{start.isoformat()}-{end.isoformat()}", GUIDE_HEADERS, _guide_rows(start, end))
