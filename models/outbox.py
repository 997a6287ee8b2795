"""The durable outbox: every outgoing message is a row before anything is sent."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String, Text, func, insert, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, core, one_of, rowcount


class OutboxStatus(StrEnum):
    PENDING = "pending"
    # A customer-group message held for the guide to send from the chat-toolbar page (sidebar).
    WAITING = "waiting"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class TargetKind(StrEnum):
    USER = "user"
    CHAT = "chat"


STATUSES = tuple(status.value for status in OutboxStatus)
# Rows the guide may still send from the sidebar: not yet claimed by a drainer or by another page.
SIDEBAR_SENDABLE = (OutboxStatus.PENDING.value, OutboxStatus.WAITING.value)
# claimed_by of a row a guide's page is sending: no drainer holds it, so only the page settles it.
SIDEBAR_WORKER_PREFIX = "sidebar:"
SIDEBAR_HOLD = timedelta(minutes=10)


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(one_of("status", OutboxStatus), name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        CheckConstraint(one_of("target_kind", TargetKind), name="target_kind"),
        # Drainers look up due rows by status and time; this keeps that a range scan.
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    target_kind: Mapped[str] = mapped_column(String(8))
    target: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    # The de-duplication key of the callback that produced the message, for tracing.
    origin: Mapped[str | None] = mapped_column(String(200))
    # When the row first started waiting for the guide's sidebar (None: it never waited).
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who sent it by hand from the sidebar, and when (None: a transport delivered it).
    delivered_by: Mapped[str | None] = mapped_column(String(128))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class QueuedMessage(NamedTuple):
    """A row just queued: its id and the payload written (no ORM object: every callback queues one)."""

    id: int
    payload: dict[str, Any]


def queue_message(
    session: Session,
    *,
    channel: str,
    target_kind: str,
    target: str,
    payload: dict[str, Any],
    now: datetime,
    origin: str | None = None,
    not_before: datetime | None = None,
) -> QueuedMessage:
    """Queue one message for delivery as soon as a drainer runs, or not before `not_before`.

    A Core INSERT built once, not an ORM flush: building and attaching an OutboxMessage cost about
    a third of this call, and the answer to every callback comes through here.
    """
    values = _new_row(channel, target_kind, target, payload, now, origin, not_before)
    return QueuedMessage(core(session).execute(_ADD_MESSAGE, values).scalar_one(), payload)


def add_message(session: Session, **fields: Any) -> OutboxMessage:
    """`queue_message`, handing back the row as an object of the session, for code that edits it."""
    row = session.get(OutboxMessage, queue_message(session, **fields).id)
    assert row is not None  # just inserted in this transaction
    return row


def _new_row(
    channel: str,
    target_kind: str,
    target: str,
    payload: dict[str, Any],
    now: datetime,
    origin: str | None,
    not_before: datetime | None,
) -> dict[str, Any]:
    return {
        "channel": channel,
        "target_kind": target_kind,
        "target": target,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "created_at": now,
        "sent_at": None,
        "claimed_by": None,
        "claimed_at": None,
        "last_error": None,
        "origin": origin,
    }


_ADD_MESSAGE = insert(OutboxMessage).returning(OutboxMessage.id)


def add_messages(session: Session, messages: list[dict[str, Any]]) -> list[int]:
    """Queue many messages (each given as `queue_message`'s arguments) in one INSERT; return their ids in order."""
    if not messages:
        return []
    rows = [
        _new_row(
            m["channel"], m["target_kind"], m["target"], m["payload"], m["now"], m.get("origin"), m.get("not_before")
        )
        for m in messages
    ]
    stmt = insert(OutboxMessage).returning(OutboxMessage.id, sort_by_parameter_order=True)
    return list(session.scalars(stmt, rows))


def rewrite_pending(session: Session, message_id: int, payload: dict[str, Any]) -> bool:
    """Replace the payload of a row no drainer has claimed yet; False once it is being sent or sent.

    The conditional UPDATE is what lets a caller grow a delayed message (a coalesced welcome)
    without racing the drainer: a row already claimed is left alone and the caller starts anew.
    """
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending", OutboxMessage.attempts == 0)
        .values(payload=payload)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def claim_due(
    session: Session,
    *,
    worker: str,
    now: datetime,
    limit: int,
    reclaim_after: timedelta,
    max_attempts: int | None = None,
) -> list[OutboxMessage]:
    """Mark up to `limit` due rows as being sent by `worker` and return them.

    Rows left in `sending` longer than `reclaim_after` belonged to a drainer that died mid-send;
    they are taken again (at-least-once), but not once they have used `max_attempts` (see
    fail_abandoned). PostgreSQL skips rows another drainer holds; SQLite serialises writers with
    BEGIN IMMEDIATE, so the same select is safe there too.
    """
    stuck = (OutboxMessage.status == "sending") & (OutboxMessage.claimed_at < now - reclaim_after)
    # A guide's page holds its claim while WeCom's send dialog is open; a drainer takes it over only
    # once the page has plainly gone away.
    stuck = stuck & (
        ~OutboxMessage.claimed_by.startswith(SIDEBAR_WORKER_PREFIX) | (OutboxMessage.claimed_at < now - SIDEBAR_HOLD)
    )
    if max_attempts is not None:
        stuck = stuck & (OutboxMessage.attempts < max_attempts)
    # A waiting row comes back when its wait for the guide ends (then it goes as a customer task).
    waiting = OutboxMessage.status.in_(("pending", "waiting"))
    due = or_(waiting & (OutboxMessage.next_attempt_at <= now), stuck)
    ids = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(due)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(
            status="sending",
            claimed_by=worker,
            claimed_at=now,
            attempts=OutboxMessage.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


def fail_abandoned(session: Session, *, now: datetime, reclaim_after: timedelta, max_attempts: int) -> list[int]:
    """Fail rows a drainer stopped while sending on their last allowed attempt; return their ids.

    Such a row may be what stops the drainer (a payload that crashes or hangs it), so reclaiming it
    forever would stop every drainer in turn. It may also have been delivered before the drainer
    died, which is why an operator decides, with `groupbot outbox retry`, whether to send it again.
    """
    condition = (
        (OutboxMessage.status == "sending")
        & (OutboxMessage.claimed_at < now - reclaim_after)
        & (OutboxMessage.attempts >= max_attempts)
    )
    ids = list(session.scalars(select(OutboxMessage.id).where(condition).with_for_update(skip_locked=True)))
    if ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), condition)
            .values(
                status="failed",
                claimed_by=None,
                last_error=(
                    f"the drainer stopped while sending it (it crashed, was killed or hung) on attempt "
                    f"{max_attempts} of {max_attempts}; it may or may not have reached WeCom, so it is not "
                    "sent again on its own: check the recipient, then `groupbot outbox retry` to send it again"
                ),
            )
            .execution_options(synchronize_session=False)
        )
    return ids


