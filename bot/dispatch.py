"""Handle one event: de-duplicate, route, and commit its effects and queued replies together."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config.core import Config
from bot.context import Actor, ChatRef, Context, Observed
from bot.events import Event
from bot.outbox import queue_reply
from bot.replies import Reply
from bot.router import Router
from bot.telemetry.context import note_event
from bot.telemetry.metrics import HANDLER_SECONDS
from bot.text import storable
from models.activity import record_activity
from models.db import retry_if_disconnected
from models.membership import SYSTEM_SENDER
from models.processed_event import claim_event, store_reply, stored_reply

log = logging.getLogger(__name__)

# Channels whose HTTP answer (or terminal) carries the reply; the app channel answers through the outbox.
PASSIVE_SOURCES = frozenset({"aibot", "console", "web"})


@dataclass
class Outcome:
    duplicate: bool = False
    passive: list[Reply] = field(default_factory=list)
    queued: int = 0

    @property
    def passive_text(self) -> str:
        return "\n\n".join(r.text for r in self.passive)


def count_message(session: Session, event: Event) -> None:
    """Count a text that was chat, not a bot command, as one message for the activity board."""
    user = event.user_id
    if event.kind == "text" and user and user != SYSTEM_SENDER:
        record_activity(session, chat_id=event.chat_id, user_id=user, at=event.at, kind="message")


class Dispatcher:
    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        config: Callable[[], Config],
        clock: Clock,
        router: Router,
        on_queued: Callable[[], None] | None = None,
    ):
        self._session_factory = session_factory
        self._config = config
        self._clock = clock
        self._router = router
        self._on_queued = on_queued

    def handle(self, event: Event) -> Outcome:
        """Process `event` once; a repeat returns the first answer and changes nothing."""
        if event.text and storable(event.text) != event.text:
            # The one rule for characters a store refuses holds for every channel, the console and the
            # web pages too, not only for what the callbacks decrypt: a reply that quotes the text is stored.
            event = replace(event, text=storable(event.text))
        started = time.perf_counter()
        outcome = retry_if_disconnected(lambda: self._handle_once(event))
        HANDLER_SECONDS.labels(event.source).observe(time.perf_counter() - started)
        note_event(
            dedup_key=event.dedup_key,
            chat_id=event.chat_id,
            user_id=event.user_id,
            outcome="duplicate" if outcome.duplicate else "handled",
        )
        if outcome.queued and self._on_queued is not None:
            self._on_queued()
        return outcome

    def _handle_once(self, event: Event) -> Outcome:
        config = self._config()
        key = event.dedup_key
        now = self._clock.now()
        with self._session_factory.begin() as session:
            claimed = claim_event(
                session,
                dedup_key=key,
                source=event.source,
                kind=event.name or event.kind,
                chat_id=event.chat_id,
                user_id=event.user_id,
                received_at=now,
            )
            if not claimed:
                log.info("duplicate delivery of %s ignored", key)
                text = stored_reply(session, key)
                return Outcome(duplicate=True, passive=[Reply(text)] if text else [])

            observed = Observed()
            for _order, observe in self._router.registry.observers:
                observed = observe(session, event, config, now, observed)
            ctx = Context(
                session=session,
                config=config,
                clock=self._clock,
                event=event,
                member=Actor(event.user_id, config.roles.role_of(event.user_id)),
                chat=ChatRef(event.chat_id) if event.chat_id else None,
                registry=self._router.registry,
                membership=observed,
            )
            outcome = Outcome()
            routed = self._router.route(ctx)
            # The activity board ranks participation: a bot command (签到 counts as a check-in) is no chat message.
            if routed.command is None and not routed.counted:
                count_message(session, event)
            for reply in routed.replies:
                # A late answer cannot ride this HTTP response: it goes through the outbox to response_url.
                if reply.answers_origin and event.source in PASSIVE_SOURCES and not reply.via_response_url:
                    outcome.passive.append(reply)
                elif queue_reply(session, reply, now, origin=event):
                    outcome.queued += 1
            if outcome.passive:
                store_reply(session, key, outcome.passive_text)
        return outcome
