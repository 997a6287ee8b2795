"""Customer-group tasks (add_msg_template): the guide confirms the message in WeCom, then it reaches the groups.

The entry point is `CustomerTaskTransport.send_to(group, message, config)`: it turns the outbox row for one
customer group, and every other due row with the same content for the same guide's customer groups, into one
task with a `chat_id_list` (one tap for the guide, each group's cap unit counted once). `poll_customer_tasks`
follows each task per group (`get_groupmsg_send_result`), reminds the guide (`remind_groupmsg_send`), and
cancels (`cancel_groupmsg_send`) a task that expired before its rows fail and their cap units are given back,
so a late tap cannot deliver a message the bot already counts as unsent.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config.core import Config, GroupConfig
from bot.outbox import queue_reply
from bot.replies import Reply
from bot.transports import sizes
from bot.transports.base import Deferred, DeliveryError, OutgoingMessage
from bot.transports.limiter import Budget, Limiter, Period, days_in_month
from bot.wecom.api import WecomApi
from models import customer_task, outbox
from models.outbox import OutboxMessage

log = logging.getLogger(__name__)

# get_groupmsg_send_result: 0 not sent yet, 1 sent, 2 not a friend, 3 already got another mass message.
SENT = 1
NOT_A_FRIEND = 2
ALREADY_RECEIVED = 3
UNDELIVERABLE = {NOT_A_FRIEND, ALREADY_RECEIVED}


# cancel_groupmsg_send answers these when there is nothing left to stop (already sent, cancelled or gone).
ALREADY_OVER = frozenset({41063, 41064, 41065, 41066})
PREVIEW_CHARS = 60
# A reservation older than this belongs to a drainer that stopped between reserving and WeCom's answer.
STALE_RESERVATION = timedelta(minutes=10)


def cap_budget(chat_id: str, config: Config, now: datetime) -> Budget:
    """Return the customer group's mass-message cap as the corp sets it (outbound.limits.customer_task_cap)."""
    limits = config.outbound.limits
    period: Period
    if limits.customer_task_cap == "per_day":
        cap, period = 1, "day"
    elif limits.customer_task_cap == "per_week":
        cap, period = 7, "week"
    else:
        cap, period = limits.customer_task_per_month or days_in_month(now, config.zone), "month"
    return Budget(f"customer_task:{chat_id}", cap, period)


def task_body(chat_id: str | list[str], sender: str, payload: dict[str, Any], marker: str = "…") -> dict[str, Any]:
    """Build the add_msg_template body for customer groups: text, and a news card as a link attachment.

    Tasks have no markdown or news message; a news payload keeps its text form (title, description, url)
    as the text and adds the card as WeCom's link attachment.
    """
    chats = [chat_id] if isinstance(chat_id, str) else list(chat_id)
    # One task is one message: a second part would spend another unit of each group's cap, so it is cut.
    content = sizes.cut(str(payload.get("content", "")), sizes.CUSTOMER_TASK_TEXT, marker)
    body: dict[str, Any] = {
        "chat_type": "group",
        "sender": sender,
        "chat_id_list": chats,
        "text": {"content": content},
    }
    articles = list(payload.get("articles") or []) if payload.get("msgtype") == "news" else []
    if articles:
        card = articles[0]
        link = {"title": card.get("title", ""), "url": card.get("url", ""), "desc": card.get("description", "")}
        if card.get("picurl"):
            link["picurl"] = card["picurl"]
        body["attachments"] = [{"msgtype": "link", "link": link}]
    return body


class _Taken(Exception):  # control flow: another task or drainer has the row; leaving rolls back the reservation
    pass


