"""WeCom fidelity: tasks that carry several groups (and are reminded, cancelled), aibot streams, welcome templates.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer_tasks") as batch:
        batch.add_column(sa.Column("reminders", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch.add_column(sa.Column("next_remind_at", models.base.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("cancelled_at", models.base.UTCDateTime(), nullable=True))
    op.create_table(
        "customer_task_chats",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("msgid", sa.String(length=128), nullable=True),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("row_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reserved_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("settled_at", models.base.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('reserved', 'waiting', 'sent', 'expired')", name=op.f("ck_customer_task_chats_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_task_chats")),
        sa.UniqueConstraint("outbox_id", name=op.f("uq_customer_task_chats_outbox_id")),
    )
    op.create_index("ix_customer_task_chats_msgid", "customer_task_chats", ["msgid"])
    op.create_index("ix_customer_task_chats_batch", "customer_task_chats", ["batch"])
    # Tasks created before this revision carried one group each.
    op.execute(
        "INSERT INTO customer_task_chats (batch, msgid, chat_id, outbox_id, row_id, status, settled_at) "
        "SELECT substr(msgid, 1, 32), msgid, chat_id, "
        "CASE WHEN status = 'expired' THEN NULL ELSE outbox_id END, outbox_id, status, settled_at "
        "FROM customer_tasks"
    )
    op.create_table(
        "aibot_streams",
        sa.Column("stream_id", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", name=op.f("pk_aibot_streams")),
    )
    op.create_index(op.f("ix_aibot_streams_created_at"), "aibot_streams", ["created_at"])
    op.create_table(
        "welcome_templates",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("template_id", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("synced_at", models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_welcome_templates")),
    )


def downgrade() -> None:
    op.drop_table("welcome_templates")
    op.drop_index(op.f("ix_aibot_streams_created_at"), table_name="aibot_streams")
    op.drop_table("aibot_streams")
    op.drop_index("ix_customer_task_chats_batch", table_name="customer_task_chats")
    op.drop_index("ix_customer_task_chats_msgid", table_name="customer_task_chats")
    op.drop_table("customer_task_chats")
    with op.batch_alter_table("customer_tasks") as batch:
        batch.drop_column("cancelled_at")
        batch.drop_column("next_remind_at")
        batch.drop_column("reminders")