def _finish(session: Session, message_id: int, worker: str, **values: Any) -> bool:
    # Only the drainer that holds the claim may settle the row; a reclaimed row belongs to another.
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == "sending",
            OutboxMessage.claimed_by == worker,
        )
        .values(**values)
    )
    return rowcount(result) == 1


def mark_sent(session: Session, message_id: int, worker: str, now: datetime) -> bool:
    """Record a successful delivery."""
    return _finish(session, message_id, worker, status="sent", sent_at=now, last_error=None)


def mark_retry(session: Session, message_id: int, worker: str, when: datetime, error: str) -> bool:
    """Put the row back in the queue for another attempt at `when`."""
    return _finish(
        session, message_id, worker, status="pending", next_attempt_at=when, last_error=error, claimed_by=None
    )


def mark_failed(session: Session, message_id: int, worker: str, error: str) -> bool:
    """Park the row as failed; an operator can send it again from the CLI."""
    return _finish(session, message_id, worker, status="failed", last_error=error)


def mark_deferred(session: Session, message_id: int, worker: str, when: datetime, reason: str) -> bool:
    """Put the row back for `when` without counting the attempt (a spent budget or quiet hours, not a failure)."""
    return _finish(
        session,
        message_id,
        worker,
        status="pending",
        next_attempt_at=when,
        last_error=reason,
        claimed_by=None,
        attempts=OutboxMessage.attempts - 1,
    )


def fail_after_sent(session: Session, message_id: int, error: str) -> bool:
    """Turn a row recorded as sent into failed once WeCom says it never arrived; False if it is not sent.

    A customer-group task is "sent" when WeCom created it, but it reaches the group only after the guide
    confirms it; when that never happens the row is failed here, so an operator sees it and can retry it.
    """
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "sent")
        .values(status="failed", sent_at=None, last_error=error)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def defer_backlog(session: Session, channel: str, target: str, when: datetime, reason: str) -> int:
    """Move every pending row for `channel` and `target` due before `when` to `when`; return how many."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.channel == channel,
            OutboxMessage.target == target,
            OutboxMessage.next_attempt_at < when,
        )
        .values(next_attempt_at=when, last_error=reason)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) or 0


def requeue_failed(session: Session, now: datetime, ids: list[int] | None = None) -> list[int]:
    """Send failed rows again from now with a fresh attempt budget; return the ids requeued.

    With `ids` None every failed row is requeued; ids that are not failed are left alone.
    """
    condition = OutboxMessage.status == "failed"
    if ids is not None:
        condition = condition & OutboxMessage.id.in_(ids)
    chosen = list(session.scalars(select(OutboxMessage.id).where(condition).order_by(OutboxMessage.id)))
    if chosen:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(chosen), OutboxMessage.status == "failed")
            .values(status="pending", attempts=0, next_attempt_at=now, claimed_by=None, claimed_at=None)
            .execution_options(synchronize_session=False)
        )
    return chosen


def list_messages(session: Session, *, status: str | None = None, limit: int = 50) -> list[OutboxMessage]:
    """Return the newest rows first, optionally of one status."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    return list(session.scalars(query))


def last_row_id(session: Session) -> int:
    """Return the newest row's id (0 when there is none)."""

    return int(session.scalar(select(func.max(OutboxMessage.id))) or 0)


