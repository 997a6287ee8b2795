"""Read customer groups back from WeCom (groupchat/get): the names, inviters and members callbacks never carry.

The change_external_chat callback says only "someone joined" with bare userids. groupchat/get
answers with the group's name and, per member, the name, group nickname, join time and scene and
who invited them. A sync applies that answer: names for welcomes and boards, the inviter (a staff
inviter becomes the member's guide), members the bot never heard join, and members it missed leave.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config.core import Config
from bot.context import Actor, ChatRef, Context
from bot.events import Event
from bot.registry import Registry
from bot.text import storable
from bot.transports.base import DeliveryError, exponential_backoff
from bot.wecom.api import WecomApi
from handlers.members.observe import attributed_guide
from handlers.members.welcome import welcome_text
from models import chat_sync, welcome
from models.base import width
from models.membership import (
    Person,
    fill_join_scene,
    join,
    leave,
    memberships_in,
    set_display_name,
    set_group_name,
    set_inviter,
)
from models.outbox import rewrite_pending

log = logging.getLogger(__name__)
NAME_MAX = width(Person.__table__.c.display_name)

GET = "externalcontact/groupchat/get"
LIST = "externalcontact/groupchat/list"
# WeCom's member type in groupchat/get: 1 a corp member (staff), 2 an external contact (a customer).
STAFF_TYPE = 1
# WeCom answers these when the chat is gone (dismissed) or not a customer group this app can see.
CHAT_GONE = frozenset({40050, 49008})
# groupchat/get is rate limited per corp: a few chats per pass, one call each, and a pause between passes.
PER_PASS = 5
PASS_EVERY = timedelta(seconds=10)
# Only this much event history is searched for changed chats when a process starts; older: `groups sync --all`.
LOOKBACK = timedelta(days=7)
# Events committed late (a slow transaction) still carry an earlier received_at, so each scan overlaps.
SCAN_OVERLAP = timedelta(minutes=2)
LEASE = timedelta(minutes=2)
RETRY_BASE = timedelta(seconds=30)
RETRY_MAX = timedelta(minutes=30)
# A refusal no retry fixes (48002 no permission …) is tried again this much later, in case it was fixed.
REFUSED_RETRY = timedelta(hours=6)


@dataclass
class SyncResult:
    """What one sync changed in one chat."""

    chat_id: str
    name: str | None = None  # the group's new name, when it changed
    renamed: list[str] = field(default_factory=list)  # members whose display name changed
    added: list[str] = field(default_factory=list)  # listed by WeCom, unknown or closed here: now members
    closed: list[str] = field(default_factory=list)  # open here, not listed by WeCom: closed as left
    inviters: list[str] = field(default_factory=list)  # members whose inviter was learned
    reattributed: list[str] = field(default_factory=list)  # members now attributed to their staff inviter
    welcome_refreshed: bool = False
    gone: str = ""  # WeCom's answer when the chat does not exist (nothing was changed)

    @property
    def changed(self) -> bool:
        return (
            bool(self.name or self.renamed or self.added or self.closed or self.inviters or self.reattributed)
            or self.welcome_refreshed
        )

    def describe(self) -> str:
        """Return one line for an operator: what changed, or that nothing did."""
        if self.gone:
            return f"{self.chat_id}: not synced, {self.gone}"
        parts = []
        if self.name:
            parts.append(f"name 「{self.name}」")
        for label, users in (
            ("names", self.renamed),
            ("added", self.added),
            ("closed as left", self.closed),
            ("inviters", self.inviters),
            ("attributed to inviter", self.reattributed),
        ):
            if users:
                parts.append(f"{label} {len(users)} ({', '.join(users[:5])}{' …' if len(users) > 5 else ''})")
        if self.welcome_refreshed:
            parts.append("pending welcome now names them")
        return f"{self.chat_id}: " + ("; ".join(parts) if parts else "no changes")


def _time(value: Any, default: datetime) -> datetime:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return default
    if seconds <= 0:
        return default
    # WeCom's clock may run ahead of ours; a join is never later than the answer that lists it.
    return min(datetime.fromtimestamp(seconds, UTC), default)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _stored_name(value: Any) -> str:
    # Names come from WeCom as typed by people: the one rule for characters a store refuses, and the column width.
    return storable(str(value or "")).strip()[:NAME_MAX]


def _shown_name(entry: dict[str, Any]) -> str:
    name = _stored_name(entry.get("name"))
    nickname = _stored_name(entry.get("group_nickname"))
    if _int(entry.get("type")) == STAFF_TYPE:
        return name or nickname  # staff are known by their WeCom name
    return nickname or name  # a customer's group nickname is what the group sees


def apply_group_chat(
    session: Session, config: Config, chat_id: str, group_chat: dict[str, Any], *, fetched_at: datetime
) -> SyncResult:
    """Apply one groupchat/get answer to names, memberships and attribution; applying it twice changes nothing.

    Args:
        group_chat: WeCom's `group_chat` object.
        fetched_at: when WeCom was asked; members who joined later are never closed by this answer.
    """
    result = SyncResult(chat_id)
    name = _stored_name(group_chat.get("name"))
    if name and set_group_name(session, chat_id, name, fetched_at):
        result.name = name
    before = memberships_in(session, chat_id)
    listed: list[str] = []
    for entry in group_chat.get("member_list") or []:
        user = str(entry.get("userid") or "").strip()
        if not user or user in listed:
            continue
        listed.append(user)
        shown = _shown_name(entry)
        if shown and set_display_name(session, user, shown, fetched_at):
            result.renamed.append(user)
        inviter = str((entry.get("invitor") or {}).get("userid") or "").strip() or None
        scene = _int(entry.get("join_scene"))
        guide = attributed_guide(config, chat_id, inviter)
        # Not a join the bot saw: it is recorded at WeCom's join time and is never welcomed (no Observed).
        join(
            session,
            chat_id=chat_id,
            user_id=user,
            at=_time(entry.get("join_time"), fetched_at),
            guide=guide,
            join_scene=scene,
            inviter=inviter,
        )
        if scene is not None:
            fill_join_scene(session, chat_id=chat_id, user_id=user, join_scene=scene)
        if inviter is not None:
            set_inviter(session, chat_id=chat_id, user_id=user, inviter=inviter, staff=guide == inviter)
    # Callbacks can be lost (WeCom gives up retrying after a few failures, a deploy drops one), so a
    # member open here but absent from WeCom's full list has left; the leave is dated when WeCom was asked.
    for user, state in before.items():
        if state.open and user not in listed and leave(session, chat_id=chat_id, user_id=user, at=fetched_at):
            result.closed.append(user)
    after = memberships_in(session, chat_id)
    for user in listed:
        was, now = before.get(user), after.get(user)
        if now is None:
            continue
        if now.open and (was is None or not was.open):
            result.added.append(user)
        if now.inviter and (was is None or was.inviter != now.inviter):
            result.inviters.append(user)
        if now.guide and now.guide == now.inviter and (was is None or was.guide != now.guide):
            result.reattributed.append(user)
    return result


def refresh_welcome(session: Session, config: Config, clock: Clock, chat_id: str) -> bool:
    """Re-render the chat's pending welcome with the names now known; False when none is waiting or it is unchanged."""
    batch = session.scalars(
        select(welcome.WelcomeBatch)
        .where(welcome.WelcomeBatch.chat_id == chat_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if batch is None or batch.outbox_id is None or not batch.user_ids or config.group(chat_id) is None:
        return False
    now = clock.now()
    event = Event(kind="event", source="app", user_id=None, chat_id=chat_id, at=now, name="group_sync")
    ctx = Context(
        session=session,
        config=config,
        clock=clock,
        event=event,
        member=Actor(None, "member"),
        chat=ChatRef(chat_id),
        registry=Registry(),
    )
    text, mentions = welcome_text(ctx, chat_id, list(batch.user_ids))
    if text == batch.payload.get("content"):
        return False
    payload = {**batch.payload, "content": text, "mentions": list(mentions)}
    if not rewrite_pending(session, batch.outbox_id, payload):
        return False  # already being sent
    welcome.extend(batch, list(batch.user_ids), payload)
    return True


def sync_chat(
    api: WecomApi, session_factory: sessionmaker[Session], config: Config, clock: Clock, chat_id: str
) -> SyncResult:
    """Ask WeCom about one chat and apply the answer; a chat WeCom does not know changes nothing.

    Raises:
        DeliveryError: WeCom refused (no permission, rate limited, unreachable); nothing was changed.
    """
    started = clock.now()
    try:
        answer = api.call(GET, {"chat_id": chat_id, "need_name": 1})
    except DeliveryError as exc:
        if exc.errcode not in CHAT_GONE:
            raise
        # Dismissed, or an internal chat: closing everyone on this answer would be guessing.
        with session_factory.begin() as session:
            chat_sync.record_synced(session, chat_id, started=started, error=str(exc))
        return SyncResult(chat_id, gone=str(exc))
    with session_factory.begin() as session:
        result = apply_group_chat(session, config, chat_id, answer.get("group_chat") or {}, fetched_at=started)
        if result.renamed or result.added:
            result.welcome_refreshed = refresh_welcome(session, config, clock, chat_id)
        chat_sync.record_synced(session, chat_id, started=started)
    return result


# groupchat/list takes at most 100 owners per call and 1..1000 chats per page; without owner_filter a corp whose
# app sees more than 1,000 members gets 81017 (https://developer.work.weixin.qq.com/document/path/92120).
OWNERS_PER_CALL = 100
PAGE_LIMIT = 1000


def list_chats(api: WecomApi, owners: list[str] | None = None, *, limit: int = PAGE_LIMIT) -> list[str]:
    """Return the customer groups WeCom lists for `owners` (the guides), page by page; all visible without owners."""
    found: list[str] = []
    owners = owners or []
    batches = [owners[i : i + OWNERS_PER_CALL] for i in range(0, len(owners), OWNERS_PER_CALL)]
    for batch in batches or [[]]:
        cursor = ""
        while True:
            body: dict[str, Any] = {"status_filter": 0, "cursor": cursor, "limit": limit}
            if batch:
                body["owner_filter"] = {"userid_list": batch}
            answer = api.call(LIST, body)
            found.extend(str(c["chat_id"]) for c in answer.get("group_chat_list") or [] if c.get("chat_id"))
            cursor = str(answer.get("next_cursor") or "")
            if not cursor:
                break
    return list(dict.fromkeys(found))


def retry_delay(error: DeliveryError, attempts: int) -> timedelta:
    """Wait longer after each failure; a refusal only an operator can fix waits hours."""
    if not error.transient:
        return REFUSED_RETRY
    delay = timedelta(seconds=exponential_backoff(attempts, RETRY_BASE.total_seconds(), RETRY_MAX.total_seconds()))
    return max(delay, timedelta(seconds=error.retry_after or 0))


@dataclass
class PassReport:
    synced: list[SyncResult] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class GroupSyncer:
    """Syncs the chats changed since their last sync, a few per pass; errors wait for a later pass."""

    def __init__(
        self,
        api: WecomApi,
        session_factory: sessionmaker[Session],
        config: Callable[[], Config],
        clock: Clock,
        *,
        per_pass: int = PER_PASS,
    ):
        self.api = api
        self._session_factory = session_factory
        self._config = config
        self._clock = clock
        self._per_pass = per_pass
        # Where the last scan of change events began; only speeds up the scan, so it may live in memory.
        self._scanned_from: datetime | None = None

    def run_pass(self) -> PassReport:
        """Mark chats with new change events, then sync up to `per_pass` of those due."""
        now = self._clock.now()
        since = (self._scanned_from or now - LOOKBACK) - SCAN_OVERLAP
        with self._session_factory.begin() as session:
            chat_sync.note_changes(session, since=since)
            due = chat_sync.due_chats(session, now=now, limit=self._per_pass)
        self._scanned_from = now
        report = PassReport()
        for chat_id in due:
            with self._session_factory.begin() as session:
                if not chat_sync.claim(session, chat_id, now=now, until=now + LEASE):
                    continue  # another process is on it
            try:
                result = sync_chat(self.api, self._session_factory, self._config(), self._clock, chat_id)
            except DeliveryError as exc:
                report.failed[chat_id] = str(exc)
                self._failed(chat_id, exc)
                continue
            except Exception as exc:  # a bug must not stop the other chats or the thread
                log.exception("group sync of %s crashed; trying again later", chat_id)
                report.failed[chat_id] = repr(exc)
                self._failed(chat_id, DeliveryError(repr(exc), transient=True))
                continue
            report.synced.append(result)
            if result.gone:
                log.warning("group sync: %s", result.describe())
            elif result.changed:
                log.info("group sync: %s", result.describe())
        return report

    def _failed(self, chat_id: str, error: DeliveryError) -> None:
        now = self._clock.now()
        with self._session_factory.begin() as session:
            state = chat_sync.sync_state(session, chat_id)
            attempts = (state.attempts if state else 0) + 1
            delay = retry_delay(error, attempts)
            chat_sync.record_failure(session, chat_id, error=str(error), retry_at=now + delay)
        log.warning("group sync of %s failed (try %d, next in %ds): %s", chat_id, attempts, delay.seconds, error)


def start_background_sync(
    transport: object, session_factory: sessionmaker[Session], clock: Clock, stop: threading.Event
) -> threading.Thread | None:
    """Run a GroupSyncer beside the outbox drainer until `stop` is set; None unless the transport is WeCom's.

    Its own thread, so a slow groupchat/get never holds up message delivery.
    """
    api = getattr(transport, "api", None)
    config = getattr(transport, "config", None)
    if getattr(transport, "name", "") != "wecom" or not isinstance(api, WecomApi) or not callable(config):
        return None
    syncer = GroupSyncer(api, session_factory, config, clock)

    def run() -> None:
        while not stop.is_set():
            try:
                syncer.run_pass()
            except Exception:
                log.exception("group sync pass failed; trying again next pass")
            stop.wait(PASS_EVERY.total_seconds())

    thread = threading.Thread(target=run, name="group-sync", daemon=True)
    thread.start()
    return thread
