"""Calendar posts through the real WeCom transport and the fake WeCom: news cards, text fallbacks, quiet hours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock
from bot.config.core import Config, OutboxConfig
from bot.transports.drainer import drain_once
from bot.transports.wecom import WecomTransport
from scheduler.calendar.slots import run_calendar
from tests.bot.transports.conftest import GROUPS
from tests.factories import config_from
from tests.fake_wecom import CORP_ID, SECRET, FakeWecom
from tests.scheduler.harness import local

SETTINGS = OutboxConfig(batch_size=50, max_attempts=3, retry_base_seconds=5, retry_max_seconds=60)
NEWS = {
    "title": "每周干货：{date} 收纳",
    "description": "{weekday}的三分钟小技巧",
    "url": "https://example.com/tips",
    "picture": "https://example.com/tips.jpg",
}


def calendar_config(fake: FakeWecom, calendar: list[dict[str, Any]], quiet: dict[str, Any]) -> Config:
    data = {
        "timezone": "Asia/Shanghai",
        "wecom": {"corp_id": CORP_ID, "secret": SECRET, "agent_id": "1000002", "api_base": fake.base_url},
        "outbox": {"transport": "wecom"},
        "roles": {"guides": ["guide01", "guide02"]},
        "outbound": {"quiet_hours": quiet, "timeout_seconds": 2},
        "groups": GROUPS,
        "calendar": calendar,
    }
    return config_from(data)


def test_news_card_is_a_card_where_wecom_allows_and_a_link_task_in_customer_groups(
    fake_wecom: FakeWecom,
    factory: sessionmaker[Session],
    clock: FrozenClock,
    make_wecom: Callable[..., WecomTransport],
) -> None:
    entry = {
        "id": "tips",
        "when": {"weekdays": ["wed"], "time": "19:30"},
        "to": {"all": True},
        "content": {"news": NEWS},
    }
    config = calendar_config(fake_wecom, [entry], {"enabled": False})
    clock.set(local(2026, 11, 25, 19, 0))
    run_calendar(factory, config, clock.now(), worker="t")
    clock.set(local(2026, 11, 25, 19, 30, 10))
    assert run_calendar(factory, config, clock.now(), worker="t").queued == 4
    report = drain_once(factory, make_wecom(config), SETTINGS, clock, worker="t")
    assert report.sent == 4 and report.failed == 0

    article = {
        "title": "每周干货：11月25日 收纳",
        "description": "周三的三分钟小技巧",
        "url": "https://example.com/tips",
        "picurl": "https://example.com/tips.jpg",
    }
    (webhook,) = fake_wecom.bodies("webhook/send")
    assert webhook == {"msgtype": "news", "news": {"articles": [article]}}
    (appchat,) = fake_wecom.bodies("appchat/send")
    assert appchat == {"chatid": "wr-appchat", "msgtype": "news", "news": {"articles": [article]}, "safe": 0}
    # Customer-group tasks have no news message: the text carries title, description and link, plus a link card.
    (task,) = fake_wecom.bodies("externalcontact/add_msg_template")
    assert task is not None
    assert task["text"] == {"content": "【每周干货：11月25日 收纳】周三的三分钟小技巧\nhttps://example.com/tips"}
    assert task["attachments"] == [
        {
            "msgtype": "link",
            "link": {
                "title": "每周干货：11月25日 收纳",
                "url": "https://example.com/tips",
                "desc": "周三的三分钟小技巧",
                "picurl": "https://example.com/tips.jpg",
            },
        }
    ]


def test_quiet_hours_across_midnight_hold_a_late_slot_until_they_end(
    fake_wecom: FakeWecom,
    factory: sessionmaker[Session],
    clock: FrozenClock,
    make_wecom: Callable[..., WecomTransport],
) -> None:
    """Quiet 21:30-08:30: the 23:45 post is queued once, held through midnight, and sent at 08:30 the next day."""
    entry = {
        "id": "night",
        "when": {"time": "23:45"},
        "to": {"groups": ["wr-internal"]},
        "content": {"text": "{date}晚安"},
    }
    config = calendar_config(fake_wecom, [entry], {"enabled": True, "start": "21:30", "end": "08:30"})
    transport = make_wecom(config)
    clock.set(local(2026, 11, 23, 23, 0))
    run_calendar(factory, config, clock.now(), worker="t")
    for at in (local(2026, 11, 23, 23, 45, 5), local(2026, 11, 24, 0, 10), local(2026, 11, 24, 8, 29)):
        clock.set(at)
        run_calendar(factory, config, clock.now(), worker="t")
        drain_once(factory, transport, SETTINGS, clock, worker="t")
        assert fake_wecom.bodies("webhook/send") == []
    clock.set(local(2026, 11, 24, 8, 30, 1))
    report = drain_once(factory, transport, SETTINGS, clock, worker="t")
    assert report.sent == 1
    assert fake_wecom.bodies("webhook/send") == [{"msgtype": "text", "text": {"content": "11月23日晚安"}}]
