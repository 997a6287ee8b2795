"""The content calendar against a real database with a frozen clock: once per group, late within grace, never twice."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.transports.limiter import window
from models import outbox as outbox_rows
from models import rate_limit
from scheduler.calendar import slots as content_calendar
from scheduler.calendar.slots import run_calendar
from scheduler.runner import Scheduler
from tests.parallel import run_together
from tests.scheduler.harness import SHANGHAI, deliveries, factory_for, local, make_config, posts, weekly


def test_weekday_slot_posts_once_per_group_across_days(engine: Engine) -> None:
    """Ticking every 20 minutes for nine days, a Monday 10:00 entry posts once per tagged group each Monday."""
    factory = factory_for(engine)
    config = make_config([weekly()])
    clock = FrozenClock(local(2026, 11, 22, 9, 0))  # a Sunday
    scheduler = Scheduler(factory, lambda: config, clock)
    end = local(2026, 12, 1, 9, 0)
    while clock.now() < end:
        scheduler.calendar()
        scheduler.calendar()  # a second sweep in the same instant (an entry trigger and the sweep together)
        clock.advance(minutes=20)

    rows = posts(factory)
    assert [(row.target, row.payload["content"]) for row in rows] == [
        ("wr-team", "11月23日（周一）新品上架"),
        ("wr-app", "11月23日（周一）新品上架"),
        ("wr-team", "11月30日（周一）新品上架"),
        ("wr-app", "11月30日（周一）新品上架"),
    ]
    # Posted at the first tick after 10:00 (ticks are 20 minutes apart here), as pushes through the group's transport.
    assert all(row.channel == "group" and row.payload["purpose"] == "push" for row in rows)
    assert rows[0].created_at - local(2026, 11, 23, 10, 0) < timedelta(minutes=20)
    assert {(d.entry_id, d.local_date.isoformat(), d.chat_id, d.status) for d in deliveries(factory)} == {
        ("monday-product", "2026-11-23", "wr-team", "queued"),
        ("monday-product", "2026-11-23", "wr-app", "queued"),
        ("monday-product", "2026-11-30", "wr-team", "queued"),
        ("monday-product", "2026-11-30", "wr-app", "queued"),
    }


def test_first_start_does_not_post_slots_from_before_it_ever_ran(engine: Engine) -> None:
    """A scheduler started for the first time at 10:20 does not post the 10:00 slot it was never running for."""
    factory = factory_for(engine)
    config = make_config([weekly()])
    clock = FrozenClock(local(2026, 11, 23, 10, 20))
    scheduler = Scheduler(factory, lambda: config, clock)
    scheduler.calendar()
    clock.advance(minutes=1)
    scheduler.calendar()
    assert posts(factory) == []


def test_restart_in_the_middle_of_a_slot_posts_the_rest_once(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies after the first group's post was queued; the restarted one posts only the second group.

    A fan-out commits in batches; with batches of one group, the death falls between the two groups.
    """
    factory = factory_for(engine)
    config = make_config([weekly()])
    clock = FrozenClock(local(2026, 11, 23, 9, 59))
    Scheduler(factory, lambda: config, clock).calendar()
    clock.set(local(2026, 11, 23, 10, 0, 5))
    monkeypatch.setattr(content_calendar, "FAN_OUT_BATCH", 1)

    real_add = outbox_rows.add_messages
    calls = {"n": 0}

    def dies_on_second(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("killed mid-slot")
        return real_add(*args, **kwargs)

    monkeypatch.setattr(outbox_rows, "add_messages", dies_on_second)
    with pytest.raises(SystemExit):
        Scheduler(factory, lambda: config, clock).calendar()
    assert [row.target for row in posts(factory)] == ["wr-team"]

    monkeypatch.setattr(outbox_rows, "add_messages", real_add)
    clock.advance(seconds=40)
    restarted = Scheduler(factory, lambda: config, clock)  # a new process: a new lease holder
    clock.advance(seconds=31)  # the dead process's lease has lapsed
    report = restarted.calendar()
    assert report is not None and report.queued == 1 and report.already == 1
    restarted.calendar()
    assert sorted(row.target for row in posts(factory)) == ["wr-app", "wr-team"]


def test_grace_and_skip_after_downtime(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """Down from 09:00 to 12:15: the 11:30 slot (45 min late) goes out, the 10:00 one (135 min) is skipped, logged."""
    factory = factory_for(engine)
    config = make_config(
        [
            weekly("early"),
            weekly("late", when={"weekdays": ["mon"], "time": "11:30"}, content={"text": "午间上新"}),
        ]
    )
    clock = FrozenClock(local(2026, 11, 23, 9, 0))
    Scheduler(factory, lambda: config, clock).calendar()
    clock.set(local(2026, 11, 23, 12, 15))
    with caplog.at_level(logging.WARNING, logger="scheduler.calendar.slots"):
        report = Scheduler(factory, lambda: config, clock).calendar()

    assert report is not None and (report.queued, report.skipped) == (2, 2)
    assert [row.payload["content"] for row in posts(factory)] == ["午间上新", "午间上新"]
    skipped = {(d.entry_id, d.chat_id) for d in deliveries(factory) if d.status == "skipped"}
    assert skipped == {("early", "wr-team"), ("early", "wr-app")}
    assert "calendar early slot 2026-11-23 10:00 skipped for 2 group(s)" in caplog.text

    # Later sweeps neither post the skipped slot nor log it again.
    caplog.clear()
    clock.advance(minutes=1)
    Scheduler(factory, lambda: config, clock).calendar()
    assert len(posts(factory)) == 2 and "skipped" not in caplog.text


def test_campaign_offsets_fill_days_left_date_and_weekday(engine: Engine) -> None:
    """-3d, -1d and 0d of a 12-12 campaign post on 12-09, 12-11 and 12-12 with the countdown filled in."""
    factory = factory_for(engine)
    entry = {
        "id": "double12",
        "to": {"groups": ["wr-team"]},
        "campaign": {
            "event_date": "2026-12-12",
            "time": "10:00",
            "offsets": [
                {
                    "offset": "-3d",
                    "label": "预热",
                    "content": {"text": "预热：还有 {days_left} 天（{date} {weekday}）"},
                },
                {"offset": "-1d", "label": "倒计时", "content": {"text": "倒计时 {days_left} 天，{weekday}见"}},
                {"offset": "0d", "label": "开始", "content": {"markdown": "**今天开始**（{date}）"}},
            ],
        },
    }
    config = make_config([entry])
    clock = FrozenClock(local(2026, 12, 8, 9, 0))
    scheduler = Scheduler(factory, lambda: config, clock)
    while clock.now() < local(2026, 12, 14):
        scheduler.calendar()
        clock.advance(minutes=30)
    assert [(row.payload["msgtype"], row.payload["content"]) for row in posts(factory)] == [
        ("text", "预热：还有 3 天（12月9日 周三）"),
        ("text", "倒计时 1 天，周五见"),
        ("markdown", "**今天开始**（12月12日）"),
    ]


def test_date_entry_posts_once_on_its_day_and_cron_weekdays_follow_crontab(engine: Engine) -> None:
    """A dated entry fires once; cron "30 19 * * 3" means Wednesday (crontab numbering), not Thursday."""
    factory = factory_for(engine)
    config = make_config(
        [
            weekly("launch", when={"date": "2026-11-25", "time": "09:00"}, content={"text": "上线啦"}),
            weekly("tips", when={"cron": "30 19 * * 3"}, content={"text": "每周干货"}, to={"groups": ["wr-team"]}),
        ]
    )
    clock = FrozenClock(local(2026, 11, 23, 8, 0))
    scheduler = Scheduler(factory, lambda: config, clock)
    while clock.now() < local(2026, 12, 3):
        scheduler.calendar()
        clock.advance(minutes=40)
    got = [(d.entry_id, d.local_date.isoformat(), d.chat_id) for d in deliveries(factory)]
    assert got == [
        ("launch", "2026-11-25", "wr-app"),
        ("launch", "2026-11-25", "wr-team"),
        ("tips", "2026-11-25", "wr-team"),
        ("tips", "2026-12-02", "wr-team"),
    ]


def test_an_edited_time_on_the_same_day_does_not_post_the_slot_again(engine: Engine) -> None:
    """After the 10:00 post went out, moving the entry to 11:00 that day does not post it a second time."""
    factory = factory_for(engine)
    clock = FrozenClock(local(2026, 11, 23, 9, 55))
    current = {"config": make_config([weekly()])}
    scheduler = Scheduler(factory, lambda: current["config"], clock)
    scheduler.calendar()
    clock.set(local(2026, 11, 23, 10, 1))
    scheduler.calendar()
    current["config"] = make_config([weekly(when={"weekdays": ["mon"], "time": "11:00"})])
    clock.set(local(2026, 11, 23, 11, 1))
    scheduler.calendar()
    assert len(posts(factory)) == 2


@pytest.mark.postgres_only
def test_parallel_sweeps_on_separate_connections_post_each_slot_once(wide_pg: Engine) -> None:
    """Twelve sweeps at the same instant (no leader check: the unique key alone) queue one post per group."""
    factory = factory_for(wide_pg)
    config = make_config([weekly(to={"all": True})])
    first = local(2026, 11, 23, 9, 59)
    run_calendar(factory, config, first, worker="setup")
    at = local(2026, 11, 23, 10, 0, 10)

    reports = run_together(12, lambda index: run_calendar(factory, config, at, worker=f"w{index}"))
    assert sum(report.queued for report in reports) == 3
    assert sorted(row.target for row in posts(factory)) == ["wr-app", "wr-cust", "wr-team"]


def test_a_customer_group_with_its_monthly_tasks_spent_is_not_queued_a_post_for_next_month(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Two tasks a month, one spent and one welcome waiting: the slot is recorded over_cap for that group only."""
    factory = factory_for(engine)
    config = make_config(
        [weekly(to={"all": True})],
        outbox={"transport": "wecom", "reclaim_after_seconds": 120},
        wecom={"corp_id": "corp", "secret": "secret"},
        outbound={"limits": {"customer_task_per_month": 2}},
    )
    clock = FrozenClock(local(2026, 11, 23, 9, 0))
    run_calendar(factory, config, clock.now(), worker="t")
    month = window("month", clock.now(), SHANGHAI)
    with factory.begin() as session:
        assert rate_limit.spend(session, "customer_task:wr-cust/month", month[0], month[1], 2)
        outbox_rows.add_message(
            session, channel="group", target_kind="chat", target="wr-cust", payload={"content": "欢迎"}, now=clock.now()
        )
    clock.set(local(2026, 11, 23, 10, 0, 30))
    with caplog.at_level(logging.WARNING, logger="scheduler.calendar.slots"):
        report = run_calendar(factory, config, clock.now(), worker="t")
    assert (report.queued, report.over_cap) == (2, 1)
    assert [row.target for row in posts(factory)] == ["wr-cust", "wr-team", "wr-app"]  # the welcome, then two posts
    assert {(d.chat_id, d.status) for d in deliveries(factory)} == {
        ("wr-team", "queued"),
        ("wr-app", "queued"),
        ("wr-cust", "over_cap"),
    }
    assert "not posted to customer group wr-cust: its monthly task cap is spent" in caplog.text


def test_a_slot_that_fails_to_queue_is_tried_again_and_later_slots_still_go(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the 10:00 slot once: the next pass posts it, and the 10:30 slot after it."""
    factory = factory_for(engine)
    config = make_config(
        [weekly(), weekly("half", when={"weekdays": ["mon"], "time": "10:30"}, content={"text": "半点"})]
    )
    clock = FrozenClock(local(2026, 11, 23, 9, 0))
    run_calendar(factory, config, clock.now(), worker="t")
    real_claim = content_calendar.calendar_delivery.claim_many
    monkeypatch.setattr(content_calendar.calendar_delivery, "claim_many", lambda *a, **k: 1 / 0)
    clock.set(local(2026, 11, 23, 10, 0, 20))
    assert run_calendar(factory, config, clock.now(), worker="t").failed == 1
    monkeypatch.setattr(content_calendar.calendar_delivery, "claim_many", real_claim)
    clock.set(local(2026, 11, 23, 10, 31))
    report = run_calendar(factory, config, clock.now(), worker="t")
    assert report.queued == 4
    assert [row.payload["content"] for row in posts(factory)] == ["11月23日（周一）新品上架"] * 2 + ["半点"] * 2


@pytest.mark.parametrize("text", ["买一送一 {}", "{date:%Y}", "{weekday!x}"])
def test_braces_that_would_fail_at_send_time_are_refused_at_load(text: str) -> None:
    with pytest.raises(Exception, match="not a placeholder"):
        make_config([weekly(content={"text": text})])