class CustomerTaskTransport:
    """Turns outbox rows for a guide's customer groups into one task the guide confirms once."""

    name = "customer_task"

    def __init__(self, api: WecomApi, session_factory: sessionmaker[Session], clock: Clock, limiter: Limiter):
        self._api = api
        self._session_factory = session_factory
        self._clock = clock
        self._limiter = limiter

    def send_to(self, group: GroupConfig, message: OutgoingMessage, config: Config) -> None:
        """Create one task for this row and its companions, keep its msgid and ask the guide to confirm it.

        Companions are due rows with the same content for the other customer groups of the same guide. A row a
        task already carries is done here (its task was created from another row). The cap unit of this row's
        group was taken by the caller; each companion's is taken here, and a companion whose group's cap is
        spent waits for its own window.
        """
        if not group.guide:
            raise DeliveryError(
                f"group {group.chat_id} uses push: customer_task but has no guide; set groups[].guide "
                "to the userid of the staff member who owns the group",
                transient=False,
                refused=True,
            )
        now = self._clock.now()
        if self.carried(message, now):
            return
        batch = uuid.uuid4().hex
        companions = self._reserve(batch, group, message, config, now)
        chats = [group.chat_id, *(row.target for row in companions)]
        marker = config.texts.render("outbound_cut_marker")
        try:
            result = self._api.call(
                "externalcontact/add_msg_template", task_body(chats, group.guide, message.payload, marker)
            )
            if result.get("fail_list"):
                raise DeliveryError(
                    f"WeCom could not create the task for {result['fail_list']}: "
                    f"check that {group.guide} owns chat {group.chat_id}",
                    transient=False,
                    refused=True,
                )
            msgid = str(result["msgid"])
        except DeliveryError as exc:
            self._undo(batch, companions, config, now, refused=exc.refused)
            raise
        self._record(msgid, batch, group, message, companions, config, now)

    def carried(self, message: OutgoingMessage, now: datetime) -> bool:
        """Tell whether a task created from another row already carries this one (its unit is counted there)."""
        with self._session_factory.begin() as session:
            found = customer_task.carrier(session, message.id)
        if found is None:
            return False
        if found.status == "reserved":
            if found.reserved_at is not None and now - found.reserved_at > STALE_RESERVATION:
                # The process building that task died before WeCom answered: free its rows for a new task.
                log.warning("dropping customer-task reservation %s left by a stopped drainer", found.batch)
                with self._session_factory.begin() as session:
                    customer_task.drop_reservation(session, found.batch)
                return False
            # Another drainer is creating the task that carries this row: look again shortly.
            raise Deferred(now + timedelta(seconds=5), "being put into a customer task by another drainer")
        log.info("outbox row %s travels in customer task %s", message.id, found.msgid)
        return True

    def _reserve(
        self, batch: str, group: GroupConfig, message: OutgoingMessage, config: Config, now: datetime
    ) -> list[OutboxMessage]:
        """Reserve this row and the companions whose group has cap left; claim the pending ones."""
        siblings = [
            g.chat_id
            for g in config.groups
            if g.push == "customer_task" and g.guide == group.guide and g.chat_id != group.chat_id
        ]
        with self._session_factory.begin() as session:
            if not customer_task.reserve(session, batch=batch, chat_id=group.chat_id, outbox_id=message.id, now=now):
                raise Deferred(now + timedelta(seconds=5), "being put into a customer task by another drainer")
            candidates = outbox.same_content_due(session, siblings, message.id, message.payload, now)
        chosen: list[OutboxMessage] = []
        seen: set[str] = set()
        for row in candidates:
            if row.target in seen:
                continue  # one message per group per task; the next waits for its own task
            if config.outbound.limits.enabled and self._limiter.acquire(
                [cap_budget(row.target, config, now)], now, config.zone
            ):
                continue  # this group's cap is spent: the row waits (its own send defers it)
            try:
                with self._session_factory.begin() as session:
                    if not customer_task.reserve(session, batch=batch, chat_id=row.target, outbox_id=row.id, now=now):
                        raise _Taken
                    if row.status == "pending" and not outbox.claim_for_task(session, row.id, batch, now):
                        raise _Taken  # a drainer claimed it meanwhile; rolled back with the reservation
                taken = True
            except _Taken:
                taken = False
            if not taken:
                if config.outbound.limits.enabled:
                    self._limiter.give_back([cap_budget(row.target, config, now)], now, config.zone)
                continue
            seen.add(row.target)
            chosen.append(row)
        return chosen

    def _undo(
        self, batch: str, companions: list[OutboxMessage], config: Config, now: datetime, *, refused: bool
    ) -> None:
        """WeCom did not create the task: free the reservations, the claimed rows and (if refused) the units."""
        with self._session_factory.begin() as session:
            customer_task.drop_reservation(session, batch)
            for row in companions:
                if row.status == "pending":
                    outbox.release_from_task(session, row.id, batch)
        if refused and config.outbound.limits.enabled:
            self._limiter.give_back([cap_budget(row.target, config, now) for row in companions], now, config.zone)

    def _record(
        self,
        msgid: str,
        batch: str,
        group: GroupConfig,
        message: OutgoingMessage,
        companions: list[OutboxMessage],
        config: Config,
        now: datetime,
    ) -> None:
        settings = config.outbound
        assert group.guide is not None
        preview = str(message.payload.get("content", ""))
        preview = preview if len(preview) <= PREVIEW_CHARS else preview[:PREVIEW_CHARS] + "…"
        names = [group.name]
        for row in companions:
            other = config.group(row.target)
            names.append(other.name if other is not None else row.target)
        remind = now + timedelta(hours=settings.task_remind_every_hours) if settings.task_reminders else None
        with self._session_factory.begin() as session:
            customer_task.record_task(
                session,
                msgid=msgid,
                outbox_id=message.id,
                chat_id=group.chat_id,
                sender=group.guide,
                now=now,
                expires_at=now + timedelta(hours=settings.task_expire_hours),
                next_poll_at=now + timedelta(seconds=settings.task_poll_seconds),
                batch=batch,
                next_remind_at=remind,
            )
            for row in companions:
                if row.status == "pending":
                    outbox.settle_for_task(session, row.id, batch, now)
            confirm = config.texts.render("outbound_task_confirm", group="、".join(names), preview=preview)
            queue_reply(session, Reply(confirm, to_user=group.guide), now, origin=f"customer_task:{msgid}")
        if companions:
            log.info("customer task %s carries %d groups of guide %s", msgid, len(names), group.guide)


