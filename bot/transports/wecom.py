"""Route each outbox row to the WeCom channel that can carry it, within quiet hours and rate limits."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config.core import Config
from bot.config.outbound import SEND_SHARE, QuietHoursConfig
from bot.outbox import EXTERNAL_ID_PREFIXES, PURPOSE_ANSWER, PURPOSE_URGENT
from bot.transports import sizes
from bot.transports.aibot_push import AibotPushTransport
from bot.transports.aibot_response import AibotResponseTransport
from bot.transports.app_message import AppMessageTransport
from bot.transports.appchat import AppchatTransport
from bot.transports.base import Deferred, DeliveryError, OutgoingMessage
from bot.transports.console import ConsoleTransport
from bot.transports.customer_task import CustomerTaskTransport, cap_budget, poll_customer_tasks
from bot.transports.kf import KfTransport
from bot.transports.limiter import Budget, Limiter
from bot.transports.sidebar import hold_for_guide
from bot.transports.webhook import WebhookTransport
from bot.wecom.api import WecomApi
from models import membership
from models import outbox as outbox_rows

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(minutes=10)


def quiet_until(settings: QuietHoursConfig, now: datetime, zone: ZoneInfo) -> datetime | None:
    """Return when quiet hours end if `now` falls inside them, else None."""
    if not settings.enabled:
        return None
    local = now.astimezone(zone)
    start, end, t = settings.start_time, settings.end_time, local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if until <= local:
        until += timedelta(days=1)
    return until.astimezone(UTC)


def _short(key: str) -> str:
    # Webhook keys are secrets: budgets are stored under a digest, never the key itself.
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class WecomTransport:
    """The `wecom` transport: picks webhook, appchat, aibot push, customer task, app message or aibot response."""

    name = "wecom"

    def __init__(
        self,
        config: Callable[[], Config],
        api: WecomApi,
        session_factory: sessionmaker[Session],
        clock: Clock,
        *,
        console: ConsoleTransport | None = None,
    ):
        self._config = config
        self.config = config  # the live config, for jobs that ride along with this transport (group sync)
        self.api = api
        self._session_factory = session_factory
        self._clock = clock
        self.limiter = Limiter(session_factory)
        self.webhook = WebhookTransport(api)
        self.appchat = AppchatTransport(api)
        self.app_message = AppMessageTransport(api)
        self.customer_task = CustomerTaskTransport(api, session_factory, clock, self.limiter)
        self.aibot = AibotResponseTransport(api)
        self.aibot_push = AibotPushTransport(clock)
        self.kf = KfTransport(api, session_factory, clock)
        self.console = console or ConsoleTransport()
        self._next_poll: datetime | None = None
        self._next_prune: datetime | None = None

    def send(self, message: OutgoingMessage) -> None:
        """Deliver one row, or raise Deferred when quiet hours or a spent budget say not yet.

        The drainer gives back the rest of a batch once half of outbox.reclaim_after_seconds has passed,
        so a send that starts just before then must end before reclaim_after, or another drainer could
        take the row and send it again: each send is boxed to SEND_SHARE of reclaim_after, whatever
        outbound.timeout_seconds and the token waits would otherwise add up to.
        """
        config = self._config()
        with self.api.time_box(config.outbox.reclaim_after_seconds * SEND_SHARE):
            self._send(message, config)

    def route(self, message: OutgoingMessage) -> str:
        """How `message` leaves: a group's push transport (webhook, appchat, customer_task …), else its channel."""
        group = self._config().group(message.target) if message.channel == "group" else None
        return group.push if group is not None else message.channel

    def _send(self, message: OutgoingMessage, config: Config) -> None:
        now = self._clock.now()
        payload = message.payload
        limits = config.outbound.limits
        if message.channel == "aibot_response":
            # The response_url works once: one message, cut visibly if it is too long.
            marker = config.texts.render("outbound_cut_marker")
            limit = sizes.limit_for("aibot_response", str(payload.get("msgtype", "text")))
            content = sizes.fit(str(payload.get("content", "")), limit, marker=marker)[0]
            self.aibot.send_at({**payload, "content": content}, now)
            return
        if message.channel == "kf_message":
            # kf's own budget (48 hours, five replies) is kept per customer in the database by the kf transport;
            # here only quiet hours apply, to pushes (a nudge), not to answers.
            self._admit(message, config, now, [])
            # Each kf message spends one of the customer's five replies, so a long text is cut visibly, not split.
            marker = config.texts.render("outbound_cut_marker")
            content = sizes.fit(str(payload.get("content", "")), sizes.KF_TEXT, marker=marker)[0]
            self.kf.send(replace(message, payload={**payload, "content": content}))
            return
        if message.channel == "app_message":
            if message.target.startswith(EXTERNAL_ID_PREFIXES):
                log.error("outbox row %s: refusing an app message to WeChat customer %s", message.id, message.target)
                raise DeliveryError(
                    f"{message.target} is a WeChat customer: WeCom delivers no app message to them; "
                    "they are reached through 微信客服 (kf) or their guide",
                    transient=False,
                )
            limits = config.outbound.limits
            budgets = [
                Budget(f"app_message:{message.target}", limits.app_message_per_minute, "minute"),
                Budget(f"app_message:{message.target}", limits.app_message_per_hour, "hour"),
            ]
            self._in_parts(
                message, config, now, "app_message", budgets, partial(self.app_message.send_to, message.target)
            )
            return
        if message.channel != "group":
            raise DeliveryError(f"unknown outbox channel {message.channel!r}", transient=False)
        group = config.group(message.target)
        if group is None:
            raise DeliveryError(
                f"chat {message.target} is not listed under groups: in the config; add it with its push: "
                "transport (webhook, appchat, aibot, customer_task or console)",
                transient=False,
            )
        if group.push == "webhook":
            if not group.webhook_key:
                raise DeliveryError(
                    f"group {group.chat_id} uses push: webhook but has no webhook_key; copy the key from the "
                    "group robot's 消息推送 URL into groups[].webhook_key",
                    transient=False,
                )
            budget = Budget(f"webhook:{_short(group.webhook_key)}", limits.webhook_per_minute, "minute")
            self._in_parts(message, config, now, "webhook", [budget], partial(self.webhook.send_to, group.webhook_key))
        elif group.push == "appchat":
            # WeCom counts appchat recipients (人次): every member the group has counts once per message.
            with self._session_factory() as session:
                cost = max(1, membership.member_count(session, group.chat_id))
            budgets = [
                Budget("appchat:corp", limits.appchat_per_minute, "minute", cost=min(cost, limits.appchat_per_minute)),
                Budget("appchat:corp", limits.appchat_per_hour, "hour", cost=min(cost, limits.appchat_per_hour)),
            ]
            self._in_parts(message, config, now, "appchat", budgets, partial(self.appchat.send_to, group.chat_id))
        elif group.push == "aibot":
            budgets = [
                Budget(f"aibot:{group.chat_id}", limits.aibot_per_minute, "minute"),
                Budget(f"aibot:{group.chat_id}", limits.aibot_per_hour, "hour"),
            ]
            self._in_parts(message, config, now, "aibot", budgets, partial(self.aibot_push.send_to, group.chat_id))
        elif group.push == "customer_task":
            # Held for the guide's sidebar first (delivery: sidebar, sidebar_then_task): raises Deferred meanwhile.
            hold_for_guide(self._session_factory, config, group, message, now)
            if self.customer_task.carried(message, now):
                return  # a task created from another row carries this one; its unit was counted there
            with self._admitted(message, config, now, [cap_budget(group.chat_id, config, now)]):
                self.customer_task.send_to(group, message, config)
        else:
            self.console.send(message)

    def _in_parts(
        self,
        message: OutgoingMessage,
        config: Config,
        now: datetime,
        route: str,
        budgets: list[Budget],
        send_part: Callable[[dict[str, Any]], object],
    ) -> None:
        """Send the payload in parts that fit `route`'s byte limit, in order, each admitted on its own.

        A row split into parts records how many went out, so a retry or a deferral (a spent budget, quiet hours)
        resumes with the next part instead of sending the first ones again. @mentions ride on the first part.
        """
        payload = message.payload
        msgtype = str(payload.get("msgtype", "text"))
        limit = sizes.limit_for(route, msgtype)
        mentions = list(payload.get("mentions") or [])
        # Markdown carries mentions inside the content (<@userid>), so the first part leaves room for them.
        reserve = sizes.size("".join(f"<@{m}>" for m in mentions)) + 1 if mentions and msgtype == "markdown" else 0
        content = str(payload.get("content", ""))
        parts = sizes.fit(content, limit, reserve=reserve) if msgtype in ("text", "markdown") else [content]
        done = int(payload.get("parts_sent") or 0)
        for index in range(done, len(parts)):
            part = {**payload, "content": parts[index]}
            if index > 0:
                part["mentions"] = []
            with self._admitted(message, config, now, budgets):
                send_part(part)
            if index + 1 < len(parts):
                with self._session_factory.begin() as session:
                    outbox_rows.record_parts_sent(session, message.id, {**payload, "parts_sent": index + 1})
                payload = {**payload, "parts_sent": index + 1}

    @contextmanager
    def _admitted(
        self, message: OutgoingMessage, config: Config, now: datetime, budgets: list[Budget]
    ) -> Iterator[None]:
        """Admit the message (quiet hours, budgets) for the block; give the budgets back if WeCom refused it."""
        taken = self._admit(message, config, now, budgets)
        try:
            yield
        except DeliveryError as exc:
            if taken and exc.refused:
                # WeCom did not take it, so it does not count against WeCom's limit (a customer group's month).
                self.limiter.give_back(budgets, now, config.zone)
            raise

    def _admit(self, message: OutgoingMessage, config: Config, now: datetime, budgets: list[Budget]) -> bool:
        if message.payload.get("purpose") not in (PURPOSE_ANSWER, PURPOSE_URGENT):
            until = quiet_until(config.outbound.quiet_hours, now, config.zone)
            if until is not None:
                raise Deferred(until, f"quiet hours until {until.astimezone(config.zone):%H:%M}")
        if not config.outbound.limits.enabled:
            return False
        spent = self.limiter.acquire(budgets, now, config.zone)
        if spent is not None:
            budget, until = spent
            reason = f"{budget.period} budget of {budget.limit} spent for {budget.key.split(':')[0]}"
            raise Deferred(until, reason, backlog=True)
        return True

    def tick(self) -> None:
        """Housekeeping between drain passes: poll customer tasks and forget old rate-limit windows."""
        now = self._clock.now()
        config = self._config()
        if self._next_poll is None or now >= self._next_poll:
            self._next_poll = now + timedelta(seconds=config.outbound.task_poll_seconds)
            poll_customer_tasks(self._session_factory, self.api, self._config, now)
        if self._next_prune is None or now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            self.limiter.prune(now)


def build_wecom_transport(
    config: Callable[[], Config], session_factory: sessionmaker[Session], clock: Clock
) -> WecomTransport:
    """Build the WeCom transport from the current config's credentials and outbound settings."""
    current = config()
    if not (current.wecom.corp_id and current.wecom.secret):
        raise ValueError("outbox.transport is wecom but wecom.corp_id or wecom.secret is empty")
    api = WecomApi(
        session_factory,
        clock,
        corp_id=current.wecom.corp_id,
        secret=current.wecom.secret,
        agent_id=current.wecom.agent_id,
        api_base=current.wecom.api_base,
        timeout=current.outbound.timeout_seconds,
        token_lease=current.outbound.token_lease_seconds,
    )
    return WecomTransport(config, api, session_factory, clock)
