"""The points ledger as an accountant sees it: one row per change, idempotent, never negative, auditable."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from models import ledger
from models.db import make_session_factory
from models.ledger import PointsAccount, PointsEntry
from tests.conftest import count_rows
from tests.parallel import run_together

AT = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
DAY = date(2026, 11, 22)


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def post(factory: sessionmaker[Session], **kw: Any) -> ledger.PostResult:
    values: dict[str, Any] = {"reason": "quiz", "actor": "system", "at": AT, "day": DAY, "chat_id": "wrA"}
    values.update(kw)
    with factory.begin() as session:
        return ledger.post(session, **values)


def balances(factory: sessionmaker[Session]) -> dict[str, tuple[int, int]]:
    with factory() as session:
        return {a.user_id: (a.balance, a.earned) for a in session.scalars(select(PointsAccount))}


def test_credit_and_debit_are_ledger_rows_and_balance_follows(factory: sessionmaker[Session], engine: Engine) -> None:
    """A credit and a debit are two rows; the balance is their sum, the total earned counts only the credit."""
    first = post(factory, user_id="zhangsan", delta=30, key="quiz:1:zhangsan")
    second = post(factory, user_id="zhangsan", delta=-10, reason="manual", key="manual:m1", actor="guide01")
    assert (first.status, first.applied, first.balance, first.earned) == ("posted", 30, 30, 30)
    assert (second.status, second.applied, second.balance, second.earned) == ("posted", -10, 20, 30)
    assert balances(factory) == {"zhangsan": (20, 30)}
    with factory() as session:
        rows = [(e.key, e.delta, e.reason, e.actor, e.chat_id, e.day) for e in ledger.entries(session)]
    assert rows == [
        ("quiz:1:zhangsan", 30, "quiz", "system", "wrA", DAY),
        ("manual:m1", -10, "manual", "guide01", "wrA", DAY),
    ]


def test_same_key_posts_once(factory: sessionmaker[Session], engine: Engine) -> None:
    """A retried credit with the same idempotency key changes nothing and says it was a duplicate."""
    post(factory, user_id="zhangsan", delta=30, key="quiz:1:zhangsan")
    again = post(factory, user_id="zhangsan", delta=30, key="quiz:1:zhangsan")
    assert (again.status, again.applied, again.balance) == ("duplicate", 0, 30)
    assert count_rows(engine, PointsEntry) == 1
    assert balances(factory) == {"zhangsan": (30, 30)}


def test_overdraft_is_refused_and_changes_nothing(factory: sessionmaker[Session], engine: Engine) -> None:
    """Taking more than the balance is refused: no row, balance unchanged."""
    post(factory, user_id="zhangsan", delta=15, key="quiz:1:zhangsan")
    refused = post(factory, user_id="zhangsan", delta=-16, reason="manual", key="manual:m2")
    assert (refused.status, refused.balance) == ("insufficient", 15)
    assert count_rows(engine, PointsEntry) == 1
    assert balances(factory) == {"zhangsan": (15, 15)}


def test_database_refuses_a_negative_balance_whoever_writes(factory: sessionmaker[Session]) -> None:
    """The CHECK constraint holds even against raw SQL that bypasses `post`."""
    post(factory, user_id="zhangsan", delta=5, key="quiz:1:zhangsan")
    with pytest.raises(IntegrityError), factory.begin() as session:
        session.execute(text("UPDATE points_accounts SET balance = balance - 6 WHERE user_id = 'zhangsan'"))
    assert balances(factory) == {"zhangsan": (5, 5)}


def test_zero_delta_is_a_programming_error(factory: sessionmaker[Session], engine: Engine) -> None:
    with pytest.raises(ValueError):
        post(factory, user_id="zhangsan", delta=0, key="quiz:0:zhangsan")
    assert count_rows(engine, PointsEntry) == 0


def test_daily_cap_cuts_capped_credits_but_not_manual_ones(factory: sessionmaker[Session], engine: Engine) -> None:
    """With a cap of 30: 20, then 20 cut to 10, then nothing (no row); a guide's credit is not capped."""
    a = post(factory, user_id="zhangsan", delta=20, reason="checkin", key="checkin:zhangsan:d1", daily_cap=30)
    b = post(factory, user_id="zhangsan", delta=20, reason="quiz", key="quiz:1:zhangsan", daily_cap=30)
    c = post(factory, user_id="zhangsan", delta=5, reason="quiz", key="quiz:2:zhangsan", daily_cap=30)
    d = post(factory, user_id="zhangsan", delta=50, reason="manual", key="manual:m3", daily_cap=30)
    assert [(r.status, r.applied) for r in (a, b, c, d)] == [
        ("posted", 20),
        ("posted", 10),
        ("capped", 0),
        ("posted", 50),
    ]
    assert count_rows(engine, PointsEntry) == 3
    assert balances(factory) == {"zhangsan": (80, 80)}
    # The next business day the cap starts again; another member never shares it.
    e = post(factory, user_id="zhangsan", delta=20, key="quiz:3:zhangsan", daily_cap=30, day=date(2026, 11, 23))
    f = post(factory, user_id="lisi", delta=30, key="quiz:2:lisi", daily_cap=30)
    assert (e.applied, f.applied) == (20, 30)


