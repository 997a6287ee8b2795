"""Redemptions: points and stock leave together, come back together on a cancel, and are never oversold."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from models import ledger, rewards
from models.db import make_session_factory
from models.ledger import PointsAccount, PointsEntry
from models.rewards import Redemption, RewardStock
from tests.conftest import count_rows
from tests.parallel import run_together

AT = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
DAY = date(2026, 11, 22)
BAG = {"code": "A01", "name": "帆布袋", "cost": 300, "stock": 2, "per_member_limit": 1}


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def give(factory: sessionmaker[Session], user: str, points: int) -> None:
    with factory.begin() as session:
        ledger.post(
            session, user_id=user, delta=points, reason="quiz", key=f"seed:{user}", actor="system", at=AT, day=DAY
        )


def redeem(factory: sessionmaker[Session], user: str, **reward: Any) -> rewards.RedeemResult:
    with factory.begin() as session:
        return rewards.redeem(session, user_id=user, chat_id="wrA", at=AT, day=DAY, **{**BAG, **reward})


def state(factory: sessionmaker[Session]) -> tuple[dict[str, int], dict[str, int], list[tuple[str, str]]]:
    with factory() as session:
        balance = {a.user_id: a.balance for a in session.scalars(select(PointsAccount))}
        stock = {s.code: s.remaining for s in session.scalars(select(RewardStock))}
        taken = [(r.user_id, r.status) for r in session.scalars(select(Redemption).order_by(Redemption.id))]
    return balance, stock, taken


def test_redeem_takes_points_and_stock_and_records_a_pending_redemption(factory: sessionmaker[Session]) -> None:
    give(factory, "zhangsan", 500)
    result = redeem(factory, "zhangsan")
    assert (result.status, result.balance, result.remaining) == ("ok", 200, 1)
    assert result.redemption is not None and result.redemption.status == "pending"
    assert state(factory) == ({"zhangsan": 200}, {"A01": 1}, [("zhangsan", "pending")])
    with factory() as session:
        (debit,) = [e for e in ledger.entries(session) if e.delta < 0]
        assert (debit.key, debit.delta, debit.reason) == (f"redeem:{result.redemption.id}", -300, "redeem")


@pytest.mark.parametrize(
    ("points", "reward", "expected"),
    [
        (299, {}, "insufficient"),
        (0, {}, "insufficient"),
        (900, {"stock": 0}, "sold_out"),
    ],
)
def test_refused_redemption_changes_nothing(
    factory: sessionmaker[Session], engine: Engine, points: int, reward: dict[str, Any], expected: str
) -> None:
    """Too few points or no stock: refused, and no points, stock or redemption change hands."""
    if points:
        give(factory, "zhangsan", points)
    before_entries = count_rows(engine, PointsEntry)
    result = redeem(factory, "zhangsan", **reward)
    assert result.status == expected
    balance, _stock, taken = state(factory)
    assert balance == ({"zhangsan": points} if points else {})
    assert taken == []
    assert count_rows(engine, PointsEntry) == before_entries
    with factory() as session:
        assert rewards.remaining(session, ["A01"]).get("A01", reward.get("stock", 2)) == reward.get("stock", 2)


def test_per_member_limit_counts_live_redemptions(factory: sessionmaker[Session]) -> None:
    """A second unit over the limit is refused; after a cancel the member may redeem again."""
    give(factory, "zhangsan", 1000)
    first = redeem(factory, "zhangsan", stock=5)
    assert redeem(factory, "zhangsan", stock=5).status == "limit"
    assert state(factory)[0] == {"zhangsan": 700}
    with factory.begin() as session:
        assert first.redemption is not None
        assert rewards.cancel(session, first.redemption.id, by="guide01", at=AT, day=DAY).status == "ok"
    assert redeem(factory, "zhangsan", stock=5).status == "ok"


def test_cancel_refunds_and_restocks_once(factory: sessionmaker[Session]) -> None:
    """Cancelling refunds the points (ledger key refund:{id}) and returns the unit; a second cancel is refused."""
    give(factory, "zhangsan", 300)
    taken = redeem(factory, "zhangsan")
    assert taken.redemption is not None
    rid = taken.redemption.id
    with factory.begin() as session:
        cancelled = rewards.cancel(session, rid, by="guide01", at=AT, day=DAY)
    assert (cancelled.status, cancelled.balance) == ("ok", 300)
    assert state(factory) == ({"zhangsan": 300}, {"A01": 2}, [("zhangsan", "cancelled")])
    with factory.begin() as session:
        again = rewards.cancel(session, rid, by="guide01", at=AT, day=DAY)
        fulfil = rewards.fulfil(session, rid, by="guide01", at=AT)
        missing = rewards.cancel(session, 999, by="guide01", at=AT, day=DAY)
    assert (again.status, fulfil.status, missing.status) == ("not_pending", "not_pending", "missing")
    assert state(factory) == ({"zhangsan": 300}, {"A01": 2}, [("zhangsan", "cancelled")])
    with factory() as session:
        assert [e.key for e in ledger.entries(session)] == ["seed:zhangsan", f"redeem:{rid}", f"refund:{rid}"]
        assert ledger.account_of(session, "zhangsan") == (300, 300)  # a refund is not new earnings
        assert ledger.audit(session) == []


def test_fulfil_marks_it_done_and_keeps_the_points(factory: sessionmaker[Session]) -> None:
    give(factory, "zhangsan", 300)
    taken = redeem(factory, "zhangsan")
    assert taken.redemption is not None
    with factory.begin() as session:
        done = rewards.fulfil(session, taken.redemption.id, by="guide01", at=AT)
    assert done.status == "ok"
    assert state(factory) == ({"zhangsan": 0}, {"A01": 1}, [("zhangsan", "fulfilled")])


def test_yaml_restock_adds_the_difference_and_never_goes_negative(factory: sessionmaker[Session]) -> None:
    """Raising the YAML stock from 2 to 5 after one sale leaves 4; lowering it below what was sold leaves 0."""
    give(factory, "zhangsan", 300)
    redeem(factory, "zhangsan")
    with factory.begin() as session:
        assert rewards.sync_stock(session, "A01", 5) == 4
        assert rewards.sync_stock(session, "A01", 5) == 4
        assert rewards.sync_stock(session, "A01", 0) == 0


# --- concurrency -----------------------------------------------------------------------------------


def last_unit_race(engine: Engine, members: int) -> None:
    factory = make_session_factory(engine)
    for i in range(members):
        give(factory, f"m{i:02d}", 300)
    # One unit left: stock 2, one sold already.
    give(factory, "early", 300)
    assert redeem(factory, "early").status == "ok"

    results = run_together(members, lambda i: redeem(factory, f"m{i:02d}").status)

    assert sorted(results) == ["ok"] + ["sold_out"] * (members - 1)
    balance, stock, taken = state(factory)
    assert stock == {"A01": 0}
    assert len(taken) == 2
    winner = next(user for user, _ in taken if user != "early")
    assert balance[winner] == 0
    assert all(points == 300 for user, points in balance.items() if user not in (winner, "early"))
    with factory() as session:
        assert ledger.audit(session) == []


def test_fifty_members_race_for_the_last_unit_on_postgresql(wide_pg: Engine) -> None:
    """50 members on their own connections redeem the last unit at once: one winner, stock 0, others untouched."""
    last_unit_race(wide_pg, 50)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fifty_members_race_for_the_last_unit_on_sqlite(engine: Engine) -> None:
    """The same race on SQLite, where BEGIN IMMEDIATE serialises the writers."""
    last_unit_race(engine, 50)


def concurrent_spends(engine: Engine, workers: int) -> None:
    factory = make_session_factory(engine)
    give(factory, "zhangsan", 1000)

    def spend(i: int) -> str:
        with factory.begin() as session:
            return ledger.post(
                session, user_id="zhangsan", delta=-300, reason="manual", key=f"manual:s{i}", actor="g", at=AT, day=DAY
            ).status

    results = run_together(workers, spend)
    # 1000 covers three spends of 300, never a fourth.
    assert sorted(results) == ["insufficient"] * (workers - 3) + ["posted"] * 3
    with factory() as session:
        assert ledger.account_of(session, "zhangsan") == (100, 1000)
        assert ledger.audit(session) == []


def test_concurrent_spends_never_overdraw_on_postgresql(wide_pg: Engine) -> None:
    """20 parallel debits of 300 from 1000 points: exactly three succeed, the balance stays 100."""
    concurrent_spends(wide_pg, 20)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_concurrent_spends_never_overdraw_on_sqlite(engine: Engine) -> None:
    concurrent_spends(engine, 20)
