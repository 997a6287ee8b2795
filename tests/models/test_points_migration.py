"""Migration 0003 creates the points tables and its downgrade removes exactly them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect

from models import migrate
from models.db import make_engine

POINTS_TABLES = {"points_accounts", "points_ledger", "checkins", "reward_stock", "redemptions"}


def test_upgrade_to_0003_and_back_to_0002(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'points.db'}")
    try:
        migrate.upgrade(engine, "0002")
        before = set(inspect(engine).get_table_names())
        migrate.upgrade(engine, "0003")
        assert set(inspect(engine).get_table_names()) - before == POINTS_TABLES
        cfg = migrate.alembic_config(engine)
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0002")
        assert set(inspect(engine).get_table_names()) == before
        assert migrate.current_revision(engine) == "0002"
    finally:
        engine.dispose()
