"""Quizzes and their answers: one open quiz per chat, each member's first answer, ranks in acceptance order."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    case,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, insert_if_absent, rowcount


class Quiz(Base):
    __tablename__ = "quizzes"
    __table_args__ = (
        # Open exactly while open_chat is set; closing clears it, which frees the chat for the next quiz.
        CheckConstraint("(open_chat IS NULL) = (closed_at IS NOT NULL)", name="open_until_closed"),
        CheckConstraint("correct_count >= 0 AND correct_count <= answer_count", name="counts"),
        Index("ix_quizzes_chat_day", "chat_id", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    # The chat while the quiz is open, NULL once closed: UNIQUE makes "one open quiz per chat" the database's rule.
    open_chat: Mapped[str | None] = mapped_column(String(128), unique=True)
    question_id: Mapped[str] = mapped_column(String(32))
    # The question as it was asked: a config edit while the quiz runs changes neither judging nor the result.
    question: Mapped[dict[str, Any]] = mapped_column(JSON)
    points_by_rank: Mapped[list[int]] = mapped_column(JSON)
    participation_points: Mapped[int] = mapped_column(Integer)
    started_by: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The business day the quiz ran on, for this week's 竞猜 排行.
    day: Mapped[date] = mapped_column(Date)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(128))
    # Tallies written when the quiz closes.
    answer_count: Mapped[int] = mapped_column(Integer, default=0)
    correct_count: Mapped[int] = mapped_column(Integer, default=0)


class QuizAnswer(Base):
    __tablename__ = "quiz_answers"
    __table_args__ = (
        # Only a member's first answer counts, whatever retries or parallel requests try.
        UniqueConstraint("quiz_id", "user_id", name="uq_quiz_answers_quiz_user"),
        UniqueConstraint("quiz_id", "rank", name="uq_quiz_answers_quiz_rank"),
        CheckConstraint("(rank IS NULL) OR (correct AND rank >= 1)", name="rank_only_if_correct"),
        CheckConstraint("points >= 0", name="points"),
    )

    # Drawn from the database's sequence as the row is inserted: the order the database accepted answers.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id"))
    user_id: Mapped[str] = mapped_column(String(128))
    answer: Mapped[str] = mapped_column(Text)
    correct: Mapped[bool] = mapped_column(Boolean)
    # Set at the close for correct answers: 1, 2, 3 … in acceptance order; ranks up to the number of prizes win.
    rank: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when the quiz closes: the points really credited, and whether the answer won a prize.
    points: Mapped[int] = mapped_column(Integer, default=0)
    won: Mapped[bool] = mapped_column(Boolean, default=False)


def open_quiz(
    session: Session,
    *,
    chat_id: str,
    question: dict[str, Any],
    points_by_rank: list[int],
    participation_points: int,
    started_by: str,
    now: datetime,
    day: date,
    deadline: datetime,
) -> Quiz | None:
    """Open a quiz in `chat_id`; None when the chat already has an open one (the UNIQUE open_chat says so)."""
    values = {
        "chat_id": chat_id,
        "open_chat": chat_id,
        "question_id": question["id"],
        "question": question,
        "points_by_rank": list(points_by_rank),
        "participation_points": participation_points,
        "started_by": started_by,
        "started_at": now,
        "day": day,
        "deadline_at": deadline,
        "answer_count": 0,
        "correct_count": 0,
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(Quiz).values(**values).on_conflict_do_nothing().returning(Quiz.id)
    quiz_id = session.execute(stmt).scalar()
    return session.get(Quiz, quiz_id) if quiz_id is not None else None


def open_in(session: Session, chat_id: str) -> Quiz | None:
    """Return the open quiz of `chat_id`, or None."""
    return session.scalars(select(Quiz).where(Quiz.open_chat == chat_id)).first()


def open_quizzes(session: Session, chat_ids: list[str] | None) -> list[Quiz]:
    """Return the open quizzes of `chat_ids` (of every chat if None), oldest first."""
    stmt = select(Quiz).where(Quiz.open_chat.is_not(None))
    if chat_ids is not None:
        stmt = stmt.where(Quiz.open_chat.in_(chat_ids))
    return list(session.scalars(stmt.order_by(Quiz.id)))


def due(session: Session, now: datetime) -> list[int]:
    """Return the ids of open quizzes whose deadline has passed at `now`, oldest deadline first."""
    stmt = select(Quiz.id).where(Quiz.closed_at.is_(None), Quiz.deadline_at <= now).order_by(Quiz.deadline_at)
    return list(session.scalars(stmt))


AnswerStatus = Literal["recorded", "duplicate", "closed"]


def record_answer(
    session: Session, *, quiz_id: int, user_id: str, answer: str, correct: bool, now: datetime
) -> AnswerStatus:
    """Record `user_id`'s answer unless they answered before or the quiz is closed.

    The quiz row is share-locked (PostgreSQL FOR SHARE): answers do not wait for each other, but
    a close (an UPDATE of that row) waits for the answers in flight, and an answer arriving while
    or after it closes finds the quiz closed. Only the first answer per member is stored (UNIQUE, ON CONFLICT DO
    NOTHING), so a retry or a parallel second message changes nothing.
    """
    # SKIP LOCKED: a quiz row held exclusively is being closed right now; the answer is too late
    # and says so at once instead of waiting seconds for the close to credit everyone.
    still_open = session.scalar(
        select(Quiz.id).where(Quiz.id == quiz_id, Quiz.closed_at.is_(None)).with_for_update(read=True, skip_locked=True)
    )
    if still_open is None:
        return "closed"
    inserted = insert_if_absent(
        session,
        QuizAnswer,
        {
            "quiz_id": quiz_id,
            "user_id": user_id,
            "answer": answer[:500],
            "correct": correct,
            "answered_at": now,
            "points": 0,
            "won": False,
        },
    )
    return "recorded" if inserted else "duplicate"


def close(session: Session, quiz_id: int, *, now: datetime, by: str) -> Quiz | None:
    """Close the quiz if still open and return it; None when someone else closed it first.

    One conditional UPDATE: of two closers (guide and deadline, or two schedulers) exactly one wins.
    """
    closed = session.execute(
        update(Quiz)
        .where(Quiz.id == quiz_id, Quiz.closed_at.is_(None))
        .values(closed_at=now, closed_by=by, open_chat=None)
        .returning(Quiz.id)
        .execution_options(synchronize_session=False)
    ).first()
    if closed is None:
        return None
    # The row lock taken above waited for every answer in flight; no answer can join after it.
    answers = answers_of(session, quiz_id)
    correct = [answer for answer in answers if answer.correct]
    for rank, answer in enumerate(correct, start=1):
        answer.rank = rank
    session.execute(
        update(Quiz)
        .where(Quiz.id == quiz_id)
        .values(answer_count=len(answers), correct_count=len(correct))
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return session.scalars(select(Quiz).where(Quiz.id == quiz_id).execution_options(populate_existing=True)).one()


def answers_of(session: Session, quiz_id: int) -> list[QuizAnswer]:
    """Return the quiz's answers in the order the database accepted them."""
    return list(session.scalars(select(QuizAnswer).where(QuizAnswer.quiz_id == quiz_id).order_by(QuizAnswer.id)))


