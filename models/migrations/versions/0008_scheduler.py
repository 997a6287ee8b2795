"""Scheduler: the leader lease, content-calendar deliveries and the calendar cursor.

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_leases")),
    )
    op.create_table(
        "calendar_deliveries",
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("slot_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('queued', 'skipped', 'over_cap')", name=op.f("ck_calendar_deliveries_status")),
        sa.PrimaryKeyConstraint("entry_id", "local_date", "chat_id", name=op.f("pk_calendar_deliveries")),
    )
    op.create_table(
        "calendar_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("checked_until", models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_calendar_cursors")),
    )


def downgrade() -> None:
    op.drop_table("calendar_cursors")
    op.drop_table("calendar_deliveries")
    op.drop_table("scheduler_leases")
