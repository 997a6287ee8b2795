"""Customer-group sync: when each group last changed and was last read back from WeCom.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_syncs",
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("changed_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("synced_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("next_try_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_chat_syncs_attempts")),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_chat_syncs")),
    )


def downgrade() -> None:
    op.drop_table("chat_syncs")
