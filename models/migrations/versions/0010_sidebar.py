"""Guide sidebar: outbox rows wait for the guide (status waiting), record who sent them; one-time web logins.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD_STATUS = "status IN ('pending', 'sending', 'sent', 'failed')"
NEW_STATUS = "status IN ('pending', 'waiting', 'sending', 'sent', 'failed')"


def upgrade() -> None:
    # SQLite cannot alter a CHECK constraint in place: batch mode rebuilds the table there.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("waiting_since", models.base.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("delivered_by", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("delivered_at", models.base.UTCDateTime(), nullable=True))
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.create_check_constraint("status", NEW_STATUS)
    op.create_table(
        "web_login_links",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("used_at", models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_web_login_links")),
    )


def downgrade() -> None:
    op.drop_table("web_login_links")
    op.execute("UPDATE outbox SET status = 'pending' WHERE status = 'waiting'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.create_check_constraint("status", OLD_STATUS)
        batch.drop_column("delivered_at")
        batch.drop_column("delivered_by")
        batch.drop_column("waiting_since")
