"""Group-buys: deals with places that cannot be oversold, signups with a stable 跟团号, and the waitlist.

Every change to one deal (a signup, a cancellation, the close) first locks the deal's row
(PostgreSQL: SELECT … FOR UPDATE; SQLite: BEGIN IMMEDIATE already runs writers one at a time),
so signups are numbered and queued in the order they reach the database. The places themselves
are also held by the database: `taken` only grows through a conditional UPDATE and a CHECK keeps
it within `places`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, one_of


class DealStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class DealOutcome(StrEnum):
    FORMED = "formed"
    NOT_FORMED = "not_formed"


class SignupState(StrEnum):
    """A stored signup's status (SignupStatus below is what a signup attempt answers)."""

    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


DEAL_STATUSES = tuple(status.value for status in DealStatus)
OUTCOMES = tuple(outcome.value for outcome in DealOutcome)
SIGNUP_STATUSES = tuple(status.value for status in SignupState)
# Letters and digits nobody confuses when reading a 团号 aloud or typing it on a phone (no 0/O, 1/I/L).
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class Deal(Base):
    __tablename__ = "groupbuy_deals"
    __table_args__ = (
        CheckConstraint(one_of("status", DealStatus), name="status"),
        CheckConstraint(one_of("outcome", DealOutcome, nullable=True), name="outcome"),
        CheckConstraint("price_cents > 0", name="price_positive"),
        CheckConstraint("places > 0", name="places_positive"),
        CheckConstraint("min_members >= 1", name="min_members_positive"),
        CheckConstraint("per_member_limit >= 1", name="limit_positive"),
        # The guarantee against overselling, whatever the code above it does.
        CheckConstraint("taken >= 0 AND taken <= places", name="taken_within_places"),
        # The closer looks for open deals past their deadline.
        Index("ix_groupbuy_deals_status_deadline", "status", "deadline_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The short 团号 members type; unique across all deals.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    title: Mapped[str] = mapped_column(String(128))
    price_cents: Mapped[int] = mapped_column(Integer)
    places: Mapped[int] = mapped_column(Integer)
    min_members: Mapped[int] = mapped_column(Integer)
    per_member_limit: Mapped[int] = mapped_column(Integer)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_by: Mapped[str] = mapped_column(String(128), index=True)
    # The group the deal is announced in; None when a guide opened it 1:1 without naming one.
    chat_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="open")
    outcome: Mapped[str | None] = mapped_column(String(16))
    # Units held by confirmed signups.
    taken: Mapped[int] = mapped_column(Integer, default=0)
    # The last 跟团号 handed out, and the last waitlist position.
    last_number: Mapped[int] = mapped_column(Integer, default=0)
    last_queue: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A guide's userid, "deadline" or "full".
    closed_by: Mapped[str | None] = mapped_column(String(128))
    # What each signup is asked for (需要=自提点,电话), comma-separated; None asks nothing.
    fields: Mapped[str | None] = mapped_column(String(128))

    @property
    def field_names(self) -> list[str]:
        return [name for name in (self.fields or "").split(",") if name]


class Signup(Base):
    __tablename__ = "groupbuy_signups"
    __table_args__ = (
        UniqueConstraint("deal_id", "user_id"),
        UniqueConstraint("deal_id", "number", name="uq_groupbuy_signups_deal_number"),
        CheckConstraint(one_of("status", SignupState), name="status"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("number > 0", name="number_positive"),
        Index("ix_groupbuy_signups_user", "user_id"),
        # The guide report reads signups by guide over a period.
        Index("ix_groupbuy_signups_guide_created", "guide", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("groupbuy_deals.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(128))
    # Where the member signed up from (None: 1:1).
    chat_id: Mapped[str | None] = mapped_column(String(128))
    # The 跟团号: given once, kept through a cancel and a later re-signup.
    number: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    # The order on the waitlist (the deal's queue counter when the member last joined it).
    queue: Mapped[int] = mapped_column(Integer)
    # The guide credited with this signup, fixed when the member signed up.
    guide: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The member's answers to the deal's fields, as a JSON object (自提点 → 东门).
    answers: Mapped[str | None] = mapped_column(Text)

    @property
    def answer_map(self) -> dict[str, str]:
        return dict(json.loads(self.answers)) if self.answers else {}


def _random_code(session: Session, prefix: str) -> str:
    while True:
        code = prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(4))
        if session.scalar(select(Deal.id).where(Deal.code == code)) is None:
            return code


def open_deal(
    session: Session,
    *,
    code_style: str,
    code_prefix: str,
    title: str,
    price_cents: int,
    places: int,
    min_members: int,
    per_member_limit: int,
    deadline_at: datetime,
    opened_by: str,
    chat_id: str | None,
    at: datetime,
    fields: list[str] | None = None,
) -> Deal:
    """Create an open deal with a new 团号: the deal's number (style "number") or four random letters and digits."""
    deal = Deal(
        code=_random_code(session, code_prefix.upper()),
        title=title,
        price_cents=price_cents,
        places=places,
        min_members=min_members,
        per_member_limit=per_member_limit,
        deadline_at=deadline_at,
        opened_by=opened_by,
        chat_id=chat_id,
        status="open",
        taken=0,
        last_number=0,
        last_queue=0,
        created_at=at,
        fields=",".join(fields) if fields else None,
    )
    session.add(deal)
    session.flush()
    if code_style == "number":
        # The row id is unique even when two guides open deals at the same moment; a counted max() is not.
        deal.code = f"{code_prefix.upper()}{deal.id}"
        session.flush()
    return deal


def find(session: Session, code: str) -> Deal | None:
    """Return the deal with 团号 `code` (as typed, case-insensitive), or None."""
    # Codes are stored upper-case, so the unique index answers this.
    return session.scalar(select(Deal).where(Deal.code == code.upper()))


def lock(session: Session, deal_id: int) -> Deal:
    """Return the deal, locked until the transaction ends: every change to a deal starts here."""
    stmt = select(Deal).where(Deal.id == deal_id).with_for_update()
    return session.scalars(stmt.execution_options(populate_existing=True)).one()


def open_in_chat(session: Session, chat_id: str) -> list[Deal]:
    """Return the open deals announced in `chat_id`, oldest first."""
    return list(session.scalars(select(Deal).where(Deal.chat_id == chat_id, Deal.status == "open").order_by(Deal.id)))


SignupStatus = Literal["confirmed", "waitlisted", "closed", "already", "limit"]


@dataclass(frozen=True)
class SignupResult:
    status: SignupStatus
    signup: Signup | None = None
    deal: Deal | None = None
    # 1-based place on the waitlist, for a waitlisted signup.
    position: int = 0


def _counter(session: Session, deal_id: int, column: str) -> int:
    # An UPDATE … RETURNING under the deal's lock: each caller gets the next value, none repeats.
    attribute = getattr(Deal, column)
    return int(
        session.scalar(
            update(Deal)
            .where(Deal.id == deal_id)
            .values({column: attribute + 1})
            .returning(attribute)
            .execution_options(synchronize_session=False)
        )
    )


def _take(session: Session, deal_id: int, quantity: int) -> bool:
    """Take `quantity` places if that many are left; False (and nothing taken) otherwise."""
    taken = session.scalar(
        update(Deal)
        .where(Deal.id == deal_id, Deal.status == "open", Deal.taken + quantity <= Deal.places)
        .values(taken=Deal.taken + quantity)
        .returning(Deal.taken)
        .execution_options(synchronize_session=False)
    )
    return taken is not None


def _give_back(session: Session, deal_id: int, quantity: int) -> None:
    session.execute(
        update(Deal)
        .where(Deal.id == deal_id)
        .values(taken=Deal.taken - quantity)
        .execution_options(synchronize_session=False)
    )


def sign_up(
    session: Session,
    deal_id: int,
    *,
    user_id: str,
    chat_id: str | None,
    quantity: int,
    guide: str | None,
    at: datetime,
    answers: dict[str, str] | None = None,
) -> SignupResult:
    """Sign `user_id` up for `quantity` units: confirmed while places last, waitlisted after.

    A member has one signup per deal (UNIQUE); signing up again after a cancel reuses it, with
    the same 跟团号, at the back of the queue.
    """
    deal = lock(session, deal_id)
    if deal.status != "open" or deal.deadline_at <= at:
        return SignupResult("closed", deal=deal)
    if quantity > deal.per_member_limit:
        return SignupResult("limit", deal=deal)
    signup = session.scalar(
        select(Signup)
        .where(Signup.deal_id == deal_id, Signup.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    if signup is not None and signup.status != "cancelled":
        return SignupResult("already", signup, deal, _position(session, signup))
    queue = _counter(session, deal_id, "last_queue")
    confirmed = _take(session, deal_id, quantity)
    status: SignupStatus = "confirmed" if confirmed else "waitlisted"
    answered = json.dumps(answers, ensure_ascii=False, sort_keys=True) if answers else None
    if signup is None:
        signup = Signup(
            deal_id=deal_id,
            user_id=user_id,
            chat_id=chat_id,
            number=_counter(session, deal_id, "last_number"),
            quantity=quantity,
            status=status,
            queue=queue,
            guide=guide,
            created_at=at,
            updated_at=at,
            answers=answered,
        )
        session.add(signup)
    else:
        signup.quantity, signup.status, signup.queue, signup.chat_id = quantity, status, queue, chat_id
        signup.guide, signup.created_at, signup.updated_at, signup.answers = guide, at, at, answered
    session.flush()
    session.refresh(deal)
    return SignupResult(status, signup, deal, _position(session, signup))


def _position(session: Session, signup: Signup) -> int:
    if signup.status != "waitlisted":
        return 0
    ahead = session.scalar(
        select(func.count())
        .select_from(Signup)
        .where(Signup.deal_id == signup.deal_id, Signup.status == "waitlisted", Signup.queue < signup.queue)
    )
    return int(ahead or 0) + 1


CancelStatus = Literal["cancelled", "closed", "missing"]


@dataclass(frozen=True)
class CancelResult:
    status: CancelStatus
    signup: Signup | None = None
    deal: Deal | None = None
    promoted: list[Signup] = field(default_factory=list)


def cancel(session: Session, deal_id: int, *, user_id: str, at: datetime) -> CancelResult:
    """Cancel the member's signup; freed places go to the waitlist, first come first served."""
    deal = lock(session, deal_id)
    signup = session.scalar(
        select(Signup)
        .where(Signup.deal_id == deal_id, Signup.user_id == user_id, Signup.status != "cancelled")
        .execution_options(populate_existing=True)
    )
    if signup is None:
        return CancelResult("missing", deal=deal)
    if deal.status != "open" or deal.deadline_at <= at:
        # Past the deadline the roster is what the close will judge, even before the closer has run.
        return CancelResult("closed", signup, deal)
    was_confirmed = signup.status == "confirmed"
    signup.status, signup.updated_at = "cancelled", at
    session.flush()
    promoted: list[Signup] = []
    if was_confirmed:
        _give_back(session, deal_id, signup.quantity)
        promoted = _promote(session, deal_id, at)
    session.refresh(deal)
    return CancelResult("cancelled", signup, deal, promoted)


def _promote(session: Session, deal_id: int, at: datetime) -> list[Signup]:
    """Confirm waitlisted signups in queue order while places last (one too large for what is left is skipped)."""
    promoted: list[Signup] = []
    waiting = session.scalars(
        select(Signup)
        .where(Signup.deal_id == deal_id, Signup.status == "waitlisted")
        .order_by(Signup.queue)
        .execution_options(populate_existing=True)
    )
    for signup in list(waiting):
        if _take(session, deal_id, signup.quantity):
            signup.status, signup.updated_at = "confirmed", at
            promoted.append(signup)
    session.flush()
    return promoted


EditStatus = Literal["edited", "closed", "below_taken", "unchanged"]


@dataclass(frozen=True)
class EditResult:
    status: EditStatus
    deal: Deal
    # What the deal was before the edit: (price_cents, places, deadline_at).
    before: tuple[int, int, datetime]
    promoted: list[Signup] = field(default_factory=list)


def edit(
    session: Session,
    deal_id: int,
    *,
    at: datetime,
    price_cents: int | None = None,
    places: int | None = None,
    deadline_at: datetime | None = None,
) -> EditResult:
    """Change an open deal's price, places or deadline under its lock; places never drop below those taken.

    The UPDATE is conditional on `taken <= places` as well as the lock (and the CHECK holds it too),
    so a signup racing the edit either lands first and is counted, or waits for the edit and then
    finds the new number of places.
    """
    deal = lock(session, deal_id)
    before = (deal.price_cents, deal.places, deal.deadline_at)
    if deal.status != "open" or deal.deadline_at <= at:
        return EditResult("closed", deal, before)
    values: dict[str, object] = {}
    if price_cents is not None and price_cents != deal.price_cents:
        values["price_cents"] = price_cents
    if deadline_at is not None and deadline_at != deal.deadline_at:
        values["deadline_at"] = deadline_at
    if places is not None and places != deal.places:
        values["places"] = places
    if not values:
        return EditResult("unchanged", deal, before)
    wanted = places if places is not None else deal.places
    changed = session.scalar(
        update(Deal)
        .where(Deal.id == deal_id, Deal.status == "open", Deal.taken <= wanted)
        .values(values)
        .returning(Deal.id)
        .execution_options(synchronize_session=False)
    )
    if changed is None:
        session.refresh(deal)
        return EditResult("below_taken", deal, before)
    promoted = _promote(session, deal_id, at) if places is not None and places > before[1] else []
    session.refresh(deal)
    return EditResult("edited", deal, before, promoted)


def open_deals(session: Session, chat_ids: frozenset[str] | None = None, opened_by: str | None = None) -> list[Deal]:
    """Return the open deals, oldest first: all, or those in `chat_ids` or opened by `opened_by`."""
    query = select(Deal).where(Deal.status == "open").order_by(Deal.id)
    if chat_ids is not None:
        query = query.where(Deal.chat_id.in_(sorted(chat_ids)) | (Deal.opened_by == (opened_by or "")))
    return list(session.scalars(query))


def recent_twin(session: Session, *, opened_by: str, title: str, chat_id: str | None, since: datetime) -> Deal | None:
    """Return an open deal with this title that `opened_by` opened for `chat_id` since `since`, if any."""
    chat = Deal.chat_id.is_(None) if chat_id is None else Deal.chat_id == chat_id
    query = (
        select(Deal)
        .where(Deal.opened_by == opened_by, Deal.title == title, chat, Deal.status == "open", Deal.created_at >= since)
        .order_by(Deal.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def open_signups_of(session: Session, user_id: str, chat_id: str | None) -> list[tuple[Signup, Deal]]:
    """Return the member's live signups in open deals (announced in `chat_id` when given), oldest deal first."""
    query = (
        select(Signup, Deal)
        .join(Deal, Deal.id == Signup.deal_id)
        .where(Signup.user_id == user_id, Signup.status != "cancelled", Deal.status == "open")
        .order_by(Deal.id)
    )
    if chat_id is not None:
        query = query.where(Deal.chat_id == chat_id)
    return [(signup, deal) for signup, deal in session.execute(query)]


@dataclass(frozen=True)
class Closed:
    deal: Deal
    confirmed: list[Signup]
    waitlisted: list[Signup]

    @property
    def formed(self) -> bool:
        return self.deal.outcome == "formed"


def close(session: Session, deal_id: int, *, by: str, at: datetime) -> Closed | None:
    """Close an open deal and decide whether it formed (enough confirmed members); None if it was closed already.

    Conditional on status 'open', so of two closers (a guide and the deadline, or two schedulers)
    exactly one closes it and announces it.
    """
    lock(session, deal_id)
    confirmed = signups(session, deal_id, "confirmed")
    deal = session.get(Deal, deal_id)
    assert deal is not None
    outcome = "formed" if len(confirmed) >= deal.min_members else "not_formed"
    changed = session.scalar(
        update(Deal)
        .where(Deal.id == deal_id, Deal.status == "open")
        .values(status="closed", outcome=outcome, closed_at=at, closed_by=by)
        .returning(Deal.id)
        .execution_options(synchronize_session=False)
    )
    if changed is None:
        return None
    session.refresh(deal)
    return Closed(deal, confirmed, signups(session, deal_id, "waitlisted"))


def due(session: Session, now: datetime) -> list[int]:
    """Return the ids of open deals whose deadline has passed."""
    query = select(Deal.id).where(Deal.status == "open", Deal.deadline_at <= now).order_by(Deal.deadline_at, Deal.id)
    return list(session.scalars(query))


def signups(session: Session, deal_id: int, status: str | None = None) -> list[Signup]:
    """Return a deal's signups: confirmed by 跟团号, waitlisted by queue, or all (live ones first)."""
    query = select(Signup).where(Signup.deal_id == deal_id).execution_options(populate_existing=True)
    if status is not None:
        order = Signup.queue if status == "waitlisted" else Signup.number
        return list(session.scalars(query.where(Signup.status == status).order_by(order)))
    return list(session.scalars(query.order_by(Signup.number)))


def of_member(session: Session, user_id: str, limit: int) -> list[tuple[Signup, Deal]]:
    """Return the member's live signups with their deals, newest first."""
    query = (
        select(Signup, Deal)
        .join(Deal, Deal.id == Signup.deal_id)
        .where(Signup.user_id == user_id, Signup.status != "cancelled")
        .order_by(Signup.created_at.desc(), Signup.id.desc())
        .limit(limit)
    )
    return [(signup, deal) for signup, deal in session.execute(query)]


@dataclass
class GuideFigures:
    guide: str
    deals_opened: int = 0
    signups: int = 0
    quantity: int = 0
    gmv_cents: int = 0
    members: int = 0


def guide_report(session: Session, since: datetime, until: datetime) -> list[GuideFigures]:
    """Per guide, over [since, until): deals opened, and the confirmed signups credited to them in deals not failed.

    GMV counts confirmed quantity at the deal's price in deals that are open or formed; a deal that
    did not form sold nothing.
    """
    figures: dict[str, GuideFigures] = {}
    opened = session.execute(
        select(Deal.opened_by, func.count())
        .where(Deal.created_at >= since, Deal.created_at < until)
        .group_by(Deal.opened_by)
    )
    for guide, count in opened:
        figures.setdefault(guide, GuideFigures(guide)).deals_opened = int(count)
    sold = session.execute(
        select(
            Signup.guide,
            func.count(),
            func.sum(Signup.quantity),
            func.sum(Signup.quantity * Deal.price_cents),
            func.count(func.distinct(Signup.user_id)),
        )
        .join(Deal, Deal.id == Signup.deal_id)
        .where(
            Signup.status == "confirmed",
            Signup.created_at >= since,
            Signup.created_at < until,
            (Deal.outcome.is_(None)) | (Deal.outcome == "formed"),
        )
        .group_by(Signup.guide)
    )
    for credited, count, quantity, gmv, members in sold:
        row = figures.setdefault(credited or "", GuideFigures(credited or ""))
        row.signups, row.quantity, row.gmv_cents, row.members = int(count), int(quantity), int(gmv), int(members)
    return sorted(figures.values(), key=lambda f: (-f.gmv_cents, f.guide))