def test_audit_passes_then_names_the_tampered_member(factory: sessionmaker[Session]) -> None:
    """Balances equal their ledger sums; a balance changed behind the ledger's back is reported with its member."""
    post(factory, user_id="zhangsan", delta=40, key="quiz:1:zhangsan")
    post(factory, user_id="lisi", delta=10, key="quiz:1:lisi")
    post(factory, user_id="lisi", delta=-10, reason="redeem", key="redeem:1")
    with factory() as session:
        assert ledger.audit(session) == []
    with factory.begin() as session:
        session.execute(text("UPDATE points_accounts SET balance = 400 WHERE user_id = 'zhangsan'"))
    with factory() as session:
        (problem,) = ledger.audit(session)
    assert (problem.user_id, problem.balance, problem.ledger_sum) == ("zhangsan", 400, 40)


def test_leaderboard_counts_earnings_per_chat_and_period(factory: sessionmaker[Session]) -> None:
    """Per chat or everywhere, since a day or all time; spending and refunds never count; ties by userid."""
    post(factory, user_id="wangwu", delta=30, key="k1", chat_id="wrA", day=date(2026, 11, 10))
    post(factory, user_id="zhangsan", delta=20, key="k2", chat_id="wrA")
    post(factory, user_id="lisi", delta=20, key="k3", chat_id="wrA")
    post(factory, user_id="lisi", delta=50, key="k4", chat_id="wrB")
    post(factory, user_id="lisi", delta=-60, reason="redeem", key="k5", chat_id="wrA")
    post(factory, user_id="lisi", delta=60, reason="refund", key="k6", chat_id="wrA")
    with factory() as session:
        assert ledger.leaderboard(session, chat_id="wrA", since=None, limit=10) == [
            ("wangwu", 30),
            ("lisi", 20),
            ("zhangsan", 20),
        ]
        assert ledger.leaderboard(session, chat_id="wrA", since=date(2026, 11, 16), limit=10) == [
            ("lisi", 20),
            ("zhangsan", 20),
        ]
        assert ledger.leaderboard(session, chat_id=None, since=None, limit=2) == [("lisi", 70), ("wangwu", 30)]
        assert ledger.overall_rank(session, "lisi") == 1
        assert ledger.overall_rank(session, "zhangsan") == 3
        assert ledger.overall_rank(session, "nobody") is None