@dataclass
class PollReport:
    polled: int = 0
    sent: int = 0
    expired: int = 0
    reminded: int = 0
    cancelled: int = 0


def _send_results(api: WecomApi, task: customer_task.CustomerTask) -> dict[str, int]:
    """Return each carried chat's status from get_groupmsg_send_result, page by page."""
    statuses: dict[str, int] = {}
    cursor = ""
    while True:
        body: dict[str, Any] = {"msgid": task.msgid, "userid": task.sender, "limit": 1000}
        if cursor:
            body["cursor"] = cursor
        result = api.call("externalcontact/get_groupmsg_send_result", body)
        for entry in result.get("send_list") or []:
            chat = str(entry.get("chat_id") or task.chat_id)
            statuses[chat] = int(entry.get("status", 0))
        cursor = str(result.get("next_cursor") or "")
        if not cursor:
            return statuses


def _cancel(api: WecomApi, msgid: str) -> bool:
    """Stop the task in WeCom; True once it can no longer be sent (cancelled now, or already over)."""
    try:
        api.call("externalcontact/cancel_groupmsg_send", {"msgid": msgid})
    except DeliveryError as exc:
        if exc.errcode in ALREADY_OVER:
            return True
        log.warning("could not cancel customer task %s (tried again next poll): %s", msgid, exc)
        return False
    return True


