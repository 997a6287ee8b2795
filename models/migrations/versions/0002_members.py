"""Members, groups and activity.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=True),
        sa.Column("first_seen_at", models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_people")),
    )
    op.create_table(
        "chat_groups",
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("first_seen_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("dismissed_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("joins_since_rules", sa.Integer(), nullable=False),
        sa.CheckConstraint("joins_since_rules >= 0", name=op.f("ck_chat_groups_joins_since_rules")),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_chat_groups")),
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("joined_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("left_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("join_scene", sa.Integer(), nullable=True),
        sa.Column("quit_scene", sa.Integer(), nullable=True),
        sa.Column("inviter", sa.String(length=128), nullable=True),
        sa.Column("guide", sa.String(length=128), nullable=True),
        sa.Column("last_active_at", models.base.UTCDateTime(), nullable=True),
        sa.CheckConstraint("joined_at IS NOT NULL OR left_at IS NOT NULL", name=op.f("ck_memberships_seen")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("chat_id", "user_id", name=op.f("uq_memberships_chat_id")),
    )
    op.create_index(op.f("ix_memberships_last_active_at"), "memberships", ["last_active_at"], unique=False)
    op.create_index(op.f("ix_memberships_user_id"), "memberships", ["user_id"], unique=False)
    op.create_table(
        "membership_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("change", sa.String(length=8), nullable=False),
        sa.Column("at", models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("change IN ('join', 'leave')", name=op.f("ck_membership_changes_change")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_changes")),
    )
    op.create_index("ix_membership_changes_chat_at", "membership_changes", ["chat_id", "at"], unique=False)
    op.create_table(
        "activity_hours",
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("hour", models.base.UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('message', 'checkin', 'answer', 'signup')", name=op.f("ck_activity_hours_kind")),
        sa.CheckConstraint("count > 0", name=op.f("ck_activity_hours_count")),
        sa.PrimaryKeyConstraint("chat_id", "user_id", "hour", "kind", name=op.f("pk_activity_hours")),
    )
    op.create_index(op.f("ix_activity_hours_hour"), "activity_hours", ["hour"], unique=False)
    op.create_table(
        "welcome_batches",
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("user_ids", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("due_at", models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_welcome_batches")),
    )


def downgrade() -> None:
    op.drop_table("welcome_batches")
    op.drop_index(op.f("ix_activity_hours_hour"), table_name="activity_hours")
    op.drop_table("activity_hours")
    op.drop_index("ix_membership_changes_chat_at", table_name="membership_changes")
    op.drop_table("membership_changes")
    op.drop_index(op.f("ix_memberships_user_id"), table_name="memberships")
    op.drop_index(op.f("ix_memberships_last_active_at"), table_name="memberships")
    op.drop_table("memberships")
    op.drop_table("chat_groups")
    op.drop_table("people")
