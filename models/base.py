"""Declarative base, the UTC time type and the insert-if-absent helper every aggregate shares."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, MetaData, String, TypeDecorator
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, Dialect, Result
from sqlalchemy.orm import DeclarativeBase, Session

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def one_of(column: str, values: type[StrEnum], *, nullable: bool = False) -> str:
    """The CHECK text allowing `column` only the values of `values` (and NULL with `nullable`).

    Renders exactly what the migrations wrote, e.g. ``status IN ('open', 'closed')``, so building
    the constraint from the enum changes no schema.
    """
    listed = ", ".join(f"'{value.value}'" for value in values)
    allowed = f"{column} IN ({listed})"
    return f"{column} IS NULL OR {allowed}" if nullable else allowed


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC and always hand back aware UTC values.

    SQLite has no time zones, so values are stored naive-in-UTC there; refusing naive input keeps
    local times from sneaking in, the mistake behind double check-ins in other bots.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE run through Session.execute matched.

    Session.execute is typed to return a plain Result; for a DML statement it is a CursorResult,
    which is what carries rowcount.
    """
    if not isinstance(result, CursorResult):  # pragma: no cover - only a SELECT would get here
        raise TypeError(f"rowcount needs the result of an UPDATE or DELETE, not {type(result).__name__}")
    return result.rowcount


def insert_if_absent(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """Insert one row unless its unique key exists; return True when this call inserted it.

    ON CONFLICT DO NOTHING never aborts the surrounding transaction, and on PostgreSQL a second
    writer of the same key waits for the first to commit, so exactly one caller wins.
    """
    stmt = _absent_insert(model, session.get_bind().dialect.name)
    # Core on the session's connection, with bound parameters: the statement is built once and its
    # compiled form cached, not rebuilt (and its cache key regenerated) on every call.
    return core(session).execute(stmt, values).first() is not None


def core(session: Session) -> Connection:
    """The session's connection, for a prebuilt Core statement, after the autoflush an ORM statement would do.

    Objects the caller added or changed reach the database first, exactly as before the statement
    went Core; a session with nothing pending pays only a check.
    """
    if session.autoflush:
        session.flush()
    return session.connection()


@functools.cache
def _absent_insert(model: type[Base], dialect: str) -> Any:
    insert: Any
    if dialect == "postgresql":
        insert = postgresql.insert
    elif dialect == "sqlite":
        insert = sqlite.insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    # RETURNING, not rowcount: psycopg 3 reports -1 for ON CONFLICT inserts.
    primary_key = list(model.__table__.primary_key)
    return insert(model.__table__).on_conflict_do_nothing().returning(*primary_key)


def width(column: Any) -> int:
    """The declared width of a String column: checked before the database (PostgreSQL enforces it, SQLite not)."""
    kind = getattr(column, "type", None)
    if not isinstance(kind, String) or kind.length is None:
        raise TypeError(f"{column!r} is no String column with a width")
    return int(kind.length)