def poll_customer_tasks(
    session_factory: sessionmaker[Session], api: WecomApi, config: Callable[[], Config], now: datetime
) -> PollReport:
    """Ask WeCom about every waiting task that is due; settle each group as sent or not, remind, cancel on expiry.

    A group WeCom reports sent settles its row as sent. A group it reports undeliverable fails its row at once.
    At expiry the task is cancelled first (cancel_groupmsg_send), so a late tap by the guide cannot deliver it;
    only then do the unsent groups' rows fail, saying why, and their units of the cap come back. A cancel that
    fails is tried again at the next poll, and nothing is given back meanwhile. Before expiry the guide is
    reminded (remind_groupmsg_send) up to outbound.task_reminders times.
    """
    current = config()
    settings, zone = current.outbound, current.zone
    report = PollReport()
    returned: list[tuple[str, datetime]] = []
    with session_factory() as session:
        due = customer_task.due_for_poll(session, now)
    for task in due:
        report.polled += 1
        statuses: dict[str, int] | None
        try:
            statuses = _send_results(api, task)
        except DeliveryError as exc:
            log.warning("could not poll customer task %s: %s", task.msgid, exc)
            statuses = None
        with session_factory.begin() as session:
            chats = customer_task.chats_of(session, task.msgid)
        expired = now >= task.expires_at
        cancelled = task.cancelled_at is not None
        open_chats = [chat for chat in chats if chat.status == "waiting"]
        if (
            expired
            and not cancelled
            and any((statuses or {}).get(c.chat_id, 0) not in (SENT, *UNDELIVERABLE) for c in open_chats)
        ):
            cancelled = _cancel(api, task.msgid)
            if cancelled:
                report.cancelled += 1
                with session_factory.begin() as session:
                    customer_task.mark_cancelled(session, task.msgid, now)
        with session_factory.begin() as session:
            for chat in open_chats:
                status = (statuses or {}).get(chat.chat_id)
                if status == SENT:
                    customer_task.settle_chat(session, chat.id, "sent", now)
                elif status in UNDELIVERABLE or (expired and cancelled):
                    if customer_task.settle_chat(session, chat.id, "expired", now):
                        reason = _not_delivered(task, chat.chat_id, status, settings.task_expire_hours)
                        if chat.row_id is not None:
                            outbox.fail_after_sent(session, chat.row_id, reason)
                        log.warning("outbox row %s failed: %s", chat.row_id, reason)
                        returned.append((chat.chat_id, task.created_at))
            left = [c for c in customer_task.chats_of(session, task.msgid) if c.status == "waiting"]
            if not left:
                outcomes = {c.status for c in customer_task.chats_of(session, task.msgid)}
                final = "sent" if "sent" in outcomes else "expired"
                if customer_task.settle(session, task.msgid, final, now):
                    if final == "sent":
                        report.sent += 1
                    else:
                        report.expired += 1
                continue
            customer_task.poll_later(session, task.msgid, now + timedelta(seconds=settings.task_poll_seconds))
        if not expired and task.next_remind_at is not None and now >= task.next_remind_at:
            report.reminded += _remind(
                session_factory, api, task, settings.task_reminders, settings.task_remind_every_hours, now
            )
    if returned:
        # A task that never reached a group does not count against that group's cap.
        limiter = Limiter(session_factory)
        for chat_id, created in returned:
            limiter.give_back([cap_budget(chat_id, current, created)], created, zone)
    return report


def _remind(
    session_factory: sessionmaker[Session],
    api: WecomApi,
    task: customer_task.CustomerTask,
    most: int,
    every_hours: float,
    now: datetime,
) -> int:
    """Ask WeCom to remind the guide of the task again; return 1 when it did."""
    if task.reminders >= most:
        with session_factory.begin() as session:
            customer_task.reminded(session, task.msgid, None)
        return 0
    try:
        api.call("externalcontact/remind_groupmsg_send", {"msgid": task.msgid})
    except DeliveryError as exc:
        log.warning("could not remind guide %s of customer task %s: %s", task.sender, task.msgid, exc)
        return 0
    follow = now + timedelta(hours=every_hours) if task.reminders + 1 < most else None
    with session_factory.begin() as session:
        customer_task.reminded(session, task.msgid, follow)
    return 1


def _not_delivered(task: customer_task.CustomerTask, chat_id: str, status: int | None, expire_hours: float) -> str:
    retry = "`groupbot outbox retry` creates a new task"
    if status == NOT_A_FRIEND:
        return (
            f"WeCom reports customer task {task.msgid} undeliverable: the customer is no longer in contact with "
            f"guide {task.sender}; {retry}"
        )
    if status == ALREADY_RECEIVED:
        return (
            f"WeCom reports customer task {task.msgid} was not delivered to chat {chat_id}: it already "
            f"received another mass message (WeCom's own limit); {retry}"
        )
    return (
        f"guide {task.sender} did not confirm customer task {task.msgid} for chat {chat_id} within "
        f"{expire_hours:g} hours, so it never reached the group (the task was cancelled in WeCom, so a late "
        f"tap cannot send it twice); {retry} for the guide to confirm"
    )
