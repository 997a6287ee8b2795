"""The points ledger: one row per change of points, and the balance each member's rows add up to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import (
    CheckConstraint,
    Date,
    Index,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    case,
    func,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, core, insert_if_absent

# Reasons that are not earnings: they never count toward tiers, leaderboards or the daily cap.
NOT_EARNED = frozenset({"refund", "redeem"})
# Reasons a guide or admin chose on purpose; the daily cap guards against farming, not against them.
UNCAPPED = frozenset({"manual", "refund", "redeem"})


class PointsAccount(Base):
    __tablename__ = "points_accounts"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("earned >= 0", name="earned_not_negative"),
    )

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    # Spendable points: the sum of every ledger row of this member.
    balance: Mapped[int] = mapped_column(Integer, default=0)
    # Points ever earned (positive rows except refunds); tiers use it so spending never demotes.
    earned: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PointsEntry(Base):
    __tablename__ = "points_ledger"
    __table_args__ = (
        CheckConstraint("delta <> 0", name="delta_not_zero"),
        # Leaderboards sum a period's earnings per member, optionally in one chat.
        Index("ix_points_ledger_day_user", "day", "user_id"),
        Index("ix_points_ledger_user_day", "user_id", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The idempotency key: a retried callback or a second scheduler run can never post twice.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    user_id: Mapped[str] = mapped_column(String(128))
    chat_id: Mapped[str | None] = mapped_column(String(128))
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    # The business day (configured zone and reset hour) the change belongs to.
    day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


PostStatus = Literal["posted", "duplicate", "insufficient", "capped"]


@dataclass(frozen=True)
class PostResult:
    """What `post` did: the points applied (after the cap) and the account before and after."""

    status: PostStatus
    applied: int
    balance: int
    earned_before: int
    earned: int

    @property
    def ok(self) -> bool:
        return self.status == "posted"


def lock_account(session: Session, user_id: str, at: datetime) -> PointsAccount:
    """Return the member's account, created empty if needed, locked until the transaction ends.

    On PostgreSQL the row lock serialises every change of one member's points; SQLite ignores
    FOR UPDATE but runs each write transaction alone (BEGIN IMMEDIATE), which gives the same order.
    """
    insert_if_absent(session, PointsAccount, {"user_id": user_id, "balance": 0, "earned": 0, "updated_at": at})
    stmt = select(PointsAccount).where(PointsAccount.user_id == user_id).with_for_update()
    return session.scalars(stmt.execution_options(populate_existing=True)).one()


def _lock_statement(dialect: str, *, with_user: bool = False) -> Any:
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = PointsAccount.__table__
    stmt = insert(table).values(user_id=bindparam("b_user"), balance=0, earned=0, updated_at=bindparam("b_at"))
    # The no-op DO UPDATE is what locks an existing row (as FOR UPDATE would) and hands back its
    # latest committed balance: create-or-lock-and-read in one round trip instead of three.
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.user_id], set_={"user_id": stmt.excluded.user_id})
    if with_user:
        return stmt.returning(table.c.user_id, table.c.balance, table.c.earned)
    return stmt.returning(table.c.balance, table.c.earned)


_LOCK = {dialect: _lock_statement(dialect) for dialect in ("postgresql", "sqlite")}
_LOCK_MANY = {dialect: _lock_statement(dialect, with_user=True) for dialect in ("postgresql", "sqlite")}
_CREDIT = (
    update(PointsAccount)
    .where(
        PointsAccount.user_id == bindparam("b_user"),
        PointsAccount.balance + bindparam("b_applied") >= 0,
    )
    .values(
        balance=PointsAccount.balance + bindparam("b_applied"),
        earned=PointsAccount.earned + bindparam("b_gain"),
        updated_at=bindparam("b_at"),
    )
    .returning(PointsAccount.balance, PointsAccount.earned)
)


def _upsert_credit_statement() -> Any:
    stmt = sqlite.insert(PointsAccount).values(
        user_id=bindparam("b_user"),
        balance=bindparam("b_applied"),
        earned=bindparam("b_gain"),
        updated_at=bindparam("b_at"),
    )
    return _or_add_to_account(stmt)


def _or_add_to_account(stmt: Any) -> Any:
    """An account INSERT that, when the member has one, adds the row's balance and earnings to it instead."""
    account = PointsAccount.__table__
    stmt = stmt.on_conflict_do_update(
        index_elements=[account.c.user_id],
        set_={
            "balance": account.c.balance + stmt.excluded.balance,
            "earned": account.c.earned + stmt.excluded.earned,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    return stmt.returning(account.c.balance, account.c.earned)


# Create-or-credit in one statement, after the row's own INSERT, for SQLite's credits (see `_credit`).
_UPSERT_CREDIT = _upsert_credit_statement()


def _credit_with_row_statement() -> Any:
    written = (
        postgresql.insert(PointsEntry)
        .values({name: bindparam(f"e_{name}") for name in _ENTRY_COLUMNS})
        .on_conflict_do_nothing()
        .returning(PointsEntry.user_id)
        .cte("written")
    )
    # Only a row this statement wrote moves the account: a repeat key selects nothing to upsert.
    moves = select(
        written.c.user_id,
        bindparam("b_applied", type_=Integer),
        bindparam("b_gain", type_=Integer),
        bindparam("b_at", type_=UTCDateTime()),
    )
    return _or_add_to_account(
        postgresql.insert(PointsAccount).from_select(["user_id", "balance", "earned", "updated_at"], moves)
    )


_ENTRY_COLUMNS = ("key", "user_id", "chat_id", "delta", "reason", "note", "actor", "day", "created_at")
# A ledger row and its credit in one round trip (PostgreSQL; see `_credit`).
_CREDIT_WITH_ROW = _credit_with_row_statement()


# The same move without RETURNING, so many rows can go in one executemany.
_CREDIT_MANY = (
    update(PointsAccount)
    .where(PointsAccount.user_id == bindparam("b_user"))
    .values(
        balance=PointsAccount.balance + bindparam("b_applied"),
        earned=PointsAccount.earned + bindparam("b_gain"),
        updated_at=bindparam("b_at"),
    )
)


def _lock_balance(session: Session, user_id: str, at: datetime) -> tuple[int, int]:
    """Create the member's account if needed, lock it until the transaction ends; return (balance, earned)."""
    stmt = _LOCK[session.get_bind().dialect.name]
    row = core(session).execute(stmt, {"b_user": user_id, "b_at": at}).one()
    return int(row.balance), int(row.earned)


def _known_key(session: Session, key: str) -> bool:
    return session.scalar(select(PointsEntry.id).where(PointsEntry.key == key)) is not None


def earned_on(session: Session, user_id: str, day: date, *, capped_only: bool = False) -> int:
    """Return the points `user_id` earned on business `day` (only capped reasons with `capped_only`)."""
    excluded = UNCAPPED if capped_only else NOT_EARNED
    stmt = select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
        PointsEntry.user_id == user_id,
        PointsEntry.day == day,
        PointsEntry.delta > 0,
        PointsEntry.reason.not_in(excluded),
    )
    return int(session.scalar(stmt) or 0)


def post(
    session: Session,
    *,
    user_id: str,
    delta: int,
    reason: str,
    key: str,
    actor: str,
    at: datetime,
    day: date,
    chat_id: str | None = None,
    note: str | None = None,
    daily_cap: int | None = None,
) -> PostResult:
    """Change a member's points by `delta`: the one way any capability credits or debits points.

    Idempotent on `key` (e.g. `checkin:{user}:{day}`, `quiz:{quiz}:{user}`, `manual:{msgid}`): a
    second post with the same key changes nothing and reports "duplicate". A debit larger than the
    balance changes nothing and reports "insufficient"; the database also refuses a negative
    balance (CHECK). A credit whose reason is capped (all but manual, refund, redeem) is cut to what
    is left of `daily_cap` for business `day`; when nothing is left it reports "capped" and writes
    no row. Runs inside the caller's transaction, so the change commits with the caller's effects.

    Args:
        session: the caller's session, inside a transaction.
        user_id: the member's WeCom userid (balances are global across groups).
        delta: points to add (positive) or take (negative); never 0.
        reason: a short code such as "checkin", "quiz", "manual", "redeem", "refund".
        key: the idempotency key, unique across the ledger.
        actor: who caused it (the member, a guide's userid, "system").
        at: when, as an aware datetime.
        day: the business day `at` falls in (see `bot.config_points.PointsConfig.day`).
        chat_id: the group the points were earned in, for per-group leaderboards.
        note: the free-text reason a guide gave.
        daily_cap: the most a member may earn per business day from capped reasons, or None.

    Returns:
        A PostResult with the points applied and the balance and total earned after it.
    """
    if delta == 0:
        raise ValueError("a ledger row must change the balance")
    if delta < 0 and session.get(PointsAccount, user_id) is None:
        # Nothing to take from a member who never had points; refuse without creating an account.
        return PostResult("insufficient", 0, 0, 0, 0)
    entry = {
        "key": key,
        "user_id": user_id,
        "chat_id": chat_id,
        "delta": delta,
        "reason": reason,
        "note": note,
        "actor": actor,
        "day": day,
        "created_at": at,
    }
    if delta > 0 and (daily_cap is None or reason in UNCAPPED):
        return _credit(session, entry, gain=delta if reason not in NOT_EARNED else 0)
    # Three round trips on this path: lock-and-read the account (the cap and the balance check
    # need it read under the lock), insert the row (its unique key is the idempotency check), move
    # the balance. The key is looked up first only when the answer would otherwise be "capped" or
    # "insufficient", so a repeat still reports "duplicate".
    balance, earned_before = _lock_balance(session, user_id, at)
    unchanged = (balance, earned_before, earned_before)
    applied = delta
    if delta > 0 and daily_cap is not None and reason not in UNCAPPED:
        applied = min(delta, max(daily_cap - earned_on(session, user_id, day, capped_only=True), 0))
        if applied == 0:
            return PostResult("duplicate" if _known_key(session, key) else "capped", 0, *unchanged)
    if balance + applied < 0:
        return PostResult("duplicate" if _known_key(session, key) else "insufficient", 0, *unchanged)
    inserted = insert_if_absent(session, PointsEntry, entry | {"delta": applied})
    if not inserted:
        return PostResult("duplicate", 0, *unchanged)
    gain = applied if applied > 0 and reason not in NOT_EARNED else 0
    # Conditional even under the lock: the balance can never be driven below zero by any path.
    params = {"b_user": user_id, "b_applied": applied, "b_gain": gain, "b_at": at}
    row = core(session).execute(_CREDIT, params).one()
    return PostResult("posted", applied, row.balance, earned_before, row.earned)


def _credit(session: Session, entry: dict[str, Any], *, gain: int) -> PostResult:
    """An uncapped credit: insert the row, then add it to the account (created if new).

    Nothing has to be read first: a credit cannot make the balance negative and no cap needs the
    day's earnings, so the account is locked only by the upsert that moves it. A repeat key
    inserts nothing and moves nothing. PostgreSQL does both in one statement (the row's INSERT is
    a data-modifying WITH the account's upsert selects from); SQLite has no such WITH, so two.
    """
    user_id, at = entry["user_id"], entry["created_at"]
    params = {"b_user": user_id, "b_applied": entry["delta"], "b_gain": gain, "b_at": at}
    moved: Row[Any] | None = None
    if session.get_bind().dialect.name == "postgresql":
        row = core(session).execute(_CREDIT_WITH_ROW, params | {f"e_{name}": value for name, value in entry.items()})
        moved = row.first()
    elif insert_if_absent(session, PointsEntry, entry):
        moved = core(session).execute(_UPSERT_CREDIT, params).one()
    if moved is None:
        balance, earned = _lock_balance(session, user_id, at)
        return PostResult("duplicate", 0, balance, earned, earned)
    return PostResult("posted", entry["delta"], int(moved.balance), int(moved.earned) - gain, int(moved.earned))


@dataclass(frozen=True)
class Credit:
    """One member's share of a batch credit: points to add under an idempotency key."""

    user_id: str
    delta: int
    key: str


def post_many(
    session: Session,
    credits: list[Credit],
    *,
    reason: str,
    actor: str,
    at: datetime,
    day: date,
    chat_id: str | None = None,
    note: str | None = None,
    daily_cap: int | None = None,
) -> dict[str, PostResult]:
    """Credit many members at once (a quiz or group-buy close), each exactly as `post` would; results by user.

    Set-based: the accounts are created and locked in one statement (in user order, so two batches
    cannot deadlock), the day's earnings read in one, the rows inserted in one batch (their unique
    keys decide duplicates) and the balances moved in one batch. Each member appears at most once.
    """
    if not credits:
        return {}
    if len({c.user_id for c in credits}) != len(credits) or any(c.delta <= 0 for c in credits):
        raise ValueError("post_many credits each member once, with positive points")
    users = sorted(c.user_id for c in credits)
    lock = _LOCK_MANY[session.get_bind().dialect.name]
    found = core(session).execute(lock, [{"b_user": user, "b_at": at} for user in users])
    locked = {row.user_id: (int(row.balance), int(row.earned)) for row in found}
    earned_today: dict[str, int] = {}
    if daily_cap is not None and reason not in UNCAPPED:
        totals = session.execute(
            select(PointsEntry.user_id, func.sum(PointsEntry.delta))
            .where(
                PointsEntry.user_id.in_(users),
                PointsEntry.day == day,
                PointsEntry.delta > 0,
                PointsEntry.reason.not_in(UNCAPPED),
            )
            .group_by(PointsEntry.user_id)
        )
        earned_today = {user: int(total or 0) for user, total in totals}
    results: dict[str, PostResult] = {}
    applied: dict[str, int] = {}
    for credit in credits:
        amount = credit.delta
        if daily_cap is not None and reason not in UNCAPPED:
            amount = min(amount, max(daily_cap - earned_today.get(credit.user_id, 0), 0))
        if amount == 0:
            balance, earned = locked[credit.user_id]
            capped: PostStatus = "duplicate" if _known_key(session, credit.key) else "capped"
            results[credit.user_id] = PostResult(capped, 0, balance, earned, earned)
        else:
            applied[credit.user_id] = amount
    rows = [
        {
            "key": c.key,
            "user_id": c.user_id,
            "chat_id": chat_id,
            "delta": applied[c.user_id],
            "reason": reason,
            "note": note,
            "actor": actor,
            "day": day,
            "created_at": at,
        }
        for c in credits
        if c.user_id in applied
    ]
    inserted: set[str] = set()
    if rows:
        dml: Any = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        stmt = dml(PointsEntry).on_conflict_do_nothing().returning(PointsEntry.user_id)
        inserted = set(core(session).execute(stmt, rows).scalars())
    moves = []
    for user, amount in applied.items():
        balance, earned = locked[user]
        if user not in inserted:
            results[user] = PostResult("duplicate", 0, balance, earned, earned)
            continue
        gain = amount if reason not in NOT_EARNED else 0
        moves.append({"b_user": user, "b_applied": amount, "b_gain": gain, "b_at": at})
        results[user] = PostResult("posted", amount, balance + amount, earned, earned + gain)
    if moves:
        # The accounts are locked by this transaction, so the balances computed above are the ones written.
        core(session).execute(_CREDIT_MANY, moves)
    return results


def account_of(session: Session, user_id: str) -> tuple[int, int]:
    """Return the member's (balance, total earned); (0, 0) before their first points."""
    row = session.execute(
        select(PointsAccount.balance, PointsAccount.earned).where(PointsAccount.user_id == user_id)
    ).first()
    return (row.balance, row.earned) if row else (0, 0)


def overall_rank(session: Session, user_id: str) -> int | None:
    """Return the member's all-time rank by points earned (ties share a rank), or None without points."""
    _, earned = account_of(session, user_id)
    if earned <= 0:
        return None
    ahead = session.scalar(select(func.count()).select_from(PointsAccount).where(PointsAccount.earned > earned))
    return int(ahead or 0) + 1


def leaderboard(session: Session, *, chat_id: str | None, since: date | None, limit: int) -> list[tuple[str, int]]:
    """Return (user_id, points earned) from business day `since` on (all time if None), best first.

    Counts earnings only (no refunds, no spending), in one chat or everywhere; equal scores are
    ordered by userid so the board is stable.
    """
    total = func.sum(PointsEntry.delta).label("total")
    conditions = [PointsEntry.delta > 0, PointsEntry.reason.not_in(NOT_EARNED)]
    if chat_id is not None:
        conditions.append(PointsEntry.chat_id == chat_id)
    if since is not None:
        conditions.append(PointsEntry.day >= since)
    stmt = (
        select(PointsEntry.user_id, total)
        .where(and_(*conditions))
        .group_by(PointsEntry.user_id)
        .order_by(total.desc(), PointsEntry.user_id)
        .limit(limit)
    )
    return [(user, int(points)) for user, points in session.execute(stmt)]


@dataclass(frozen=True)
class AuditProblem:
    user_id: str
    balance: int
    ledger_sum: int
    earned: int
    ledger_earned: int


def audit(session: Session) -> list[AuditProblem]:
    """Return every member whose balance or total earned differs from what their ledger rows add up to.

    Balances and ledger sums are read by one statement, so one snapshot: a check-in committed
    while the audit runs is either wholly in it or wholly out, never a false mismatch.
    """
    earned = case((and_(PointsEntry.delta > 0, PointsEntry.reason.not_in(NOT_EARNED)), PointsEntry.delta), else_=0)
    zero = literal(0, Integer)
    both = union_all(
        select(
            PointsAccount.user_id.label("user_id"),
            PointsAccount.balance.label("balance"),
            PointsAccount.earned.label("earned"),
            zero.label("total"),
            zero.label("gained"),
        ),
        select(
            PointsEntry.user_id,
            zero,
            zero,
            func.sum(PointsEntry.delta),
            func.sum(earned),
        ).group_by(PointsEntry.user_id),
    ).subquery()
    stmt = (
        select(
            both.c.user_id,
            func.sum(both.c.balance),
            func.sum(both.c.earned),
            func.sum(both.c.total),
            func.sum(both.c.gained),
        )
        .group_by(both.c.user_id)
        .order_by(both.c.user_id)
    )
    problems = []
    for user, balance, earned_total, total, gained in session.execute(stmt):
        row = (int(balance), int(earned_total), int(total), int(gained))
        if row[:2] != row[2:]:
            problems.append(AuditProblem(user, row[0], row[2], row[1], row[3]))
    return problems


def entries_count(session: Session) -> int:
    """Return how many ledger rows there are."""
    return int(session.scalar(select(func.count()).select_from(PointsEntry)) or 0)


def accounts_count(session: Session) -> int:
    """Return how many members have an account."""
    return int(session.scalar(select(func.count()).select_from(PointsAccount)) or 0)


def entries(session: Session) -> list[PointsEntry]:
    """Return every ledger row, oldest first."""
    return list(session.scalars(select(PointsEntry).order_by(PointsEntry.id)))
