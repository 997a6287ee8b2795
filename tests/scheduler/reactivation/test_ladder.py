"""Reactivation passes on a frozen clock across days: the ladder, leaving it, holdout, gap, caps, quiet hours."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.services import Services, build_services
from models.nudge import figures
from scheduler.reactivation.ladder import run_reactivation
from tests.factories import config_from, load_handlers
from tests.parallel import run_together
from tests.scheduler.reactivation.world import (
    GUIDE,
    SHOP,
    START,
    TEAM,
    TEAM2,
    World,
    make_world,
    users_by_holdout,
)

Maker = Callable[..., Services]


@pytest.fixture
def world(make_services: Maker, tmp_path: Path, clock: FrozenClock) -> World:
    return make_world(make_services, tmp_path, clock)


def test_ladder_mentions_on_day_7_notes_on_day_14_tells_the_guide_on_day_30(world: World) -> None:
    world.member(TEAM, "zhangsan", name="张三")
    for day in (1, 6):
        world.at_day(day)
        assert world.run().total_nudged == 0
    world.at_day(7)
    assert world.run().nudged == {1: 1}
    (mention,) = world.outbox()
    assert (mention.target_kind, mention.target) == ("chat", TEAM)
    assert mention.payload["mentions"] == ["zhangsan"]
    assert "张三" in mention.payload["content"] and "团长群" in mention.payload["content"]
    for day in (8, 10, 13):
        world.at_day(day)
        assert world.run().total_nudged == 0
    world.at_day(14)
    assert world.run().nudged == {2: 1}
    note = world.outbox()[-1]
    assert (note.target_kind, note.target) == ("user", "zhangsan")
    assert note.payload["content"] == "张三，回「团长群」签到领 50 积分！"
    world.at_day(30)
    assert world.run().nudged == {3: 1}
    told = world.outbox()[-1]
    assert (told.target_kind, told.target) == ("user", GUIDE)
    assert "张三" in told.payload["content"] and "30 天" in told.payload["content"]
    for day in (31, 33, 40):
        world.at_day(day)
        assert world.run().total_nudged == 0
    assert world.sent_steps("zhangsan") == [(TEAM, 1), (TEAM, 2), (TEAM, 3)]
    assert len(world.outbox()) == 3


def test_the_same_moment_twice_nudges_once(world: World) -> None:
    world.member(TEAM, "zhangsan")
    world.at_day(7)
    assert world.run().nudged == {1: 1}
    assert world.run().total_nudged == 0
    world.clock.advance(minutes=5)
    assert world.run().total_nudged == 0
    assert len(world.outbox()) == 1


def test_speaking_again_leaves_the_ladder_and_a_later_spell_starts_at_step_one(world: World) -> None:
    world.member(TEAM, "zhangsan")
    world.member(TEAM, "lisi")
    world.at_day(7)
    assert world.run().nudged == {1: 2}
    world.at_day(9)
    world.speak(TEAM, "zhangsan")
    world.at_day(14)
    assert world.run().nudged == {2: 1}
    assert world.sent_steps("zhangsan") == [(TEAM, 1)]
    # Silent again since day 9: a new spell, mentioned again on day 16, not noted on day 23.
    world.at_day(16)
    assert world.run().nudged == {1: 1}
    assert world.sent_steps("zhangsan") == [(TEAM, 1), (TEAM, 1)]
    world.at_day(22)
    assert world.run().total_nudged == 0
    world.at_day(23)
    assert world.run().nudged == {2: 1}
    assert world.sent_steps("zhangsan") == [(TEAM, 1), (TEAM, 1), (TEAM, 2)]


def test_a_customer_using_the_bot_one_to_one_is_active_in_their_customer_groups(world: World) -> None:
    """No bot hears a customer group; a 签到 sent 1:1 is the activity the bot sees, so it ends the spell there."""
    world.member(SHOP, "wmCustomer01")
    world.member(TEAM, "wmCustomer01")
    world.at_day(6)
    world.speak(None, "wmCustomer01", "签到")
    world.at_day(7)
    summary = world.run()
    # The internal group is heard: silence there still counts.
    assert summary.nudged == {1: 1} and world.outbox()[-1].target == TEAM
    world.at_day(13)
    assert world.run().unreachable == 1  # the customer group's spell from day 6 reaches step 1 (no @ in tasks)
    assert [n.spell_start for n in world.nudges() if n.chat_id == SHOP] == [START + timedelta(days=6)]


def test_a_member_who_left_the_group_is_not_nudged(world: World) -> None:
    from models.membership import leave

    world.member(TEAM, "zhangsan")
    with world.services.session_factory.begin() as session:
        leave(session, chat_id=TEAM, user_id="zhangsan", at=START + timedelta(days=1))
    world.at_day(7)
    assert world.run().total_nudged == 0
    assert world.outbox() == []


def test_holdout_is_never_nudged_but_recorded_at_every_step(make_services: Maker, tmp_path: Path, clock) -> None:
    world = make_world(make_services, tmp_path, clock, holdout_percent=50, holdout_salt="s1")
    held, free = users_by_holdout("s1", 50, 3)
    for user in held + free:
        world.member(TEAM, user)
    for day, step in ((7, 1), (14, 2), (30, 3)):
        world.at_day(day)
        summary = world.run()
        assert summary.nudged == {step: 3} and summary.holdout == 3
    targets = {row.target for row in world.outbox()}
    assert not targets & set(held)
    assert all(user not in row.payload["mentions"] for row in world.outbox() for user in held)
    assert len(world.outbox()) == 9
    recorded = [(n.user_id, n.step, n.outcome, n.holdout) for n in world.nudges() if n.user_id in held]
    assert sorted(recorded) == sorted((user, step, "holdout", True) for user in held for step in (1, 2, 3))


def test_holdout_is_stable_and_close_to_its_share() -> None:
    from scheduler.reactivation.ladder import in_holdout

    users = [f"wm{index:06d}" for index in range(4000)]
    first = [in_holdout(user, "salt", 10) for user in users]
    assert first == [in_holdout(user, "salt", 10) for user in users]
    assert 320 <= sum(first) <= 480
    assert not any(in_holdout(user, "salt", 0) for user in users)
    assert all(in_holdout(user, "salt", 100) for user in users)
    assert first != [in_holdout(user, "other", 10) for user in users]


def test_min_gap_holds_the_next_step_and_spans_groups(make_services: Maker, tmp_path: Path, clock) -> None:
    ladder = [{"after_days": 7, "action": "group_mention"}, {"after_days": 8, "action": "group_mention"}]
    world = make_world(make_services, tmp_path, clock, ladder=ladder, min_gap_hours=72, catch_up_days=10)
    world.member(TEAM, "zhangsan")
    world.member(TEAM2, "zhangsan")
    world.at_day(7)
    assert world.run().nudged == {1: 1}
    for day in (8, 9):
        world.at_day(day)
        assert world.run().total_nudged == 0
    world.at_day(10, local="09:59")
    assert world.run().total_nudged == 0
    world.at_day(10)
    # 72 hours after the first nudge exactly: one more step for the one member, in one group only.
    assert world.run().total_nudged == 1
    assert len(world.sent_steps("zhangsan")) == 2
    world.at_day(12)
    assert world.run().total_nudged == 0
    world.at_day(13)
    assert world.run().total_nudged == 1
    steps = world.sent_steps("zhangsan")
    assert len(steps) == 3 and {chat for chat, step in steps if step == 2} == {TEAM, TEAM2}


def test_daily_caps_per_group_and_overall(make_services: Maker, tmp_path: Path, clock) -> None:
    ladder = [{"after_days": 7, "action": "group_mention"}]
    world = make_world(
        make_services, tmp_path, clock, ladder=ladder, catch_up_days=10, daily_cap_per_group=2, daily_cap_total=3
    )
    for chat in (TEAM, TEAM2):
        for index in range(5):
            world.member(chat, f"{chat}-m{index}")
    world.at_day(7)
    first = world.run()
    assert first.total_nudged == 3 and first.skipped_caps > 0
    per_group = {chat: sum(1 for row in world.outbox() if row.target == chat) for chat in (TEAM, TEAM2)}
    assert sorted(per_group.values()) == [1, 2]
    world.at_day(7, local="20:00")
    assert world.run().total_nudged == 0
    # A new local day (midnight in Shanghai, 16:00 UTC) opens new budgets.
    world.at_day(8, local="09:00")
    assert world.run().total_nudged == 3
    world.at_day(9, local="09:00")
    assert world.run().total_nudged == 3
    world.at_day(10, local="09:00")
    assert world.run().total_nudged == 1
    assert len(world.outbox()) == 10
    assert len({row.payload["mentions"][0] for row in world.outbox()}) == 10


def test_quiet_hours_across_midnight_queue_nothing_and_a_later_pass_catches_up(world: World) -> None:
    world.member(TEAM, "zhangsan")
    world.member(TEAM, "lisi", at=START + timedelta(hours=12))  # due at 22:00 local on day 7
    world.at_day(7, local="21:29")
    assert world.run().nudged == {1: 1}
    world.at_day(7, local="21:30")
    assert world.run().quiet_hours
    for local in ("22:30", "23:59"):
        world.at_day(7, local=local)
        summary = world.run()
        assert summary.quiet_hours and summary.total_nudged == 0 and summary.skipped_quiet_hours == 1
    for local in ("00:00", "03:00", "08:29"):
        world.at_day(8, local=local)
        assert world.run().quiet_hours
    assert len(world.outbox()) == 1
    world.at_day(8, local="08:30")
    assert world.run().nudged == {1: 1}
    assert [row.payload["mentions"] for row in world.outbox()] == [["zhangsan"], ["lisi"]]


def test_customer_groups_skip_the_mention_and_send_notes_through_the_guide(world: World) -> None:
    world.member(SHOP, "wmCustomer01", name="王阿姨")
    world.at_day(7)
    summary = world.run()
    assert summary.total_nudged == 0 and summary.unreachable == 1
    assert world.outbox() == []
    world.at_day(14)
    assert world.run().nudged == {2: 1}
    (note,) = world.outbox()
    assert (note.target_kind, note.target) == ("user", GUIDE)
    assert "王阿姨" in note.payload["content"] and "王阿姨，回「福利群」签到领 50 积分！" in note.payload["content"]


def test_a_group_without_a_guide_cannot_tell_one(world: World) -> None:
    world.member(TEAM2, "zhangsan")
    world.at_day(30)
    summary = world.run()
    assert summary.total_nudged == 0 and summary.unreachable == 1
    assert world.outbox() == []


def test_report_figures_against_a_known_history(make_services: Maker, tmp_path: Path, clock) -> None:
    world = make_world(make_services, tmp_path, clock, holdout_percent=50, holdout_salt="s1")
    held, free = users_by_holdout("s1", 50, 4)
    for user in held + free:
        world.member(TEAM, user)
    world.at_day(7)
    assert world.run().nudged == {1: 4}
    # Two nudged members and one held-out member come back within days; another nudged one after 20 days.
    world.at_day(9)
    for user in (free[0], free[1], held[0]):
        world.speak(TEAM, user)
    world.at_day(14)
    assert world.run().nudged == {2: 2}
    world.at_day(27)
    world.speak(TEAM, free[2])
    with world.services.session_factory() as session:
        now = START + timedelta(days=28)
        found = figures(session, since=now - timedelta(days=30), until=now, within=timedelta(days=10))
        wide = figures(session, since=now - timedelta(days=30), until=now, within=timedelta(days=30))
        later = figures(session, since=START + timedelta(days=8), until=now, within=timedelta(days=30))
    assert (found.nudged.spells, found.nudged.reactivated) == (4, 2)
    assert (found.holdout.spells, found.holdout.reactivated) == (4, 1)
    assert found.nudged.rate == 0.5 and found.holdout.rate == 0.25
    assert found.sent_by_step == {1: 4, 2: 2}
    assert (wide.nudged.reactivated, wide.holdout.reactivated) == (3, 1)
    assert (later.nudged.spells, later.holdout.spells) == (0, 0)


def test_disabled_reactivation_does_nothing(make_services: Maker, tmp_path: Path, clock) -> None:
    world = make_world(make_services, tmp_path, clock, enabled=False)
    world.member(TEAM, "zhangsan")
    world.at_day(7)
    summary = world.run()
    assert not summary.enabled and world.outbox() == [] and world.nudges() == []


@pytest.mark.postgres_only
def test_parallel_passes_on_postgresql_nudge_each_member_once(
    wide_pg: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    def on_wide_pg(path: Path) -> Services:
        return build_services(str(path), registry=load_handlers(), clock=clock, engine=wide_pg)

    world = make_world(on_wide_pg, tmp_path, clock, daily_cap_per_group=30, daily_cap_total=45)
    for chat in (TEAM, TEAM2):
        for index in range(30):
            world.member(chat, f"{chat}-m{index}")
    world.at_day(7)
    factory, config, now = world.services.session_factory, world.config, clock.now()
    results = run_together(8, lambda _: run_reactivation(factory, config, now))
    assert sum(result.total_nudged for result in results) == 45
    mentions = [row.payload["mentions"][0] for row in world.outbox()]
    assert len(mentions) == 45 and len(set(mentions)) == 45
    assert len(world.nudges()) == 45


@given(
    gaps=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=5),
    catch_up=st.integers(min_value=0, max_value=10),
    silence_minutes=st.integers(min_value=0, max_value=250 * 24 * 60),
)
def test_every_silence_falls_in_at_most_one_step_window(gaps: list[int], catch_up: int, silence_minutes: int) -> None:
    """The steps' windows never overlap and leave no hole between the first step and the last one's catch-up."""
    from scheduler.reactivation.ladder import _windows

    days = [sum(gaps[: i + 1]) + 6 for i in range(len(gaps))]
    ladder = [{"after_days": d, "action": "tell_guide"} for d in days]
    config = config_from({"reactivation": {"ladder": ladder, "catch_up_days": catch_up}})
    last_active = START - timedelta(minutes=silence_minutes)
    holding = [w.step for w in _windows(config, START) if w.silent_since <= last_active <= w.silent_until]
    silent = timedelta(minutes=silence_minutes)
    if silent < timedelta(days=days[0]) or silent > timedelta(days=days[-1] + catch_up):
        assert holding == []
    else:
        expected = max(i + 1 for i, d in enumerate(days) if silent >= timedelta(days=d))
        assert holding == [expected]
