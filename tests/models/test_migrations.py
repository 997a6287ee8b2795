"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from models import Base, OutboxMessage, migrate
from models.db import make_engine
from tests.conftest import count_rows

SHANGHAI = timezone(timedelta(hours=8))


def outbox_row(**overrides: object) -> OutboxMessage:
    at = datetime(2026, 11, 22, 10, 0, tzinfo=SHANGHAI)
    values: dict[str, object] = {
        "channel": "app_message",
        "target_kind": "user",
        "target": "zhangsan",
        "payload": {"msgtype": "text", "content": "你好"},
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": at,
        "created_at": at,
    }
    values.update(overrides)
    return OutboxMessage(**values)


@pytest.fixture
def fresh_sqlite(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    yield engine
    engine.dispose()


def test_migrated_schema_matches_models(engine: Engine) -> None:
    """Autogenerate finds nothing to do: the migrations and the models describe the same tables, types, indexes."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_migrated_check_constraints_match_models(engine: Engine) -> None:
    """Autogenerate ignores CHECK constraints, so compare their names table by table."""
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        declared = {str(c.name) for c in table.constraints if isinstance(c, CheckConstraint)}
        reflected = {c["name"] for c in inspector.get_check_constraints(table.name)}
        assert reflected == declared, table.name


def test_database_is_at_head(engine: Engine) -> None:
    """After `groupbot db upgrade` the database reports the newest revision the code ships."""
    head = migrate.head_revision()
    assert head is not None
    assert migrate.current_revision(engine) == head
    assert migrate.is_up_to_date(engine) is True


def test_check_constraints_refuse_bad_rows(engine: Engine) -> None:
    """The database itself refuses an unknown status or negative attempts, whoever writes the row."""
    for bad in ({"status": "lost"}, {"attempts": -1}, {"target_kind": "nobody"}):
        with Session(engine) as session:
            session.add(outbox_row(**bad))
            with pytest.raises(IntegrityError):
                session.commit()
    assert count_rows(engine, OutboxMessage) == 0


def test_is_up_to_date_false_before_upgrade_true_after(fresh_sqlite: Engine) -> None:
    """A fresh SQLite file is reported unmigrated until upgrade, then up to date; upgrading again is harmless."""
    assert migrate.current_revision(fresh_sqlite) is None
    assert migrate.is_up_to_date(fresh_sqlite) is False
    migrate.upgrade(fresh_sqlite)
    assert migrate.is_up_to_date(fresh_sqlite) is True
    assert migrate.current_revision(fresh_sqlite) == migrate.head_revision()
    migrate.upgrade(fresh_sqlite)
    assert migrate.current_revision(fresh_sqlite) == migrate.head_revision()
    assert {"outbox", "processed_events"} <= set(inspect(fresh_sqlite).get_table_names())


def test_utc_datetime_round_trips_aware_values(engine: Engine) -> None:
    """A Shanghai time is stored as the same instant and comes back aware, in UTC."""
    at = datetime(2026, 11, 22, 10, 0, 30, tzinfo=SHANGHAI)
    with Session(engine) as session:
        row = outbox_row(next_attempt_at=at, created_at=at)
        session.add(row)
        session.commit()
        row_id = row.id
    with Session(engine) as session:
        loaded = session.get_one(OutboxMessage, row_id)
        assert loaded.created_at == at
        assert loaded.created_at.utcoffset() == timedelta(0)
        assert loaded.created_at == datetime(2026, 11, 22, 2, 0, 30, tzinfo=UTC)
        assert loaded.sent_at is None
        # Comparisons in SQL use the same instant: the row is due at 02:00:30 UTC, not at 10:00:30 UTC.
        due = select(OutboxMessage.id).where(OutboxMessage.next_attempt_at <= datetime(2026, 11, 22, 2, 1, tzinfo=UTC))
        assert list(session.scalars(due)) == [row_id]


def test_utc_datetime_refuses_naive_values(engine: Engine) -> None:
    """A naive datetime (local time of unknown zone) is refused, and nothing is stored."""
    with Session(engine) as session:
        session.add(outbox_row(created_at=datetime(2026, 11, 22, 10, 0)))
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()
    assert count_rows(engine, OutboxMessage) == 0
