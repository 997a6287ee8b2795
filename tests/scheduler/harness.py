"""Shared pieces for scheduler tests: configs with a calendar, the outbox rows it queued, a frozen week."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config.core import Config
from models import CalendarDelivery, OutboxMessage
from models.db import make_session_factory
from tests.factories import config_from

SHANGHAI = ZoneInfo("Asia/Shanghai")
GROUPS: list[dict[str, Any]] = [
    {"chat_id": "wr-team", "name": "团长群", "tags": ["团长"], "push": "webhook", "webhook_key": "robot-key-0001"},
    {"chat_id": "wr-app", "name": "应用群", "tags": ["团长", "华东"], "push": "appchat"},
    {
        "chat_id": "wr-cust",
        "name": "福利群",
        "kind": "customer",
        "tags": ["福利"],
        "guide": "guide01",
        "push": "customer_task",
        "delivery": "task",
    },
]


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def make_config(calendar: list[dict[str, Any]], **extra: Any) -> Config:
    data: dict[str, Any] = {
        "timezone": "Asia/Shanghai",
        "roles": {"guides": ["guide01"]},
        "groups": GROUPS,
        "calendar": calendar,
        "scheduler": {"grace_minutes": 60},
    }
    data.update(extra)
    return config_from(data)


def weekly(entry_id: str = "monday-product", **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": entry_id,
        "when": {"weekdays": ["mon"], "time": "10:00"},
        "to": {"tags": ["团长"]},
        "content": {"text": "{date}（{weekday}）新品上架"},
    }
    entry.update(overrides)
    return entry


def factory_for(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def posts(factory: sessionmaker[Session]) -> list[OutboxMessage]:
    """Every group post in the outbox, oldest first."""
    with factory() as session:
        return list(
            session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "group").order_by(OutboxMessage.id))
        )


def deliveries(factory: sessionmaker[Session]) -> list[CalendarDelivery]:
    with factory() as session:
        return list(
            session.scalars(
                select(CalendarDelivery).order_by(
                    CalendarDelivery.local_date, CalendarDelivery.entry_id, CalendarDelivery.chat_id
                )
            )
        )
