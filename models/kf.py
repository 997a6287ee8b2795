"""微信客服 (kf): pull cursors, pulled messages, each customer's reply window and group, cached links.

The rules these rows hold come from WeCom's kf pages:
- kf/sync_msg pages with a cursor; the next_cursor should be stored and sent back, messages are
  kept three days (https://developer.work.weixin.qq.com/document/path/94670);
- kf/send_msg may answer a customer only within 48 hours of their last message and at most 5
  messages until they write again (https://developer.work.weixin.qq.com/document/path/94677).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, insert_if_absent, rowcount
from models.outbox import OutboxMessage

# kf/send_msg: "仅当微信客户在主动发送消息给客服后的48小时内，企业可发送消息给客户，最多可发送5条消息".
REPLY_WINDOW = timedelta(hours=48)
REPLIES_PER_MESSAGE = 5
# A puller that died holding pulled messages gives them up after this long.
CLAIM_LEASE = timedelta(minutes=2)
KF_CHANNEL = "kf_message"


class KfCursor(Base):
    """Where the pull of one kf account stands; `version` makes advancing it a compare-and-set."""

    __tablename__ = "kf_cursors"

    open_kfid: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str] = mapped_column(String(128), default="")
    version: Mapped[int] = mapped_column(Integer, default=0)
    # The Token of the newest kf_msg_or_event callback (valid 10 minutes) and when a pull was asked for.
    token: Mapped[str | None] = mapped_column(String(160))
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pulled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Callbacks counted, and the count a finished pull had seen when it started: requests > served means pull.
    requests: Mapped[int] = mapped_column(Integer, default=0)
    served: Mapped[int] = mapped_column(Integer, default=0)


class KfInbox(Base):
    """One pulled message or event; its unique msgid is the de-dup row stored with the cursor's advance."""

    __tablename__ = "kf_inbox"
    __table_args__ = (Index("ix_kf_inbox_pending", "handled_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    msgid: Mapped[str] = mapped_column(String(128), unique=True)
    open_kfid: Mapped[str] = mapped_column(String(64))
    external_userid: Mapped[str] = mapped_column(String(128))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    pulled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class KfCustomer(Base):
    """A WeChat customer as kf sees them: their account, window, replies spent, group and session state."""

    __tablename__ = "kf_customers"
    __table_args__ = (CheckConstraint("sent_since >= 0", name="sent_since"),)

    external_userid: Mapped[str] = mapped_column(String(128), primary_key=True)
    open_kfid: Mapped[str] = mapped_column(String(64))
    last_customer_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_since: Mapped[int] = mapped_column(Integer, default=0)
    # The customer group their messages count for this session (a link's scene_param or their choice).
    chat_id: Mapped[str | None] = mapped_column(String(128))
    # enter_session's one-shot welcome_code (valid 20 s) and when it came.
    welcome_code: Mapped[str | None] = mapped_column(String(160))
    welcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # 0 未处理, 1 智能助手, 2 待接入池, 3 人工接待, 4 已结束; None: not asked since the customer last wrote.
    service_state: Mapped[int | None] = mapped_column(Integer)
    # A guide the session is to be handed to (人工) once the bot's last answer has gone out.
    handoff_to: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class KfLink(Base):
    """A customer group's kf link, as kf/add_contact_way gave it (with the group's scene_param appended)."""

    __tablename__ = "kf_links"

    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    open_kfid: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ----------------------------------------------------------------- cursors and pulled messages


def cursor_of(session: Session, open_kfid: str) -> tuple[str, int]:
    """Return the account's cursor and its version, creating the row on first use."""
    row = session.get(KfCursor, open_kfid)
    if row is None:
        insert_if_absent(
            session, KfCursor, {"open_kfid": open_kfid, "cursor": "", "version": 0, "requests": 0, "served": 0}
        )
        row = session.get(KfCursor, open_kfid)
    assert row is not None
    return row.cursor, row.version


def request_pull(session: Session, open_kfid: str, token: str | None, now: datetime) -> None:
    """Note that WeCom said the account has news (kf_msg_or_event), with the token to pull it with."""
    cursor_of(session, open_kfid)
    session.execute(
        update(KfCursor)
        .where(KfCursor.open_kfid == open_kfid)
        .values(token=token or None, requested_at=now, requests=KfCursor.requests + 1)
        .execution_options(synchronize_session=False)
    )


def requests_seen(session: Session, open_kfid: str) -> int:
    """The account's request count now: a pull that starts after reading it serves every request up to it."""
    return session.scalar(select(KfCursor.requests).where(KfCursor.open_kfid == open_kfid)) or 0


def served(session: Session, open_kfid: str, seen: int) -> None:
    """Record that a pull which started after `seen` requests has caught up."""
    session.execute(
        update(KfCursor)
        .where(KfCursor.open_kfid == open_kfid, KfCursor.served < seen)
        .values(served=seen)
        .execution_options(synchronize_session=False)
    )


def requested_accounts(session: Session) -> list[tuple[str, str | None]]:
    """Accounts a callback asked to pull since their last pull, with the callback's token."""
    rows = session.execute(select(KfCursor.open_kfid, KfCursor.token).where(KfCursor.requests > KfCursor.served))
    return [(open_kfid, token) for open_kfid, token in rows]


def store_batch(
    session: Session,
    *,
    open_kfid: str,
    version: int,
    next_cursor: str,
    messages: list[dict[str, Any]],
    now: datetime,
) -> int | None:
    """Store a pulled page and advance the cursor in one transaction; None when another puller moved it first.

    The caller rolls the transaction back on None: that puller stored the same page.
    """
    moved = session.execute(
        update(KfCursor)
        .where(KfCursor.open_kfid == open_kfid, KfCursor.version == version)
        .values(cursor=next_cursor, version=version + 1, pulled_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(moved) != 1:
        return None
    stored = 0
    for message in messages:
        msgid = str(message.get("msgid") or "")[:128]
        if not msgid:
            continue
        user = _customer_of(message)
        values = {
            "msgid": msgid,
            "open_kfid": str(message.get("open_kfid") or open_kfid)[:64],
            "external_userid": user[:128],
            "body": message,
            "pulled_at": now,
        }
        if insert_if_absent(session, KfInbox, values):
            stored += 1
    return stored


def _customer_of(message: dict[str, Any]) -> str:
    event = message.get("event")
    if isinstance(event, dict) and event.get("external_userid"):
        return str(event["external_userid"])
    return str(message.get("external_userid") or "")


@dataclass(frozen=True)
class Pulled:
    id: int
    msgid: str
    open_kfid: str
    external_userid: str
    body: dict[str, Any]


def claim_pending(session: Session, *, worker: str, now: datetime, limit: int) -> list[Pulled]:
    """Take up to `limit` unhandled messages, oldest first, for `worker`; a dead puller's lease runs out."""
    free = KfInbox.handled_at.is_(None) & (KfInbox.claimed_until.is_(None) | (KfInbox.claimed_until < now))
    ids = list(
        session.scalars(
            select(KfInbox.id).where(free).order_by(KfInbox.id).limit(limit).with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    # Conditional, so on SQLite (no row locks) a row another puller just took is not taken twice.
    session.execute(
        update(KfInbox)
        .where(KfInbox.id.in_(ids), free)
        .values(claimed_by=worker, claimed_until=now + CLAIM_LEASE)
        .execution_options(synchronize_session=False)
    )
    rows = session.scalars(
        select(KfInbox)
        .where(KfInbox.id.in_(ids), KfInbox.claimed_by == worker, KfInbox.handled_at.is_(None))
        .order_by(KfInbox.id)
        .execution_options(populate_existing=True)
    )
    return [Pulled(r.id, r.msgid, r.open_kfid, r.external_userid, dict(r.body)) for r in rows]


def mark_handled(session: Session, inbox_id: int, now: datetime) -> None:
    session.execute(
        update(KfInbox)
        .where(KfInbox.id == inbox_id, KfInbox.handled_at.is_(None))
        .values(handled_at=now, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def unhandled_count(session: Session) -> int:
    return len(list(session.scalars(select(KfInbox.id).where(KfInbox.handled_at.is_(None)))))


# ----------------------------------------------------------------- customers: window, budget, group


def customer(session: Session, external_userid: str) -> KfCustomer | None:
    return session.get(KfCustomer, external_userid)


def _ensure_customer(session: Session, external_userid: str, open_kfid: str, now: datetime) -> None:
    insert_if_absent(
        session,
        KfCustomer,
        {"external_userid": external_userid, "open_kfid": open_kfid, "sent_since": 0, "updated_at": now},
    )


def customer_wrote(session: Session, external_userid: str, open_kfid: str, at: datetime, now: datetime) -> None:
    """Open the customer's window again: 48 hours from `at`, five replies; replies waiting for it are due now.

    Runs once per message: the dispatcher claims the message before observers run.
    """
    _ensure_customer(session, external_userid, open_kfid, now)
    session.execute(
        update(KfCustomer)
        .where(
            KfCustomer.external_userid == external_userid,
            KfCustomer.last_customer_at.is_(None) | (KfCustomer.last_customer_at <= at),
        )
        .values(last_customer_at=at, sent_since=0, open_kfid=open_kfid, service_state=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    # Replies that waited for a spent budget go now, instead of at the window's end.
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.channel == KF_CHANNEL,
            OutboxMessage.target == external_userid,
            OutboxMessage.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )


def customer_entered(
    session: Session,
    external_userid: str,
    open_kfid: str,
    *,
    chat_id: str | None,
    welcome_code: str | None,
    now: datetime,
) -> None:
    """Record enter_session: the group its link names (if any) and the one-shot welcome code."""
    _ensure_customer(session, external_userid, open_kfid, now)
    values: dict[str, Any] = {
        "open_kfid": open_kfid,
        "welcome_code": welcome_code,
        "welcome_at": now,
        "updated_at": now,
    }
    if chat_id:
        values["chat_id"] = chat_id
    values["service_state"] = None
    session.execute(
        update(KfCustomer)
        .where(KfCustomer.external_userid == external_userid)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def choose_group(session: Session, external_userid: str, open_kfid: str, chat_id: str, now: datetime) -> None:
    _ensure_customer(session, external_userid, open_kfid, now)
    session.execute(
        update(KfCustomer)
        .where(KfCustomer.external_userid == external_userid)
        .values(chat_id=chat_id, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def window_open(session: Session, external_userid: str, now: datetime) -> bool:
    """Tell whether kf may still write to the customer: inside 48 hours of their last message."""
    row = session.get(KfCustomer, external_userid)
    return bool(row and row.last_customer_at and row.last_customer_at + REPLY_WINDOW > now)


def take_welcome_code(session: Session, external_userid: str, now: datetime, valid: timedelta) -> str | None:
    """Use the customer's welcome code once, if it is still fresh; None when spent, "" when it came too late."""
    row = session.get(KfCustomer, external_userid)
    if row is None or not row.welcome_code or row.welcome_at is None:
        return None
    code = row.welcome_code
    taken = session.execute(
        update(KfCustomer)
        .where(KfCustomer.external_userid == external_userid, KfCustomer.welcome_code == code)
        .values(welcome_code=None)
        .execution_options(synchronize_session=False)
    )
    if rowcount(taken) != 1:
        return None
    return code if row.welcome_at + valid >= now else ""


@dataclass(frozen=True)
class Slot:
    """The answer to "may one more reply go to this customer now?"."""

    taken: bool
    open_kfid: str = ""
    window_ends: datetime | None = None  # when the 48 hours end (None: the customer never wrote)
    spent: bool = False  # five replies since the customer last wrote


def take_reply_slot(session: Session, external_userid: str, now: datetime) -> Slot:
    """Spend one of the customer's five replies, atomically; say why not when none is left."""
    row = session.get(KfCustomer, external_userid)
    if row is None or row.last_customer_at is None:
        return Slot(False, row.open_kfid if row else "")
    ends = row.last_customer_at + REPLY_WINDOW
    taken = session.execute(
        update(KfCustomer)
        .where(
            KfCustomer.external_userid == external_userid,
            KfCustomer.sent_since < REPLIES_PER_MESSAGE,
            KfCustomer.last_customer_at > now - REPLY_WINDOW,
        )
        .values(sent_since=KfCustomer.sent_since + 1)
        .execution_options(synchronize_session=False)
    )
    if rowcount(taken) == 1:
        return Slot(True, row.open_kfid, ends)
    return Slot(False, row.open_kfid, ends, spent=ends > now)


def give_back_slot(session: Session, external_userid: str) -> None:
    session.execute(
        update(KfCustomer)
        .where(KfCustomer.external_userid == external_userid, KfCustomer.sent_since > 0)
        .values(sent_since=KfCustomer.sent_since - 1)
        .execution_options(synchronize_session=False)
    )


def spend_all(session: Session, external_userid: str) -> None:
    """WeCom says the five are spent (95001): believe it until the customer writes again."""
    session.execute(
        update(KfCustomer)
        .where(KfCustomer.external_userid == external_userid)
        .values(sent_since=REPLIES_PER_MESSAGE)
        .execution_options(synchronize_session=False)
    )


def set_service_state(session: Session, external_userid: str, state: int | None) -> None:
    session.execute(
        update(KfCustomer)
        .where(KfCustomer.external_userid == external_userid)
        .values(service_state=state)
        .execution_options(synchronize_session=False)
    )


def ask_handoff(session: Session, external_userid: str, guide: str) -> None:
    session.execute(
        update(KfCustomer)
        .where(KfCustomer.external_userid == external_userid)
        .values(handoff_to=guide)
        .execution_options(synchronize_session=False)
    )


def take_handoff(session: Session, external_userid: str) -> str | None:
    """Return and clear the guide the session is to be handed to, once."""
    row = session.get(KfCustomer, external_userid)
    guide = row.handoff_to if row else None
    if guide is None:
        return None
    taken = session.execute(
        update(KfCustomer)
        .where(KfCustomer.external_userid == external_userid, KfCustomer.handoff_to == guide)
        .values(handoff_to=None)
        .execution_options(synchronize_session=False)
    )
    return guide if rowcount(taken) == 1 else None


# ----------------------------------------------------------------- links


def cached_link(session: Session, chat_id: str) -> str | None:
    row = session.get(KfLink, chat_id)
    return row.url if row else None


def cache_link(session: Session, chat_id: str, open_kfid: str, url: str, now: datetime) -> None:
    if not insert_if_absent(
        session, KfLink, {"chat_id": chat_id, "open_kfid": open_kfid, "url": url, "created_at": now}
    ):
        session.execute(
            update(KfLink)
            .where(KfLink.chat_id == chat_id)
            .values(open_kfid=open_kfid, url=url, created_at=now)
            .execution_options(synchronize_session=False)
        )
