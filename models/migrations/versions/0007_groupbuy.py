"""Group-buys: deals with capped places and a short 团号, signups with a stable 跟团号 and a waitlist.

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "groupbuy_deals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("places", sa.Integer(), nullable=False),
        sa.Column("min_members", sa.Integer(), nullable=False),
        sa.Column("per_member_limit", sa.Integer(), nullable=False),
        sa.Column("deadline_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.Column("last_queue", sa.Integer(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('formed', 'not_formed')", name=op.f("ck_groupbuy_deals_outcome")
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_groupbuy_deals_status")),
        sa.CheckConstraint("min_members >= 1", name=op.f("ck_groupbuy_deals_min_members_positive")),
        sa.CheckConstraint("per_member_limit >= 1", name=op.f("ck_groupbuy_deals_limit_positive")),
        sa.CheckConstraint("places > 0", name=op.f("ck_groupbuy_deals_places_positive")),
        sa.CheckConstraint("price_cents > 0", name=op.f("ck_groupbuy_deals_price_positive")),
        sa.CheckConstraint("taken >= 0 AND taken <= places", name=op.f("ck_groupbuy_deals_taken_within_places")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groupbuy_deals")),
        sa.UniqueConstraint("code", name=op.f("uq_groupbuy_deals_code")),
    )
    with op.batch_alter_table("groupbuy_deals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_groupbuy_deals_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_groupbuy_deals_opened_by"), ["opened_by"], unique=False)
        batch_op.create_index("ix_groupbuy_deals_status_deadline", ["status", "deadline_at"], unique=False)

    op.create_table(
        "groupbuy_signups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("queue", sa.Integer(), nullable=False),
        sa.Column("guide", sa.String(length=128), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('confirmed', 'waitlisted', 'cancelled')", name=op.f("ck_groupbuy_signups_status")
        ),
        sa.CheckConstraint("number > 0", name=op.f("ck_groupbuy_signups_number_positive")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_groupbuy_signups_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["groupbuy_deals.id"],
            name=op.f("fk_groupbuy_signups_deal_id_groupbuy_deals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groupbuy_signups")),
        sa.UniqueConstraint("deal_id", "number", name="uq_groupbuy_signups_deal_number"),
        sa.UniqueConstraint("deal_id", "user_id", name=op.f("uq_groupbuy_signups_deal_id")),
    )
    with op.batch_alter_table("groupbuy_signups", schema=None) as batch_op:
        batch_op.create_index("ix_groupbuy_signups_guide_created", ["guide", "created_at"], unique=False)
        batch_op.create_index("ix_groupbuy_signups_user", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("groupbuy_signups", schema=None) as batch_op:
        batch_op.drop_index("ix_groupbuy_signups_user")
        batch_op.drop_index("ix_groupbuy_signups_guide_created")

    op.drop_table("groupbuy_signups")
    with op.batch_alter_table("groupbuy_deals", schema=None) as batch_op:
        batch_op.drop_index("ix_groupbuy_deals_status_deadline")
        batch_op.drop_index(batch_op.f("ix_groupbuy_deals_opened_by"))
        batch_op.drop_index(batch_op.f("ix_groupbuy_deals_created_at"))

    op.drop_table("groupbuy_deals")
