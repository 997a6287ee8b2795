"""The guide's sidebar (聊天工具栏): what waits for this customer group, sent with one tap as the guide.

The page sends with the JS-SDK's sendChatMessage, so the message is the guide's own: no customer task,
no cap (developer.work.weixin.qq.com/document/path/96935). The flow keeps one copy per message: the page
claims the row (no drainer takes it meanwhile), sends, then reports delivered, or gives it back.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, session, url_for

from bot.config.core import Config, GroupConfig
from bot.events import Event
from bot.outbox import queue_reply
from bot.replies import Reply
from bot.transports.base import DeliveryError
from bot.web.auth import config, current_user, login_required, may_see, services, wecom_api
from bot.wecom.tickets import Tickets
from models import outbox as outbox_rows

log = logging.getLogger(__name__)
blueprint = Blueprint(
    "sidebar",
    __name__,
    url_prefix="/web",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# What each kind of waiting content is called on the page, by the origin its row was queued with.
KINDS = (
    ("quiz:", "竞猜结果"),
    ("calendar:", "今日内容"),
    ("groupbuy:", "团购"),
    ("sidebar:board", "榜单"),
    ("sidebar:groupbuy", "开团"),
    ("sidebar:quiz", "竞猜题目"),
)
BOARDS = {"points": "排行", "activity": "活跃榜"}
# WeCom's JS-SDK (npm @wecom/jssdk, its global build), shipped here and refreshed by `make jssdk`.
JSSDK_FILE = "wecom-jssdk.js"


@dataclass(frozen=True)
class Item:
    id: int
    kind: str
    text: str
    waiting: bool


def kind_of(row: outbox_rows.OutboxMessage) -> str:
    payload = row.payload or {}
    if (payload.get("on_send") or {}).get("hook") == "quiz_clock":
        return "竞猜题目"
    origin = row.origin or ""
    for prefix, label in KINDS:
        if origin.startswith(prefix):
            return label
    if origin.startswith("app:evt:change_external_chat"):
        return "入群欢迎"
    return "群消息"


def _group(chat_id: str) -> GroupConfig:
    user = current_user() or ""
    group = config().group(chat_id)
    if group is None or group.kind != "customer" or not may_see(user, group):
        abort(403, "this is not one of your customer groups")
    return group


def _flash(text: str) -> None:
    session.setdefault("flash", []).append(text)
    session.modified = True


@blueprint.app_context_processor
def _jssdk() -> dict[str, Any]:
    def jssdk_url() -> str:
        # Tests point this at a stub of the SDK; a deployment always serves the shipped file.
        return str(current_app.config.get("GROUPBOT_JSSDK_URL") or url_for("sidebar.static", filename=JSSDK_FILE))

    return {"jssdk_url": jssdk_url}


# --- pages ----------------------------------------------------------------------------------------------


@blueprint.get("/sidebar")
@login_required
def entry():  # type: ignore[no-untyped-def]
    """The toolbar's address: the JS-SDK says which chat is open and the page moves there."""
    current = config()
    return render_template("entry.html", corp_id=current.wecom.corp_id, agent_id=current.wecom.agent_id)


@blueprint.get("/sidebar/group/<chat_id>")
@login_required
def group_page(chat_id: str):  # type: ignore[no-untyped-def]
    group = _group(chat_id)
    current = config()
    with services().session_factory() as db:
        rows = outbox_rows.sendable_for_chat(db, chat_id)
    items = [Item(r.id, kind_of(r), str((r.payload or {}).get("content", "")), r.status == "waiting") for r in rows]
    questions = _questions(current)
    return render_template(
        "group.html",
        group=group,
        items=items,
        questions=questions,
        flash=session.pop("flash", []),
        corp_id=current.wecom.corp_id,
        agent_id=current.wecom.agent_id,
        grace=current.web.sidebar_grace_minutes,
    )


@blueprint.get("/sidebar/contact/<user_id>")
@login_required
def contact_page(user_id: str):  # type: ignore[no-untyped-def]
    """A customer 1:1: their points, tier, signups and redemptions, and links to send them."""
    user = current_user() or ""
    current = config()
    mine = [g for g in current.groups if g.kind == "customer" and may_see(user, g)]
    with services().session_factory() as db:
        lines = services().registry.profile_lines(db, current, user_id)
        links = [link for g in mine for link in services().registry.member_links(db, current, g.chat_id)]
    return render_template(
        "contact.html",
        customer=user_id,
        lines=lines,
        links=links,
        corp_id=current.wecom.corp_id,
        agent_id=current.wecom.agent_id,
    )


def _questions(current: Config) -> list[tuple[str, str]]:
    quiz = getattr(current, "quiz", None)
    return [(q.id, q.question) for q in getattr(quiz, "questions", [])]


# --- sending by hand ------------------------------------------------------------------------------------


