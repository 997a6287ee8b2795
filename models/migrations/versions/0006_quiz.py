"""Quiz games: quizzes (one open per chat) and each member's first answer in acceptance order.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quizzes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("open_chat", sa.String(length=128), nullable=True),
        sa.Column("question_id", sa.String(length=32), nullable=False),
        sa.Column("question", sa.JSON(), nullable=False),
        sa.Column("points_by_rank", sa.JSON(), nullable=False),
        sa.Column("participation_points", sa.Integer(), nullable=False),
        sa.Column("started_by", sa.String(length=128), nullable=False),
        sa.Column("started_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("deadline_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("closed_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
        sa.Column("answer_count", sa.Integer(), nullable=False),
        sa.Column("correct_count", sa.Integer(), nullable=False),
        sa.CheckConstraint("(open_chat IS NULL) = (closed_at IS NOT NULL)", name=op.f("ck_quizzes_open_until_closed")),
        sa.CheckConstraint("correct_count >= 0 AND correct_count <= answer_count", name=op.f("ck_quizzes_counts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quizzes")),
        sa.UniqueConstraint("open_chat", name=op.f("uq_quizzes_open_chat")),
    )
    op.create_index("ix_quizzes_chat_day", "quizzes", ["chat_id", "day"], unique=False)
    op.create_index(op.f("ix_quizzes_deadline_at"), "quizzes", ["deadline_at"], unique=False)
    op.create_table(
        "quiz_answers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("quiz_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("answered_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("won", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "(rank IS NULL) OR (correct AND rank >= 1)", name=op.f("ck_quiz_answers_rank_only_if_correct")
        ),
        sa.CheckConstraint("points >= 0", name=op.f("ck_quiz_answers_points")),
        sa.ForeignKeyConstraint(["quiz_id"], ["quizzes.id"], name=op.f("fk_quiz_answers_quiz_id_quizzes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_answers")),
        sa.UniqueConstraint("quiz_id", "user_id", name="uq_quiz_answers_quiz_user"),
        sa.UniqueConstraint("quiz_id", "rank", name="uq_quiz_answers_quiz_rank"),
    )


def downgrade() -> None:
    op.drop_table("quiz_answers")
    op.drop_index(op.f("ix_quizzes_deadline_at"), table_name="quizzes")
    op.drop_index("ix_quizzes_chat_day", table_name="quizzes")
    op.drop_table("quizzes")
