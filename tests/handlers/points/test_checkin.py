"""签到 as members see it: once per business day, streaks, bonuses, caps, tier-ups, and no double credit."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.events import Event
from bot.services import Services
from models.checkin import Checkin
from models.ledger import PointsEntry
from tests.conftest import count_rows
from tests.handlers.points.chat import GROUP, Bot, local, make_bot
from tests.parallel import run_together


@pytest.fixture
def bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> Bot:
    return make_bot(make_services, tmp_path, clock)


def test_first_checkin_credits_base_points(bot: Bot) -> None:
    reply = bot.at(local(2026, 11, 22, 9, 0)).say("签到")
    assert reply == "签到成功，今日 +10 分！已连续签到 1 天，当前积分 10。"
    (entry,) = bot.entries()
    assert (entry.key, entry.delta, entry.reason, entry.chat_id) == ("checkin:lisi:2026-11-22", 10, "checkin", GROUP)
    assert bot.balance("lisi") == (10, 10)


def test_second_checkin_same_day_says_so_and_credits_nothing(bot: Bot, engine: Engine) -> None:
    """Another 签到 the same business day, even from 1:1 or another group, is answered and changes nothing."""
    bot.at(local(2026, 11, 22, 9, 0)).say("签到")
    bot.clock.set(local(2026, 11, 22, 23, 59, 59))
    for chat in (GROUP, None, "wrgroup0002"):
        reply = bot.say("签到", chat=chat)
        assert reply.startswith("今天已经签到过啦（已连续 1 天），当前积分 10。")
    assert count_rows(engine, PointsEntry) == 1
    assert count_rows(engine, Checkin) == 1
    assert bot.balance("lisi") == (10, 10)


def test_midnight_starts_a_new_day_with_reset_hour_zero(bot: Bot) -> None:
    """23:59:59 and 00:00:00 Shanghai are two business days (UTC is still on the same date for both)."""
    bot.at(local(2026, 11, 22, 23, 59, 59)).say("签到")
    reply = bot.at(local(2026, 11, 23, 0, 0, 0)).say("签到")
    assert "已连续签到 2 天，当前积分 20" in reply


def test_reset_hour_decides_the_business_day(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    """With reset at 04:00, 03:59 still counts for yesterday and 04:00 opens a new day."""
    bot = make_bot(make_services, tmp_path, clock, reset_hour=4)
    bot.at(local(2026, 11, 22, 10, 0)).say("签到")  # business day 22nd
    early = bot.at(local(2026, 11, 23, 3, 59, 59)).say("签到")  # still the 22nd
    assert early.startswith("今天已经签到过啦") and "每天 4 点开始新的一天" in early
    reply = bot.at(local(2026, 11, 23, 4, 0)).say("签到")
    assert "已连续签到 2 天" in reply
    assert [e.day.isoformat() for e in bot.entries()] == ["2026-11-22", "2026-11-23"]


def test_streak_grows_daily_pays_its_bonus_and_resets_after_a_missed_day(bot: Bot) -> None:
    """Days 1-3 in a row (day 3 pays the +5 bonus), skip day 4, day 5 starts again at 1."""
    replies = [bot.at(local(2026, 11, d, 9, 0)).say("签到") for d in (20, 21, 22)]
    assert "已连续签到 2 天，当前积分 20" in replies[1]
    assert replies[2] == (
        "签到成功，今日 +15 分！已连续签到 3 天，当前积分 35。\n连续签到第 3 天，额外奖励 5 分（已含在今日积分里）。"
    )
    after_gap = bot.at(local(2026, 11, 24, 9, 0)).say("签到")
    assert after_gap.startswith("签到成功，今日 +10 分！已连续签到 1 天，当前积分 45。")


def test_daily_cap_limits_checkin_points(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    """With a daily cap of 6, a 10-point check-in earns 6 and says why."""
    bot = make_bot(make_services, tmp_path, clock, daily_earn_cap=6)
    reply = bot.at(local(2026, 11, 22, 9, 0)).say("签到")
    assert (
        reply == "签到成功，今日 +6 分！已连续签到 1 天，当前积分 6。\n今日获得的积分已达上限 6 分，本次签到只记 6 分。"
    )
    assert bot.balance("lisi") == (6, 6)


def test_reaching_a_tier_is_announced_in_the_group(bot: Bot) -> None:
    """The check-in that reaches 银卡 (20 earned) queues a group message @mentioning the member; the first does not."""
    bot.at(local(2026, 11, 21, 9, 0)).send("签到")
    assert bot.outbox() == []
    outcome = bot.at(local(2026, 11, 22, 9, 0)).send("签到")
    assert outcome.queued == 1
    (row,) = bot.outbox()
    assert (row.target_kind, row.target) == ("chat", GROUP)
    assert row.payload["content"] == "恭喜 lisi 升级为「银卡」！"
    assert row.payload["mentions"] == ["lisi"]
    # Staying in the tier is not news: the next check-in announces nothing.
    assert bot.at(local(2026, 11, 23, 9, 0)).send("签到").queued == 0


def test_checkin_in_a_private_chat_works_without_a_group(bot: Bot) -> None:
    reply = bot.at(local(2026, 11, 22, 9, 0)).say("签到", chat=None)
    assert reply.startswith("签到成功，今日 +10 分")
    (entry,) = bot.entries()
    assert entry.chat_id is None


# --- concurrency -----------------------------------------------------------------------------------


def fifty_checkins(bot: Bot, engine: Engine) -> None:
    """50 deliveries of 签到 (distinct msg ids, as from 50 taps) run at once through the dispatcher."""
    workers = 50
    bot.clock.set(local(2026, 11, 22, 9, 0))

    def tap(_: int) -> str:
        event = Event(
            kind="text",
            source="console",
            user_id="lisi",
            chat_id=GROUP,
            at=bot.clock.now(),
            text="@小助手\u2005签到",
            msg_id=uuid.uuid4().hex,
        )
        return bot.services.dispatcher.handle(event).passive_text

    replies = run_together(workers, tap)
    assert sum(r.startswith("签到成功") for r in replies) == 1
    assert sum(r.startswith("今天已经签到过啦") for r in replies) == workers - 1
    assert count_rows(engine, PointsEntry) == 1
    assert bot.balance("lisi") == (10, 10)
    with bot.services.session_factory() as session:
        assert [c.streak for c in session.scalars(select(Checkin))] == [1]


def test_fifty_simultaneous_checkins_credit_once_on_postgresql(
    wide_pg: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    """50 parallel connections, one member, one business day: one credit of 10, 49 polite refusals."""
    from bot.services import build_services
    from tests.conftest import base_config, write_yaml
    from tests.factories import load_handlers
    from tests.handlers.points.chat import POINTS

    path = write_yaml(tmp_path / "config.yaml", {**base_config(), "points": POINTS})
    services = build_services(str(path), registry=load_handlers(), clock=clock, engine=wide_pg)
    fifty_checkins(Bot(services, clock), wide_pg)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fifty_simultaneous_checkins_credit_once_on_sqlite(bot: Bot, engine: Engine) -> None:
    """The same 50 taps on SQLite: writers are serialised, the outcome is the same."""
    fifty_checkins(bot, engine)


def test_capped_checkin_does_not_claim_the_streak_bonus(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    """Day 3 earns 10 + 5 bonus, but a cap of 12 credits 12: the reply says so instead of 「已含在今日积分里」."""
    bot = make_bot(make_services, tmp_path, clock, daily_earn_cap=12)
    bot.at(local(2026, 11, 20, 9, 0)).say("签到")
    bot.at(local(2026, 11, 21, 9, 0)).say("签到")
    reply = bot.at(local(2026, 11, 22, 9, 0)).say("签到")
    assert reply == (
        "签到成功，今日 +12 分！已连续签到 3 天，当前积分 32。\n"
        "连续签到第 3 天本有额外奖励 5 分，但今日获得的积分已达上限 12 分，本次签到只记 12 分。"
    )
    assert bot.balance("lisi") == (32, 32)


def test_uncapped_bonus_is_still_announced(bot: Bot) -> None:
    bot.at(local(2026, 11, 20, 9, 0)).say("签到")
    bot.at(local(2026, 11, 21, 9, 0)).say("签到")
    reply = bot.at(local(2026, 11, 22, 9, 0)).say("签到")
    assert reply.splitlines()[1] == "连续签到第 3 天，额外奖励 5 分（已含在今日积分里）。"
