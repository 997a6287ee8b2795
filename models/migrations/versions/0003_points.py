"""Points economy: ledger, balances, check-ins, redemptions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "points_accounts",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("earned", sa.Integer(), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_points_accounts_balance_not_negative")),
        sa.CheckConstraint("earned >= 0", name=op.f("ck_points_accounts_earned_not_negative")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_points_accounts")),
    )
    op.create_table(
        "points_ledger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=True),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("delta <> 0", name=op.f("ck_points_ledger_delta_not_zero")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_ledger")),
        sa.UniqueConstraint("key", name=op.f("uq_points_ledger_key")),
    )
    op.create_index("ix_points_ledger_day_user", "points_ledger", ["day", "user_id"], unique=False)
    op.create_index("ix_points_ledger_user_day", "points_ledger", ["user_id", "day"], unique=False)
    op.create_table(
        "checkins",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=True),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("points >= 0", name=op.f("ck_checkins_points_not_negative")),
        sa.CheckConstraint("streak >= 1", name=op.f("ck_checkins_streak_positive")),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_checkins")),
    )
    op.create_table(
        "reward_stock",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("configured", sa.Integer(), nullable=False),
        sa.CheckConstraint("configured >= 0", name=op.f("ck_reward_stock_configured_not_negative")),
        sa.CheckConstraint("remaining >= 0", name=op.f("ck_reward_stock_remaining_not_negative")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_reward_stock")),
    )
    op.create_table(
        "redemptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("cost", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("settled_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("settled_by", sa.String(length=128), nullable=True),
        sa.CheckConstraint("cost > 0", name=op.f("ck_redemptions_cost_positive")),
        sa.CheckConstraint("status IN ('pending', 'fulfilled', 'cancelled')", name=op.f("ck_redemptions_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemptions")),
    )
    op.create_index("ix_redemptions_user_code", "redemptions", ["user_id", "code"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_redemptions_user_code", table_name="redemptions")
    op.drop_table("redemptions")
    op.drop_table("reward_stock")
    op.drop_table("checkins")
    op.drop_index("ix_points_ledger_user_day", table_name="points_ledger")
    op.drop_index("ix_points_ledger_day_user", table_name="points_ledger")
    op.drop_table("points_ledger")
    op.drop_table("points_accounts")