def set_award(session: Session, answer: QuizAnswer, *, points: int, won: bool) -> None:
    """Remember what an answer earned when its quiz closed."""
    answer.points = points
    answer.won = won
    session.flush()


def set_awards(session: Session, awards: list[tuple[QuizAnswer, int, bool]]) -> None:
    """Remember what each answer earned (answer, points, won) when its quiz closed, in one flush."""
    for answer, points, won in awards:
        answer.points = points
        answer.won = won
    session.flush()


def standings(session: Session, *, chat_id: str | None, since: date | None, limit: int) -> list[tuple[str, int, int]]:
    """Return (user_id, prizes won, quiz points) in `chat_id` (everywhere if None) from `since` on, best first."""
    wins = func.sum(case((QuizAnswer.won.is_(True), 1), else_=0)).label("wins")
    points = func.sum(QuizAnswer.points).label("points")
    stmt = (
        select(QuizAnswer.user_id, wins, points)
        .join(Quiz, Quiz.id == QuizAnswer.quiz_id)
        .where(Quiz.closed_at.is_not(None), QuizAnswer.correct.is_(True))
        .group_by(QuizAnswer.user_id)
        .order_by(wins.desc(), points.desc(), QuizAnswer.user_id)
        .limit(limit)
    )
    if chat_id is not None:
        stmt = stmt.where(Quiz.chat_id == chat_id)
    if since is not None:
        stmt = stmt.where(Quiz.day >= since)
    return [(user, int(w or 0), int(p or 0)) for user, w, p in session.execute(stmt)]


def restart_clock(session: Session, quiz_id: int, started_at: datetime, deadline: datetime) -> bool:
    """Start an open quiz's clock anew (its question has just reached the group); False once it is closed."""
    result = session.execute(
        update(Quiz)
        .where(Quiz.id == quiz_id, Quiz.closed_at.is_(None))
        .values(started_at=started_at, deadline_at=deadline)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1
