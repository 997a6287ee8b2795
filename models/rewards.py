"""Reward stock and redemptions: points and stock leave together, and come back together on a cancel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from sqlalchemy import CheckConstraint, Index, Integer, String, case, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

import models.ledger as ledger
from models.base import Base, UTCDateTime, insert_if_absent, one_of


class RedemptionStatus(StrEnum):
    PENDING = "pending"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


REDEMPTION_STATUSES = tuple(status.value for status in RedemptionStatus)


class RewardStock(Base):
    __tablename__ = "reward_stock"
    __table_args__ = (
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        CheckConstraint("configured >= 0", name="configured_not_negative"),
    )

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Units left to redeem; the conditional UPDATE ... WHERE remaining > 0 is what prevents overselling.
    remaining: Mapped[int] = mapped_column(Integer)
    # The stock the YAML said when last applied; a change in the YAML adds or removes the difference.
    configured: Mapped[int] = mapped_column(Integer)


class Redemption(Base):
    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint(one_of("status", RedemptionStatus), name="status"),
        CheckConstraint("cost > 0", name="cost_positive"),
        # The per-member limit counts a member's live redemptions of one reward.
        Index("ix_redemptions_user_code", "user_id", "code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(128))
    chat_id: Mapped[str | None] = mapped_column(String(128))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    cost: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    settled_by: Mapped[str | None] = mapped_column(String(128))


def sync_stock(session: Session, code: str, configured: int) -> int:
    """Apply the YAML's stock for `code` (raising it adds units, lowering removes unsold ones); return units left."""
    insert_if_absent(session, RewardStock, {"code": code, "remaining": configured, "configured": configured})
    change = configured - RewardStock.configured
    session.execute(
        update(RewardStock)
        .where(RewardStock.code == code, RewardStock.configured != configured)
        .values(
            remaining=case((RewardStock.remaining + change < 0, 0), else_=RewardStock.remaining + change),
            configured=configured,
        )
        .execution_options(synchronize_session=False)
    )
    return int(session.scalar(select(RewardStock.remaining).where(RewardStock.code == code)) or 0)


def remaining(session: Session, codes: list[str]) -> dict[str, int]:
    """Return the units left per code, for the codes that have a stock row."""
    rows = session.execute(select(RewardStock.code, RewardStock.remaining).where(RewardStock.code.in_(codes)))
    return {code: left for code, left in rows}


RedeemStatus = Literal["ok", "insufficient", "sold_out", "limit"]


@dataclass(frozen=True)
class RedeemResult:
    status: RedeemStatus
    redemption: Redemption | None = None
    balance: int = 0
    remaining: int = 0


def redeem(
    session: Session,
    *,
    user_id: str,
    chat_id: str | None,
    code: str,
    name: str,
    cost: int,
    stock: int,
    per_member_limit: int,
    at: datetime,
    day: date,
) -> RedeemResult:
    """Take `cost` points and one unit of `code` for a pending redemption, all or nothing.

    The member's account row is locked first (then the stock row), the same order `cancel` uses,
    so concurrent redemptions and cancellations queue instead of deadlocking.
    """
    balance, _ = ledger.account_of(session, user_id)
    if balance < cost:  # checked again under the lock; this keeps a refused member from getting an empty account
        return RedeemResult("insufficient", balance=balance)
    account = ledger.lock_account(session, user_id, at)
    if account.balance < cost:
        return RedeemResult("insufficient", balance=account.balance)
    taken = session.scalar(
        select(func.count())
        .select_from(Redemption)
        .where(Redemption.user_id == user_id, Redemption.code == code, Redemption.status != "cancelled")
    )
    if int(taken or 0) >= per_member_limit:
        return RedeemResult("limit", balance=account.balance)
    sync_stock(session, code, stock)
    left = session.scalar(
        update(RewardStock)
        .where(RewardStock.code == code, RewardStock.remaining > 0)
        .values(remaining=RewardStock.remaining - 1)
        .returning(RewardStock.remaining)
        .execution_options(synchronize_session=False)
    )
    if left is None:
        return RedeemResult("sold_out", balance=account.balance)
    redemption = Redemption(
        user_id=user_id, chat_id=chat_id, code=code, name=name, cost=cost, status="pending", created_at=at
    )
    session.add(redemption)
    session.flush()
    posted = ledger.post(
        session,
        user_id=user_id,
        delta=-cost,
        reason="redeem",
        key=f"redeem:{redemption.id}",
        actor=user_id,
        at=at,
        day=day,
        chat_id=chat_id,
        note=f"{code} {name}",
    )
    if not posted.ok:  # pragma: no cover - the locked balance was checked above
        raise RuntimeError(f"redemption {redemption.id} could not be paid: {posted.status}")
    return RedeemResult("ok", redemption, posted.balance, int(left))


def get(session: Session, redemption_id: int) -> Redemption | None:
    """Return redemption `redemption_id`, or None."""
    return session.get(Redemption, redemption_id)


SettleStatus = Literal["ok", "missing", "not_pending"]


@dataclass(frozen=True)
class SettleResult:
    status: SettleStatus
    redemption: Redemption | None = None
    balance: int = 0


def fulfil(session: Session, redemption_id: int, *, by: str, at: datetime) -> SettleResult:
    """Mark a pending redemption handed over; anything else is refused unchanged."""
    return _settle(session, redemption_id, "fulfilled", by=by, at=at)


def cancel(session: Session, redemption_id: int, *, by: str, at: datetime, day: date) -> SettleResult:
    """Cancel a pending redemption: refund its points (key `refund:{id}`) and put the unit back in stock."""
    found = session.get(Redemption, redemption_id)
    if found is None:
        return SettleResult("missing")
    ledger.lock_account(session, found.user_id, at)
    result = _settle(session, redemption_id, "cancelled", by=by, at=at)
    if result.status != "ok" or result.redemption is None:
        return result
    redemption = result.redemption
    session.execute(
        update(RewardStock)
        .where(RewardStock.code == redemption.code)
        .values(remaining=RewardStock.remaining + 1)
        .execution_options(synchronize_session=False)
    )
    posted = ledger.post(
        session,
        user_id=redemption.user_id,
        delta=redemption.cost,
        reason="refund",
        key=f"refund:{redemption.id}",
        actor=by,
        at=at,
        day=day,
        chat_id=redemption.chat_id,
        note=f"{redemption.code} {redemption.name}",
    )
    return SettleResult("ok", redemption, posted.balance)


def _settle(session: Session, redemption_id: int, status: str, *, by: str, at: datetime) -> SettleResult:
    # Conditional on 'pending': of two guides settling at once, exactly one changes the row.
    changed = session.scalar(
        update(Redemption)
        .where(Redemption.id == redemption_id, Redemption.status == "pending")
        .values(status=status, settled_at=at, settled_by=by)
        .returning(Redemption.id)
        .execution_options(synchronize_session=False)
    )
    found = session.scalars(
        select(Redemption).where(Redemption.id == redemption_id).execution_options(populate_existing=True)
    ).first()
    if found is None:
        return SettleResult("missing")
    if changed is None:
        return SettleResult("not_pending", found)
    return SettleResult("ok", found)


def list_redemptions(session: Session, *, status: str | None = None, limit: int | None = None) -> list[Redemption]:
    """Return redemptions, newest first, optionally of one status."""
    stmt = select(Redemption).order_by(Redemption.id.desc())
    if status:
        stmt = stmt.where(Redemption.status == status)
    if limit:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))
