"""Operator polish: fields a deal asks of each signup, the answers, and recorded lottery draws.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("groupbuy_deals") as batch:
        batch.add_column(sa.Column("fields", sa.String(length=128), nullable=True))
    with op.batch_alter_table("groupbuy_signups") as batch:
        batch.add_column(sa.Column("answers", sa.Text(), nullable=True))
    op.create_table(
        "lottery_draws",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("pool_kind", sa.String(length=16), nullable=False),
        sa.Column("pool_top", sa.Integer(), nullable=True),
        sa.Column("winners_count", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(length=128), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("pool", sa.Text(), nullable=False),
        sa.Column("winners", sa.Text(), nullable=False),
        sa.Column("pool_digest", sa.String(length=64), nullable=False),
        sa.Column("prize", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("drawn_by", sa.String(length=128), nullable=False),
        sa.Column("drawn_at", models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("pool_kind IN ('active', 'checkins', 'group')", name=op.f("ck_lottery_draws_pool_kind")),
        sa.CheckConstraint("winners_count >= 1", name=op.f("ck_lottery_draws_winners_positive")),
        sa.CheckConstraint("points >= 0", name=op.f("ck_lottery_draws_points_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_draws")),
    )
    op.create_index("ix_lottery_draws_chat_drawn", "lottery_draws", ["chat_id", "drawn_at"])


def downgrade() -> None:
    op.drop_index("ix_lottery_draws_chat_drawn", table_name="lottery_draws")
    op.drop_table("lottery_draws")
    with op.batch_alter_table("groupbuy_signups") as batch:
        batch.drop_column("answers")
    with op.batch_alter_table("groupbuy_deals") as batch:
        batch.drop_column("fields")
