"""WeCom outbound: token cache, rate-limit buckets, customer-task tracking.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wecom_tokens",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=True),
        sa.Column("expires_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("refreshing_until", models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_wecom_tokens")),
    )
    op.create_table(
        "rate_limit_windows",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", models.base.UTCDateTime(), nullable=False),
        sa.Column("window_end", models.base.UTCDateTime(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.CheckConstraint("used >= 0", name=op.f("ck_rate_limit_windows_used")),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_windows")),
    )
    op.create_index(op.f("ix_rate_limit_windows_window_end"), "rate_limit_windows", ["window_end"], unique=False)
    op.create_table(
        "customer_tasks",
        sa.Column("msgid", sa.String(length=128), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("sender", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("next_poll_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("settled_at", models.base.UTCDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('waiting', 'sent', 'expired')", name=op.f("ck_customer_tasks_status")),
        sa.PrimaryKeyConstraint("msgid", name=op.f("pk_customer_tasks")),
    )
    op.create_index("ix_customer_tasks_poll", "customer_tasks", ["status", "next_poll_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_customer_tasks_poll", table_name="customer_tasks")
    op.drop_table("customer_tasks")
    op.drop_index(op.f("ix_rate_limit_windows_window_end"), table_name="rate_limit_windows")
    op.drop_table("rate_limit_windows")
    op.drop_table("wecom_tokens")
