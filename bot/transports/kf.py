"""微信客服 (kf) replies to WeChat customers 1:1: kf/send_msg within the 48-hour, five-message window.

WeCom's rules, from its kf pages:
- kf/send_msg only while the session is 未处理 (0) or 由智能助手接待 (1), only within 48 hours of the
  customer's last message and at most 5 messages until they write again
  (https://developer.work.weixin.qq.com/document/path/94677);
- enter_session's welcome_code may be used once, within 20 seconds, with kf/send_msg_on_event
  (text or msgmenu) (https://developer.work.weixin.qq.com/document/path/95122);
- kf/service_state/get|trans read and change the session state (0 未处理, 1 智能助手, 2 待接入池,
  3 人工接待, 4 已结束) (https://developer.work.weixin.qq.com/document/path/94669).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.telemetry.metrics import observe_kf_window_wait
from bot.transports.base import Deferred, DeliveryError, OutgoingMessage
from bot.wecom.api import WecomApi
from models import kf as kf_rows

log = logging.getLogger(__name__)

WELCOME_CODE_VALID = timedelta(seconds=20)
# WeCom: a msgmenu holds at most 10 items (errcode 95008).
MENU_MAX_ITEMS = 10
STATE_UNHANDLED, STATE_ASSISTANT, STATE_POOL, STATE_HUMAN, STATE_ENDED = 0, 1, 2, 3, 4
BOT_MAY_SEND = frozenset({STATE_UNHANDLED, STATE_ASSISTANT})

# kf error codes (WeCom's global error-code page, https://developer.work.weixin.qq.com/document/path/90313).
WINDOW_CLOSED_ERRORS = frozenset({95002, 95024})
BUDGET_SPENT_ERROR = 95001
UNKNOWN_ACCOUNT_ERRORS = frozenset({95000, 95004})
STATE_ERRORS = frozenset({95016, 95018})
KF_HINTS: dict[int, str] = {
    95000: "the kf account (open_kfid) is invalid: copy it from 微信客服 → 客服账号 into kf.accounts",
    95004: "the kf account (open_kfid) does not exist in this corp (deleted?): fix kf.accounts",
    95001: "five replies were already sent since the customer last wrote: the rest wait until they write again",
    95002: "more than 48 hours since the customer's last message: kf may not write until they write again; "
    "reach them through their guide",
    95024: "the customer has not written within 48 hours: kf may not write first; reach them through their guide",
    95016: "WeCom does not allow this session state change (the session may be with a human servicer or ended)",
    95018: "the session is held by a human servicer or has ended: the bot may not send in it",
    95008: "a kf menu holds at most 10 items: shorten kf.menu",
    48002: "the app may not call 微信客服: in 微信客服 → API, add this app to 可调用接口的应用",
}


def _hinted(exc: DeliveryError) -> DeliveryError:
    hint = KF_HINTS.get(exc.errcode or 0)
    if hint and hint not in str(exc):
        # A kf code names a setting or a session state, not a passing fault: only the spent reply budget
        # clears by itself (when the customer writes); the API client retries codes it has no hint for.
        return DeliveryError(
            f"{exc}: {hint}",
            transient=exc.transient and exc.errcode == BUDGET_SPENT_ERROR,
            refused=exc.refused,
            errcode=exc.errcode,
            retry_after=exc.retry_after,
        )
    return exc


def kf_body(payload: dict[str, Any]) -> dict[str, Any]:
    """The message part of a kf/send_msg (or send_msg_on_event) body: text, or a msgmenu when the reply has items."""
    content = str(payload.get("content", ""))
    menu = [item for item in payload.get("menu") or [] if isinstance(item, list | tuple) and len(item) == 2]
    if menu:
        items = [{"type": "click", "click": {"id": str(i), "content": str(label)}} for i, label in menu]
        return {"msgtype": "msgmenu", "msgmenu": {"head_content": content, "list": items[:MENU_MAX_ITEMS]}}
    # kf has no markdown, and a link card needs an uploaded thumbnail: those go as their text form.
    return {"msgtype": "text", "text": {"content": content}}


class KfTransport:
    name = "kf_message"

    def __init__(self, api: WecomApi, session_factory: sessionmaker[Session], clock: Clock):
        self._api = api
        self._session_factory = session_factory
        self._clock = clock

    def send(self, message: OutgoingMessage) -> None:
        """Deliver one reply to a customer, or say why it waits (Deferred) or cannot go (DeliveryError)."""
        user = message.target
        now = self._clock.now()
        with self._session_factory.begin() as session:
            code = kf_rows.take_welcome_code(session, user, now, WELCOME_CODE_VALID)
        if code == "":
            with self._session_factory() as session:
                wrote = kf_rows.window_open(session, user, now)
            if not wrote:
                raise DeliveryError(
                    "kf: the welcome_code expired (WeCom allows 20 s) before the welcome could go, and the customer "
                    "has not written yet; they get the menu with 按钮 or any answer once they write",
                    transient=False,
                )
        if code:
            # A welcome rides the one-shot code and costs none of the five replies.
            try:
                self._api.call("kf/send_msg_on_event", {"code": code, **kf_body(message.payload)})
                self._after_send(user)
                return
            except DeliveryError as exc:
                if exc.transient and not exc.refused:
                    raise  # it may have arrived; the code is spent either way, so no second try with it
                log.warning("welcome code for %s refused (%s); sending within the reply window instead", user, exc)
        with self._session_factory.begin() as session:
            slot = kf_rows.take_reply_slot(session, user, now)
        if not slot.taken:
            raise self._no_slot(user, slot, now)
        try:
            self._ensure_state(user, slot.open_kfid)
            self._api.call("kf/send_msg", {"touser": user, "open_kfid": slot.open_kfid, **kf_body(message.payload)})
        except (DeliveryError, Deferred) as exc:
            if isinstance(exc, Deferred) or exc.refused:
                with self._session_factory.begin() as session:
                    kf_rows.give_back_slot(session, user)
            if isinstance(exc, DeliveryError) and exc.errcode == BUDGET_SPENT_ERROR and slot.window_ends:
                with self._session_factory.begin() as session:
                    kf_rows.spend_all(session, user)
                raise Deferred(slot.window_ends, KF_HINTS[BUDGET_SPENT_ERROR], backlog=True) from exc
            if isinstance(exc, DeliveryError) and exc.errcode in STATE_ERRORS:
                with self._session_factory.begin() as session:
                    kf_rows.set_service_state(session, user, None)
            if isinstance(exc, DeliveryError):
                raise _hinted(exc) from exc
            raise
        self._after_send(user)

    def _no_slot(self, user: str, slot: kf_rows.Slot, now: Any) -> Exception:
        if slot.spent and slot.window_ends is not None:
            # Visible in the outbox as the row's reason; the customer's next message makes it due at once.
            observe_kf_window_wait()
            return Deferred(
                slot.window_ends,
                "kf: five replies sent since the customer last wrote; waiting until they write again "
                f"(their window ends {slot.window_ends:%Y-%m-%d %H:%M} UTC)",
                backlog=True,
            )
        if slot.window_ends is None:
            return DeliveryError(
                f"kf: customer {user} has not written to 微信客服, and kf may not write first: "
                "share the group's kf link (groupbot kf link) or reach them through their guide",
                transient=False,
            )
        return DeliveryError(f"kf: {KF_HINTS[95002]}", transient=False, errcode=95002)

    def _ensure_state(self, user: str, open_kfid: str) -> None:
        """Take an unhandled session as 智能助手; refuse to write into one a human holds."""
        with self._session_factory() as session:
            row = kf_rows.customer(session, user)
            known = row.service_state if row else None
        if known == STATE_ASSISTANT:
            return
        answer = self._api.call("kf/service_state/get", {"open_kfid": open_kfid, "external_userid": user})
        state = int(answer.get("service_state", STATE_UNHANDLED))
        if state == STATE_UNHANDLED:
            self._api.call(
                "kf/service_state/trans",
                {"open_kfid": open_kfid, "external_userid": user, "service_state": STATE_ASSISTANT},
            )
            state = STATE_ASSISTANT
        with self._session_factory.begin() as session:
            kf_rows.set_service_state(session, user, state)
        if state not in BOT_MAY_SEND:
            raise DeliveryError(f"kf: session state {state}: {KF_HINTS[95018]}", transient=False, refused=True)

    def _after_send(self, user: str) -> None:
        """Hand the session to the guide the customer asked for (人工), now that the bot's answer is out."""
        with self._session_factory.begin() as session:
            guide = kf_rows.take_handoff(session, user)
            row = kf_rows.customer(session, user)
            open_kfid = row.open_kfid if row else ""
        if guide is None:
            return
        try:
            self._api.call(
                "kf/service_state/trans",
                {
                    "open_kfid": open_kfid,
                    "external_userid": user,
                    "service_state": STATE_HUMAN,
                    "servicer_userid": guide,
                },
            )
        except DeliveryError as exc:
            log.error("kf: could not hand %s to %s: %s (make the guide a 接待人员 of the kf account)", user, guide, exc)
            return
        with self._session_factory.begin() as session:
            kf_rows.set_service_state(session, user, STATE_HUMAN)
