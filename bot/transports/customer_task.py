"""Customer-group tasks (add_msg_template): the guide confirms the message in WeCom, then it reaches the group."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config.core import Config, GroupConfig
from bot.outbox import queue_reply
from bot.replies import Reply
from bot.transports.base import DeliveryError, OutgoingMessage
from bot.transports.limiter import Budget, Limiter
from bot.wecom.api import WecomApi
from models import customer_task, outbox

log = logging.getLogger(__name__)

# get_groupmsg_send_result: 0 not sent yet, 1 sent, 2 not a friend, 3 already got another mass message.
SENT = 1
NOT_A_FRIEND = 2
ALREADY_RECEIVED = 3
UNDELIVERABLE = {NOT_A_FRIEND, ALREADY_RECEIVED}


def task_body(chat_id: str, sender: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Build the add_msg_template body for one customer group: text, and a news card as a link attachment.

    Tasks have no markdown or news message; a news payload keeps its text form (title, description, url)
    as the text and adds the card as WeCom's link attachment.
    """
    body: dict[str, Any] = {
        "chat_type": "group",
        "sender": sender,
        "chat_id_list": [chat_id],
        "text": {"content": str(payload.get("content", ""))},
    }
    articles = list(payload.get("articles") or []) if payload.get("msgtype") == "news" else []
    if articles:
        card = articles[0]
        link = {"title": card.get("title", ""), "url": card.get("url", ""), "desc": card.get("description", "")}
        if card.get("picurl"):
            link["picurl"] = card["picurl"]
        body["attachments"] = [{"msgtype": "link", "link": link}]
    return body


class CustomerTaskTransport:
    name = "customer_task"

    def __init__(self, api: WecomApi, session_factory: sessionmaker[Session], clock: Clock):
        self._api = api
        self._session_factory = session_factory
        self._clock = clock

    def send_to(self, group: GroupConfig, message: OutgoingMessage, config: Config) -> None:
        """Create the task, keep its msgid and ask the guide (by app message) to confirm it."""
        if not group.guide:
            raise DeliveryError(
                f"group {group.chat_id} uses push: customer_task but has no guide; set groups[].guide "
                "to the userid of the staff member who owns the group",
                transient=False,
                refused=True,
            )
        body = task_body(group.chat_id, group.guide, message.payload)
        result = self._api.call("externalcontact/add_msg_template", body)
        if result.get("fail_list"):
            raise DeliveryError(
                f"WeCom could not create the task for {result['fail_list']}: "
                f"check that {group.guide} owns chat {group.chat_id}",
                transient=False,
                refused=True,
            )
        msgid = str(result["msgid"])
        now = self._clock.now()
        settings = config.outbound
        preview = str(message.payload.get("content", ""))
        preview = preview if len(preview) <= 60 else preview[:60] + "…"
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
            )
            confirm = config.texts.render("outbound_task_confirm", group=group.name, preview=preview)
            queue_reply(session, Reply(confirm, to_user=group.guide), now, origin=f"customer_task:{msgid}")


@dataclass
class PollReport:
    polled: int = 0
    sent: int = 0
    expired: int = 0


def poll_customer_tasks(
    session_factory: sessionmaker[Session], api: WecomApi, config: Callable[[], Config], now: datetime
) -> PollReport:
    """Ask WeCom about every waiting task that is due; settle it as sent or expired, else look again later.

    An expired task fails the outbox row that made it, saying why, so `groupbot outbox --status failed`
    lists it and `groupbot outbox retry` makes a new task; its unit of the monthly cap is given back.
    """
    current = config()
    settings, zone = current.outbound, current.zone
    report = PollReport()
    expired: list[customer_task.CustomerTask] = []
    with session_factory() as session:
        due = customer_task.due_for_poll(session, now)
    for task in due:
        report.polled += 1
        status = None
        try:
            result = api.call(
                "externalcontact/get_groupmsg_send_result",
                {"msgid": task.msgid, "userid": task.sender, "limit": 1000},
            )
            for entry in result.get("send_list") or []:
                if entry.get("chat_id") in (None, task.chat_id):
                    status = int(entry.get("status", 0))
        except DeliveryError as exc:
            log.warning("could not poll customer task %s: %s", task.msgid, exc)
        with session_factory.begin() as session:
            if status == SENT:
                if customer_task.settle(session, task.msgid, "sent", now):
                    report.sent += 1
            elif status in UNDELIVERABLE or now >= task.expires_at:
                if customer_task.settle(session, task.msgid, "expired", now):
                    report.expired += 1
                    reason = _not_delivered(task, status, settings.task_expire_hours)
                    if task.outbox_id is not None:
                        outbox.fail_after_sent(session, task.outbox_id, reason)
                    log.warning("outbox row %s failed: %s", task.outbox_id, reason)
                    expired.append(task)
            else:
                customer_task.poll_later(session, task.msgid, now + timedelta(seconds=settings.task_poll_seconds))
    if expired:
        # A task that never reached the group does not count against the group's monthly cap.
        limiter = Limiter(session_factory)
        for task in expired:
            limiter.give_back([Budget(f"customer_task:{task.chat_id}", 0, "month")], task.created_at, zone)
    return report


def _not_delivered(task: customer_task.CustomerTask, status: int | None, expire_hours: float) -> str:
    retry = "`groupbot outbox retry` creates a new task"
    if status == NOT_A_FRIEND:
        return (
            f"WeCom reports customer task {task.msgid} undeliverable: the customer is no longer in contact with "
            f"guide {task.sender}; {retry}"
        )
    if status == ALREADY_RECEIVED:
        return (
            f"WeCom reports customer task {task.msgid} was not delivered to chat {task.chat_id}: it already "
            f"received another mass message (WeCom's own limit); {retry}"
        )
    return (
        f"guide {task.sender} did not confirm customer task {task.msgid} for chat {task.chat_id} within "
        f"{expire_hours:g} hours, so it never reached the group; {retry} for the guide to confirm"
    )
