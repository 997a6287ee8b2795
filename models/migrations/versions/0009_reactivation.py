"""Reactivation: one row per ladder step of each dormant spell, nudged or held out.

Revision ID: 0009
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reactivation_nudges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("spell_start", models.base.UTCDateTime(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("holdout", sa.Boolean(), nullable=False),
        sa.Column("at", models.base.UTCDateTime(), nullable=False),
        sa.Column("reactivated_at", models.base.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('sent', 'holdout', 'unreachable')", name=op.f("ck_reactivation_nudges_outcome")
        ),
        sa.CheckConstraint("step >= 1", name=op.f("ck_reactivation_nudges_step")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reactivation_nudges")),
    )
    op.create_index(
        "uq_reactivation_nudges_spell_step",
        "reactivation_nudges",
        ["chat_id", "user_id", "spell_start", "step"],
        unique=True,
    )
    op.create_index("ix_reactivation_nudges_user_at", "reactivation_nudges", ["user_id", "at"])
    op.create_index("ix_reactivation_nudges_at", "reactivation_nudges", ["at"])
    op.create_index(
        "ix_reactivation_nudges_waiting",
        "reactivation_nudges",
        ["chat_id", "user_id"],
        postgresql_where=sa.text("reactivated_at IS NULL"),
        sqlite_where=sa.text("reactivated_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_reactivation_nudges_waiting", table_name="reactivation_nudges")
    op.drop_index("ix_reactivation_nudges_at", table_name="reactivation_nudges")
    op.drop_index("ix_reactivation_nudges_user_at", table_name="reactivation_nudges")
    op.drop_index("uq_reactivation_nudges_spell_step", table_name="reactivation_nudges")
    op.drop_table("reactivation_nudges")
