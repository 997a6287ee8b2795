"""Route each outbox row to the WeCom channel that can carry it, within quiet hours and rate limits."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config.core import Config
from bot.config.outbound import SEND_SHARE, QuietHoursConfig
from bot.transports.aibot_response import AibotResponseTransport
from bot.transports.app_message import AppMessageTransport
from bot.transports.appchat import AppchatTransport
from bot.transports.base import Deferred, DeliveryError, OutgoingMessage
from bot.transports.console import ConsoleTransport
from bot.transports.customer_task import CustomerTaskTransport, poll_customer_tasks
from bot.transports.limiter import Budget, Limiter, days_in_month
from bot.transports.sidebar import hold_for_guide
from bot.transports.webhook import WebhookTransport
from bot.wecom.api import WecomApi

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
    """The `wecom` transport: picks webhook, appchat, customer task, app message or aibot response per row."""

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
        self.customer_task = CustomerTaskTransport(api, session_factory, clock)
        self.aibot = AibotResponseTransport(api)
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
        if message.channel == "aibot_response":
            self.aibot.send_at(payload, now)
            return
        if message.channel == "app_message":
            limits = config.outbound.limits
            budgets = [
                Budget(f"app_message:{message.target}", limits.app_message_per_minute, "minute"),
                Budget(f"app_message:{message.target}", limits.app_message_per_hour, "hour"),
            ]
            with self._admitted(message, config, now, budgets):
                self.app_message.send_to(message.target, payload)
            return
        if message.channel != "group":
            raise DeliveryError(f"unknown outbox channel {message.channel!r}", transient=False)
        group = config.group(message.target)
        if group is None:
            raise DeliveryError(
                f"chat {message.target} is not listed under groups: in the config; add it with its push: "
                "transport (webhook, appchat, customer_task or console)",
                transient=False,
            )
        limits = config.outbound.limits
        if group.push == "webhook":
            if not group.webhook_key:
                raise DeliveryError(
                    f"group {group.chat_id} uses push: webhook but has no webhook_key; copy the key from the "
                    "group robot's 消息推送 URL into groups[].webhook_key",
                    transient=False,
                )
            budget = Budget(f"webhook:{_short(group.webhook_key)}", limits.webhook_per_minute, "minute")
            with self._admitted(message, config, now, [budget]):
                self.webhook.send_to(group.webhook_key, payload)
        elif group.push == "appchat":
            # WeCom counts recipients; group sizes are not known here, so each message counts as one.
            with self._admitted(message, config, now, [Budget("appchat:corp", limits.appchat_per_minute, "minute")]):
                self.appchat.send_to(group.chat_id, payload)
        elif group.push == "customer_task":
            hold_for_guide(self._session_factory, config, group, message, now)
            cap = limits.customer_task_per_month or days_in_month(now, config.zone)
            with self._admitted(message, config, now, [Budget(f"customer_task:{group.chat_id}", cap, "month")]):
                self.customer_task.send_to(group, message, config)
        else:
            self.console.send(message)

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
        if message.payload.get("purpose") != "answer":
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