def queued_after(session: Session, row_id: int) -> list[OutboxMessage]:
    """Return the rows queued after row `row_id`, oldest first."""
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.id > row_id).order_by(OutboxMessage.id)))


def count_unsent(session: Session, channel: str, target: str) -> int:
    """Return how many rows for `channel` and `target` are still waiting or being sent."""

    return int(
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.channel == channel,
                OutboxMessage.target == target,
                OutboxMessage.status.in_(("pending", "sending")),
            )
        )
        or 0
    )


def _task_claim(batch: str) -> str:
    return f"task:{batch}"[:64]


def same_content_due(
    session: Session, targets: list[str], exclude_id: int, payload: dict[str, Any], now: datetime, limit: int = 1000
) -> list[OutboxMessage]:
    """Return group rows for `targets` carrying the same message as `payload`, due now or being sent, oldest first.

    These are what one customer task can carry besides row `exclude_id`: the same text (and card) for other
    groups of the same guide, e.g. one calendar post queued for each of their groups.
    """
    if not targets:
        return []
    due = ((OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now)) | (
        OutboxMessage.status == "sending"
    )
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.channel == "group", OutboxMessage.target.in_(targets), OutboxMessage.id != exclude_id, due)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )

    def same(other: dict[str, Any]) -> bool:
        return all(other.get(key) == payload.get(key) for key in ("msgtype", "content", "articles"))

    return [row for row in rows if same(row.payload)]


def claim_for_task(session: Session, message_id: int, batch: str, now: datetime) -> bool:
    """Claim a pending row for the customer task being built as `batch`; False when a drainer took it first."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
        .values(status="sending", claimed_by=_task_claim(batch), claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def settle_for_task(session: Session, message_id: int, batch: str, now: datetime) -> bool:
    """Record a row claimed for task `batch` as sent: WeCom created the task that carries it."""
    return _finish(session, message_id, _task_claim(batch), status="sent", sent_at=now, last_error=None)


def release_from_task(session: Session, message_id: int, batch: str) -> bool:
    """Give a row claimed for task `batch` back to the queue, unspent: WeCom did not create the task."""
    return _finish(
        session, message_id, _task_claim(batch), status="pending", claimed_by=None, attempts=OutboxMessage.attempts - 1
    )


def record_parts_sent(session: Session, message_id: int, payload: dict[str, Any]) -> bool:
    """Store the payload of a row being sent in parts with how many went out (`parts_sent`), so none is resent."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "sending")
        .values(payload=payload)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


# --- the guide's sidebar --------------------------------------------------------------------------------


def mark_waiting(session: Session, message_id: int, worker: str, until: datetime, now: datetime, reason: str) -> bool:
    """Hold a claimed row for the guide's sidebar until `until`, without counting the attempt."""
    return _finish(
        session,
        message_id,
        worker,
        status="waiting",
        next_attempt_at=until,
        waiting_since=func.coalesce(OutboxMessage.waiting_since, now),
        last_error=reason,
        claimed_by=None,
        attempts=OutboxMessage.attempts - 1,
    )


def sendable_for_chat(session: Session, chat_id: str) -> list[OutboxMessage]:
    """Return the messages for group `chat_id` a guide may still send by hand, oldest first."""
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.channel == "group",
                OutboxMessage.target == chat_id,
                OutboxMessage.status.in_(SIDEBAR_SENDABLE),
            )
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
    )


def count_waiting(session: Session, chat_ids: list[str]) -> int:
    """Return how many messages wait for a guide's sidebar in `chat_ids`."""
    if not chat_ids:
        return 0
    return int(
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.channel == "group",
                OutboxMessage.target.in_(chat_ids),
                OutboxMessage.status.in_(SIDEBAR_SENDABLE),
            )
        )
        or 0
    )


def claim_for_guide(session: Session, message_id: int, chat_id: str, guide: str, now: datetime) -> bool:
    """Take a row for the guide's page to send; False once a drainer or another page has it, or it is gone."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.channel == "group",
            OutboxMessage.target == chat_id,
            OutboxMessage.status.in_(SIDEBAR_SENDABLE),
        )
        .values(status="sending", claimed_by=(SIDEBAR_WORKER_PREFIX + guide)[:64], claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def delivered_by_guide(session: Session, message_id: int, guide: str, now: datetime) -> bool:
    """Record that the guide's own message carried the row into the group; False unless their page held it."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == "sending",
            OutboxMessage.claimed_by == (SIDEBAR_WORKER_PREFIX + guide)[:64],
        )
        .values(status="sent", sent_at=now, delivered_by=guide, delivered_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def release_by_guide(session: Session, message_id: int, guide: str) -> bool:
    """Give a row back to the waiting list after the guide cancelled WeCom's send dialog or it failed."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == "sending",
            OutboxMessage.claimed_by == (SIDEBAR_WORKER_PREFIX + guide)[:64],
        )
        .values(status="waiting", claimed_by=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def set_content(session: Session, message_id: int, payload: dict[str, Any]) -> None:
    """Replace the payload of a row a guide's page holds (a quiz question re-dated as it is sent)."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "sending")
        .values(payload=payload)
        .execution_options(synchronize_session=False)
    )
