"""Places are never oversold and no signup is lost: real parallel connections on PostgreSQL (and threads on SQLite)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.events import Event
from bot.services import Services, build_services
from handlers.groupbuy.commands import close_due_groupbuys
from models import OutboxMessage
from models.groupbuy import Deal, Signup
from tests.conftest import write_yaml
from tests.factories import load_handlers
from tests.handlers.groupbuy.chat import GROUP, bot_config
from tests.parallel import run_together


def pg_services(wide_pg: Engine, tmp_path: Path, clock: FrozenClock) -> Services:
    path = write_yaml(tmp_path / "config.yaml", bot_config())
    return build_services(str(path), registry=load_handlers(), clock=clock, engine=wide_pg)


def say(services: Services, text: str, user: str) -> str:
    event = Event(
        kind="text",
        source="console",
        user_id=user,
        chat_id=GROUP,
        at=services.clock.now(),
        text=f"@小助手\u2005{text}",
        msg_id=uuid.uuid4().hex,
    )
    return services.dispatcher.handle(event).passive_text


def live_signups(services: Services, deal_id: int) -> list[Signup]:
    with services.session_factory() as session:
        query = select(Signup).where(Signup.deal_id == deal_id, Signup.status != "cancelled").order_by(Signup.queue)
        return list(session.scalars(query))


def open_deal(services: Services, places: int) -> Deal:
    say(services, f"开团 草莓 价格=10 名额={places} 截止=2小时 限购=1", "guide01")
    with services.session_factory() as session:
        return session.scalars(select(Deal)).one()


@pytest.mark.postgres_only
def test_a_hundred_members_at_once_for_fifty_places(wide_pg: Engine, tmp_path: Path, clock: FrozenClock) -> None:
    """Exactly 50 are confirmed; the other 50 wait in the order they reached the database, numbered after them."""
    services = pg_services(wide_pg, tmp_path, clock)
    deal = open_deal(services, 50)

    answers = run_together(100, lambda i: (f"m{i:03d}", say(services, f"接龙 {deal.code}", f"m{i:03d}")))

    confirmed = [user for user, text in answers if "接龙成功" in text]
    waiting = {user: int(re.search(r"候补第 (\d+) 位", text).group(1)) for user, text in answers if "候补" in text}  # type: ignore[union-attr]
    assert len(confirmed) == 50 and len(waiting) == 50
    with services.session_factory() as session:
        assert session.get(Deal, deal.id).taken == 50  # type: ignore[union-attr]
        rows = {s.user_id: s for s in session.scalars(select(Signup).where(Signup.deal_id == deal.id))}
    assert len(rows) == 100
    assert sorted(rows[u].number for u in confirmed) == list(range(1, 51))
    # Arrival order is the order the deal's lock was granted: 跟团号 and waitlist position agree with it.
    assert sorted(waiting.values()) == list(range(1, 51))
    assert all(rows[user].number == 50 + position for user, position in waiting.items())


@pytest.mark.postgres_only
def test_concurrent_cancellations_promotions_and_signups_never_exceed_the_cap_or_lose_anyone(
    wide_pg: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    services = pg_services(wide_pg, tmp_path, clock)
    deal = open_deal(services, 50)
    for i in range(100):
        say(services, f"接龙 {deal.code}", f"m{i:03d}")

    # 25 confirmed members and 10 waitlisted ones cancel while 25 newcomers sign up, all at once.
    actions = [("取消", f"m{i:03d}") for i in range(25)] + [("取消", f"m{i:03d}") for i in range(50, 60)]
    actions += [("接龙", f"n{i:03d}") for i in range(25)]
    answers = run_together(len(actions), lambda i: say(services, f"{actions[i][0]} {deal.code}", actions[i][1]))

    assert sum("已取消" in a for a in answers) == 35
    assert sum("跟团号" in a and "已取消" not in a for a in answers) == 25
    live = live_signups(services, deal.id)
    assert len(live) == 100 - 35 + 25
    with services.session_factory() as session:
        taken = session.get(Deal, deal.id).taken  # type: ignore[union-attr]
        total = session.scalar(select(func.count()).select_from(Signup).where(Signup.deal_id == deal.id))
    assert total == 125  # cancelled rows are kept: nobody's signup vanished
    assert taken == 50 == sum(s.quantity for s in live if s.status == "confirmed")
    # First come, first served held throughout: in queue order, the first 50 live signups are the confirmed ones.
    assert [s.status for s in live] == ["confirmed"] * 50 + ["waitlisted"] * (len(live) - 50)
    promoted = {s.user_id for s in live if s.status == "confirmed" and s.user_id >= "m050"}
    assert len(promoted) == 25
    with services.session_factory() as session:
        told = set(session.scalars(select(OutboxMessage.target).where(OutboxMessage.target.in_(promoted))))
    assert told == promoted


@pytest.mark.postgres_only
def test_two_closers_at_once_close_and_announce_each_deal_exactly_once(
    wide_pg: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    services = pg_services(wide_pg, tmp_path, clock)
    for n in range(10):
        say(services, f"开团 货品{n} 价格=10 名额=5 截止=1小时", "guide01")
    clock.advance(hours=2)
    counts = run_together(4, lambda _i: close_due_groupbuys(services.session_factory, services.config(), clock.now()))
    assert sum(counts) == 10
    with services.session_factory() as session:
        announcements = session.scalars(select(OutboxMessage).where(OutboxMessage.target == GROUP)).all()
        assert session.scalar(select(func.count()).select_from(Deal).where(Deal.status == "open")) == 0
    assert len(announcements) == 10
    assert len({str(a.payload["content"]) for a in announcements}) == 10


def test_parallel_signups_hold_the_cap_on_either_backend(engine: Engine, tmp_path: Path, clock: FrozenClock) -> None:
    """SQLite has no row locks; BEGIN IMMEDIATE and the conditional UPDATE hold the cap there too."""
    path = write_yaml(tmp_path / "config.yaml", bot_config())
    services = build_services(str(path), registry=load_handlers(), clock=clock, engine=engine)
    deal = open_deal(services, 15)
    answers = run_together(30, lambda i: say(services, f"接龙 {deal.code}", f"m{i:03d}"))
    assert sum("接龙成功" in a for a in answers) == 15 and sum("候补" in a for a in answers) == 15
    live = live_signups(services, deal.id)
    assert [s.status for s in live] == ["confirmed"] * 15 + ["waitlisted"] * 15
    assert sorted(s.number for s in live) == list(range(1, 31))