@blueprint.post("/api/group/<chat_id>/claim/<int:row_id>")
@login_required
def claim(chat_id: str, row_id: int):  # type: ignore[no-untyped-def]
    """Take the row for this page; answer the exact text to hand to sendChatMessage."""
    _group(chat_id)
    user = current_user() or ""
    registry, current = services().registry, config()
    with services().session_factory.begin() as db:
        now = services().clock.now()
        if not outbox_rows.claim_for_guide(db, row_id, chat_id, user, now):
            return jsonify({"ok": False, "error": "已发送或已转为群发任务"}), 409
        row = db.get(outbox_rows.OutboxMessage, row_id)
        payload: dict[str, Any] = dict(row.payload if row is not None else {})
        hook_name = (payload.get("on_send") or {}).get("hook")
        hook = registry.send_hook(str(hook_name)) if hook_name else None
        if hook is not None:
            text = hook(db, current, payload, now)
            if text is not None:
                payload["content"] = text
                outbox_rows.set_content(db, row_id, payload)
    return jsonify({"ok": True, "msgtype": "text", "text": {"content": str(payload.get("content", ""))}})


@blueprint.post("/api/group/<chat_id>/delivered/<int:row_id>")
@login_required
def delivered(chat_id: str, row_id: int):  # type: ignore[no-untyped-def]
    _group(chat_id)
    with services().session_factory.begin() as db:
        done = outbox_rows.delivered_by_guide(db, row_id, current_user() or "", services().clock.now())
    return jsonify({"ok": done}), 200 if done else 409


@blueprint.post("/api/group/<chat_id>/release/<int:row_id>")
@login_required
def release(chat_id: str, row_id: int):  # type: ignore[no-untyped-def]
    _group(chat_id)
    with services().session_factory.begin() as db:
        done = outbox_rows.release_by_guide(db, row_id, current_user() or "")
    return jsonify({"ok": done})


# --- quick actions: the guide's own commands, as if typed 1:1 ------------------------------------------


def _dispatch(text: str, chat_id: str | None = None) -> list[str]:
    """Run `text` as the signed-in guide's command; return the answers meant for the guide (or the chat)."""
    event = Event(
        kind="text",
        source="web",
        user_id=current_user(),
        chat_id=chat_id,
        at=services().clock.now(),
        text=text,
        msg_id=f"web-{uuid.uuid4().hex}",
    )
    outcome = services().dispatcher.handle(event)
    return [reply.text for reply in outcome.passive]


@blueprint.post("/sidebar/group/<chat_id>/groupbuy")
@login_required
def open_groupbuy(chat_id: str):  # type: ignore[no-untyped-def]
    """开团 from a form: its fields become the command a guide would type, for this group."""
    _group(chat_id)
    form = request.form
    title = " ".join(form.get("title", "").split())
    fields = [title]
    for key, word in (("price", "价格"), ("places", "名额"), ("deadline", "截止"), ("min", "成团"), ("limit", "限购")):
        value = "".join(form.get(key, "").split())
        if value:
            fields.append(f"{word}={value}")
    fields.append(f"群={chat_id}")
    for answer in _dispatch("开团 " + " ".join(fields)):
        _flash(answer)
    return redirect(f"/web/sidebar/group/{chat_id}")


@blueprint.post("/sidebar/group/<chat_id>/quiz")
@login_required
def start_quiz(chat_id: str):  # type: ignore[no-untyped-def]
    """竞猜 开始 for this group; its question waits here and the clock starts when it is sent."""
    _group(chat_id)
    words = ["竞猜", "开始", chat_id]
    question = "".join(request.form.get("question", "").split())
    seconds = "".join(request.form.get("seconds", "").split())
    words += [w for w in (question, seconds) if w]
    for answer in _dispatch(" ".join(words)):
        _flash(answer)
    return redirect(f"/web/sidebar/group/{chat_id}")


@blueprint.post("/sidebar/group/<chat_id>/board")
@login_required
def board(chat_id: str):  # type: ignore[no-untyped-def]
    """Put the group's points or activity (check-in) board in the waiting list, to send with one tap."""
    _group(chat_id)
    command = BOARDS.get(request.form.get("board", ""))
    if command is None:
        abort(400, "unknown board")
    answers = _dispatch(command, chat_id=chat_id)
    now = services().clock.now()
    with services().session_factory.begin() as db:
        for text in answers:
            queue_reply(db, Reply(text, to_chat=chat_id), now, origin=f"sidebar:board:{request.form['board']}")
    return redirect(f"/web/sidebar/group/{chat_id}")


# --- the JS-SDK's signatures ----------------------------------------------------------------------------


@blueprint.get("/api/jssdk-signature")
@login_required
def signature():  # type: ignore[no-untyped-def]
    """config (corp ticket) or agentConfig (app ticket) signature for the page URL the SDK names."""
    url = request.args.get("url", "")
    public = config().web.public_url
    if not url or (public and not url.startswith(public + "/")):
        abort(400, "sign only this site's pages")
    tickets = Tickets(wecom_api())
    try:
        signed = tickets.signature(url, agent=request.args.get("agent") == "1")
    except DeliveryError as exc:
        log.warning("could not sign for the JS-SDK: %s", exc)
        abort(502, "WeCom did not give a jsapi ticket")
    return jsonify(signed.as_json())
