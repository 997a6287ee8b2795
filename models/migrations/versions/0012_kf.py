"""微信客服 (kf): pull cursors, pulled messages, customers' reply windows and groups, cached links.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kf_cursors",
        sa.Column("open_kfid", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=160), nullable=True),
        sa.Column("requested_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("pulled_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("served", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("open_kfid", name=op.f("pk_kf_cursors")),
    )
    op.create_table(
        "kf_inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("msgid", sa.String(length=128), nullable=False),
        sa.Column("open_kfid", sa.String(length=64), nullable=False),
        sa.Column("external_userid", sa.String(length=128), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("pulled_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", models.base.UTCDateTime(), nullable=True),
        sa.Column("handled_at", models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kf_inbox")),
        sa.UniqueConstraint("msgid", name=op.f("uq_kf_inbox_msgid")),
    )
    op.create_index("ix_kf_inbox_pending", "kf_inbox", ["handled_at", "id"])
    op.create_table(
        "kf_customers",
        sa.Column("external_userid", sa.String(length=128), nullable=False),
        sa.Column("open_kfid", sa.String(length=64), nullable=False),
        sa.Column("last_customer_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("sent_since", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=True),
        sa.Column("welcome_code", sa.String(length=160), nullable=True),
        sa.Column("welcome_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("service_state", sa.Integer(), nullable=True),
        sa.Column("handoff_to", sa.String(length=128), nullable=True),
        sa.Column("updated_at", models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("sent_since >= 0", name=op.f("ck_kf_customers_sent_since")),
        sa.PrimaryKeyConstraint("external_userid", name=op.f("pk_kf_customers")),
    )
    op.create_table(
        "kf_links",
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("open_kfid", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_kf_links")),
    )


def downgrade() -> None:
    op.drop_table("kf_links")
    op.drop_table("kf_customers")
    op.drop_index("ix_kf_inbox_pending", table_name="kf_inbox")
    op.drop_table("kf_inbox")
    op.drop_table("kf_cursors")
