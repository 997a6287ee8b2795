"""The kf puller: kf/sync_msg pages into the database with the cursor, then each message through the dispatcher.

WeCom's rules (https://developer.work.weixin.qq.com/document/path/94670): a callback's Token is valid
for 10 minutes and makes the pull cheap; without it the pull is rate-limited but works by cursor
alone; `limit` is at most 1000; `has_more` (not an empty page) says whether to go on; messages are
kept three days, so a puller stopped for longer loses the oldest.

Two pullers may fetch the same page: the cursor advances by compare-and-set in the transaction
that stores the page's messages under their unique msgid, so exactly one stores it. A message
is then handled by one puller at a time (a lease), and its effects commit with its de-dup row
(`kf:msg:<msgid>`), so a puller that dies mid-batch leaves its messages to the next one and
none is handled twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.cli.common import current_registry
from bot.clock import Clock
from bot.config.core import Config
from bot.dispatch import Dispatcher, Outcome
from bot.events import Event
from bot.router import Router
from bot.transports.base import DeliveryError
from bot.wecom.api import WecomApi
from handlers.kf.config import KF_SECTION
from handlers.kf.inbound import event_of
from handlers.kf.names import learn_nicknames
from models import kf as kf_rows

log = logging.getLogger(__name__)

# kf/sync_msg refuses a stale or foreign callback token with this code; the pull goes on by cursor alone.
TOKEN_REFUSED = frozenset({95007})
HANDLE_BATCH = 100
# Pages one pass may pull per account before handling what it has (bounds a pass behind a huge backlog).
MAX_PAGES_PER_PASS = 50


@dataclass
class PassReport:
    pulled: int = 0
    handled: int = 0
    duplicates: int = 0


class KfPuller:
    def __init__(
        self,
        api: WecomApi,
        session_factory: sessionmaker[Session],
        config: Callable[[], Config],
        clock: Clock,
        handle: Callable[[Event], Outcome],
        *,
        worker: str | None = None,
    ):
        self._api = api
        self._session_factory = session_factory
        self._config = config
        self._clock = clock
        self._handle = handle
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:64]

    # --- pulling -------------------------------------------------------------------------------------

    def pull(self, open_kfid: str, token: str | None = None) -> int:
        """Pull the account's new messages into the database; return how many this puller stored."""
        limit = KF_SECTION.of(self._config()).pull_limit
        stored = 0
        with self._session_factory.begin() as session:
            kf_rows.cursor_of(session, open_kfid)
            seen = kf_rows.requests_seen(session, open_kfid)
        for _page in range(MAX_PAGES_PER_PASS):
            with self._session_factory.begin() as session:
                cursor, version = kf_rows.cursor_of(session, open_kfid)
            body: dict[str, Any] = {"cursor": cursor, "limit": limit, "open_kfid": open_kfid}
            if token:
                body["token"] = token
            try:
                answer = self._api.call("kf/sync_msg", body)
            except DeliveryError as exc:
                if token and exc.errcode in TOKEN_REFUSED:
                    log.info("kf: the callback token for %s was refused (%s); pulling by cursor alone", open_kfid, exc)
                    token = None
                    continue
                raise
            messages = [m for m in answer.get("msg_list") or [] if isinstance(m, dict)]
            next_cursor = str(answer.get("next_cursor") or cursor)[:128]
            with self._session_factory.begin() as session:
                count = kf_rows.store_batch(
                    session,
                    open_kfid=open_kfid,
                    version=version,
                    next_cursor=next_cursor,
                    messages=messages,
                    now=self._clock.now(),
                )
            if count is None:
                log.info("kf: another puller advanced %s first; continuing from its cursor", open_kfid)
                continue
            stored += count
            # has_more, not an empty list, says whether to go on: WeCom may answer has_more=1 with no messages.
            if not answer.get("has_more"):
                with self._session_factory.begin() as session:
                    kf_rows.served(session, open_kfid, seen)
                break
        return stored

    # --- handling ------------------------------------------------------------------------------------

    def handle_pending(self, limit: int = HANDLE_BATCH) -> PassReport:
        """Handle pulled messages not yet handled, oldest first; return the counts."""
        report = PassReport()
        while True:
            now = self._clock.now()
            with self._session_factory.begin() as session:
                batch = kf_rows.claim_pending(session, worker=self.worker, now=now, limit=limit)
            if not batch:
                return report
            # Before handling: a note to staff about one of these customers then shows their nickname.
            learn_nicknames(self._api, self._session_factory, [p.external_userid for p in batch], now)
            for pulled in batch:
                self.handle_one(pulled, report)

    def _event(self, pulled: kf_rows.Pulled) -> Event | None:
        with self._session_factory() as session:
            return event_of(session, self._config(), pulled, self._clock.now())

    def handle_one(self, pulled: kf_rows.Pulled, report: PassReport) -> None:
        event = self._event(pulled)
        if event is not None:
            outcome = self._handle(event)
            if outcome.duplicate:
                report.duplicates += 1
        with self._session_factory.begin() as session:
            kf_rows.mark_handled(session, pulled.id, self._clock.now())
        report.handled += 1

    # --- one pass ------------------------------------------------------------------------------------

    def run_pass(self, *, everything: bool = False) -> PassReport:
        """Pull the accounts a callback asked for (or every configured one), then handle what is pending."""
        with self._session_factory() as session:
            wanted = dict(kf_rows.requested_accounts(session))
        if everything:
            for account in KF_SECTION.of(self._config()).accounts:
                wanted.setdefault(account.open_kfid, None)
        report = PassReport()
        for open_kfid, token in wanted.items():
            try:
                report.pulled += self.pull(open_kfid, token)
            except DeliveryError as exc:
                log.error("kf: pulling %s failed: %s", open_kfid, exc)
        handled = self.handle_pending()
        report.handled, report.duplicates = handled.handled, handled.duplicates
        return report


def start_kf_puller(
    transport: object, session_factory: sessionmaker[Session], clock: Clock, stop: threading.Event
) -> threading.Thread | None:
    """Run the puller beside the outbox drainer (groupbot serve / groupbot drain) when kf accounts are configured.

    It checks every second for accounts a callback asked about and pulls every account each
    kf.poll_seconds anyway; the callback itself only records the request, so it answers WeCom at once.
    """
    api = getattr(transport, "api", None)
    config = getattr(transport, "config", None)
    if getattr(transport, "name", "") != "wecom" or not isinstance(api, WecomApi) or not callable(config):
        return None
    if not KF_SECTION.of(config()).enabled:
        return None
    # The registry the entry point composed (the puller runs in `serve` or `drain`), not an import of handlers.
    router = Router(current_registry())
    dispatcher = Dispatcher(session_factory=session_factory, config=config, clock=clock, router=router)
    puller = KfPuller(api, session_factory, config, clock, dispatcher.handle)

    def run() -> None:
        next_full = clock.now()
        while not stop.is_set():
            try:
                full = clock.now() >= next_full
                if full:
                    next_full = clock.now() + _seconds(KF_SECTION.of(config()).poll_seconds)
                puller.run_pass(everything=full)
            except Exception:
                log.exception("kf pull pass failed; trying again shortly")
            stop.wait(1.0)

    thread = threading.Thread(target=run, name="kf-puller", daemon=True)
    thread.start()
    return thread


def _seconds(value: int) -> timedelta:
    return timedelta(seconds=value)