def test_audit_sees_one_snapshot_while_points_are_posted(factory: sessionmaker[Session], engine: Engine) -> None:
    """A check-in committed while the audit runs never shows up as a false mismatch."""
    post(factory, user_id="zhangsan", delta=40, key="quiz:1:zhangsan")
    statements: list[str] = []

    def write_between_reads(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # Just before the audit's second read (if it makes one), another member checks in and commits.
        statements.append(statement)
        if len(statements) == 2:
            post(factory, user_id="zhangsan", delta=10, key="checkin:zhangsan", reason="checkin")

    with factory() as session:
        session.connection()  # the audit's own connection, so the hook sees only the audit's statements
        event.listen(session.connection(), "before_cursor_execute", write_between_reads)
        try:
            assert ledger.audit(session) == []
        finally:
            event.remove(session.connection(), "before_cursor_execute", write_between_reads)
    with factory() as session:
        assert ledger.audit(session) == []


def test_post_many_gives_each_member_what_post_would(factory: sessionmaker[Session], engine: Engine) -> None:
    """A close credits many at once: a new member, a retried key, one near the daily cap, one at it; the audit holds."""
    post(factory, user_id="repeat", delta=5, key="quiz:9:repeat")
    post(factory, user_id="near", delta=40, key="checkin:near", reason="checkin", daily_cap=50)
    post(factory, user_id="full", delta=50, key="checkin:full", reason="checkin", daily_cap=50)
    credits = [
        ledger.Credit(user_id="fresh", delta=30, key="quiz:9:fresh"),
        ledger.Credit(user_id="repeat", delta=5, key="quiz:9:repeat"),
        ledger.Credit(user_id="near", delta=30, key="quiz:9:near"),
        ledger.Credit(user_id="full", delta=30, key="quiz:9:full"),
    ]
    with factory.begin() as session:
        results = ledger.post_many(
            session, credits, reason="quiz", actor="system", at=AT, day=DAY, chat_id="wrA", daily_cap=50
        )
    got = {user: (r.status, r.applied, r.balance, r.earned) for user, r in results.items()}
    assert got == {
        "fresh": ("posted", 30, 30, 30),
        "repeat": ("duplicate", 0, 5, 5),
        "near": ("posted", 10, 50, 50),
        "full": ("capped", 0, 50, 50),
    }
    assert balances(factory) == {"fresh": (30, 30), "repeat": (5, 5), "near": (50, 50), "full": (50, 50)}
    assert count_rows(engine, PointsEntry) == 5
    with factory() as session:
        assert ledger.audit(session) == []
    # Run again (a retried close): nothing moves.
    with factory.begin() as session:
        again = ledger.post_many(
            session, credits, reason="quiz", actor="system", at=AT, day=DAY, chat_id="wrA", daily_cap=50
        )
    # The capped member got no row, so a retry is capped again, as `post` would say.
    assert {user: r.status for user, r in again.items()} == {
        "fresh": "duplicate",
        "repeat": "duplicate",
        "near": "duplicate",
        "full": "capped",
    }

    assert count_rows(engine, PointsEntry) == 5


def test_post_many_refuses_a_member_twice_or_a_debit(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session, pytest.raises(ValueError):
        ledger.post_many(
            session,
            [ledger.Credit("a", 1, "k1"), ledger.Credit("a", 1, "k2")],
            reason="quiz",
            actor="system",
            at=AT,
            day=DAY,
        )
    with factory.begin() as session, pytest.raises(ValueError):
        ledger.post_many(session, [ledger.Credit("a", -1, "k1")], reason="quiz", actor="system", at=AT, day=DAY)


def test_credits_and_debits_at_once_on_one_account_all_count(factory: sessionmaker[Session], engine: Engine) -> None:
    """Credits (row written first) and debits (account locked first) racing on one member: all apply, none hang."""
    post(factory, user_id="wangwu", delta=100, key="quiz:0:wangwu")

    def move(index: int) -> ledger.PostResult:
        if index % 2:
            return post(factory, user_id="wangwu", delta=-10, reason="manual", key=f"manual:{index}", actor="guide01")
        return post(factory, user_id="wangwu", delta=10, key=f"quiz:{index + 1}:wangwu")

    results = run_together(12, move)
    assert [r.status for r in results] == ["posted"] * 12
    assert balances(factory) == {"wangwu": (100, 160)}
    with factory() as session:
        assert ledger.audit(session) == []


def test_credits_at_once_to_a_new_member_create_one_account(factory: sessionmaker[Session], engine: Engine) -> None:
    """Members who never had points credited from many connections at once: one account holding every credit."""
    results = run_together(10, lambda i: post(factory, user_id="zhaoliu", delta=i + 1, key=f"quiz:{i}:zhaoliu"))
    assert sorted(r.applied for r in results) == list(range(1, 11))
    assert balances(factory) == {"zhaoliu": (55, 55)}
    assert count_rows(engine, PointsEntry) == 10


def test_an_uncapped_credit_reads_nothing_first(factory: sessionmaker[Session], engine: Engine) -> None:
    """A credit writes its row and its account (created on the way) and reads nothing; a repeat moves nothing.

    One statement on PostgreSQL (the row's INSERT inside the account's upsert), two on SQLite.
    """
    statements: list[str] = []
    with factory.begin() as session:
        connection = session.connection()
        event.listen(connection, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql))
        posted = ledger.post(
            session, user_id="sunqi", delta=20, key="quiz:9:sunqi", reason="quiz", actor="system", at=AT, day=DAY
        )
    assert (posted.status, posted.balance, posted.earned_before, posted.earned) == ("posted", 20, 0, 20)
    assert len(statements) == (1 if engine.dialect.name == "postgresql" else 2)
    assert all(not sql.lstrip().upper().startswith("SELECT") for sql in statements)
    again = post(factory, user_id="sunqi", delta=20, key="quiz:9:sunqi")
    assert (again.status, again.applied, again.balance, again.earned) == ("duplicate", 0, 20, 20)
    refund = post(factory, user_id="sunqi", delta=5, key="refund:r1", reason="refund", actor="guide01")
    # A refund is no earning: the balance moves, the total earned does not.
    assert (refund.status, refund.balance, refund.earned_before, refund.earned) == ("posted", 25, 20, 20)


def test_one_credit_delivered_at_once_from_many_connections_posts_once(
    factory: sessionmaker[Session], engine: Engine
) -> None:
    """The same idempotency key from ten connections at once: one credit, nine duplicates that see it."""
    results = run_together(10, lambda _: post(factory, user_id="zhouba", delta=25, key="quiz:7:zhouba"))
    assert sorted(r.status for r in results) == ["duplicate"] * 9 + ["posted"]
    assert {r.balance for r in results} == {25}
    assert balances(factory) == {"zhouba": (25, 25)}
    assert count_rows(engine, PointsEntry) == 1
