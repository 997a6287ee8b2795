"""Quiz rules the database holds: one open quiz per chat, one answer per member, acceptance order, one close."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config.core import Config
from handlers.quiz.commands import close_due_quizzes
from handlers.quiz.results import close_quiz
from models import OutboxMessage, ledger
from models import quiz as quizzes
from models.db import make_session_factory
from tests.conftest import count_rows
from tests.factories import config_from
from tests.handlers.quiz.chat import GROUP, QUIZ, quiz_config
from tests.parallel import run_together

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
QUESTION: dict[str, Any] = QUIZ["questions"][0]


def config() -> Config:
    return config_from(quiz_config())


def open_one(session: Session, chat: str = GROUP, seconds: int = 60) -> quizzes.Quiz | None:
    return quizzes.open_quiz(
        session,
        chat_id=chat,
        question=QUESTION,
        points_by_rank=[10, 5, 3],
        participation_points=1,
        started_by="guide01",
        now=NOW,
        day=date(2026, 11, 22),
        deadline=NOW + timedelta(seconds=seconds),
    )


def answer(session: Session, quiz_id: int, user: str, correct: bool = True) -> quizzes.AnswerStatus:
    return quizzes.record_answer(session, quiz_id=quiz_id, user_id=user, answer="B", correct=correct, now=NOW)


def test_one_open_quiz_per_chat(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        first = open_one(session)
        assert first is not None
        assert open_one(session) is None
        assert open_one(session, chat="wrgroup0002") is not None
        assert quizzes.close(session, first.id, now=NOW, by="guide01") is not None
        assert open_one(session) is not None  # closing freed the chat


def test_database_refuses_a_second_answer_row(engine: Engine) -> None:
    """Even code that skips record_answer cannot store two answers of one member."""
    with Session(engine) as session, session.begin():
        quiz = open_one(session)
        assert quiz is not None
        quiz_id = quiz.id
        answer(session, quiz_id, "lisi")
    with Session(engine) as session:
        session.add(
            quizzes.QuizAnswer(
                quiz_id=quiz_id, user_id="lisi", answer="A", correct=False, answered_at=NOW, points=0, won=False
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_correct_answers_ranked_in_acceptance_order_at_the_close(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        quiz = open_one(session)
        assert quiz is not None
        given = (("a", False), ("b", True), ("c", True), ("b", False), ("d", True))
        assert [answer(session, quiz.id, u, c) for u, c in given] == ["recorded"] * 3 + ["duplicate", "recorded"]
        closed = quizzes.close(session, quiz.id, now=NOW, by="deadline")
        assert closed is not None and (closed.answer_count, closed.correct_count) == (4, 3)
        ranks = [(a.user_id, a.rank) for a in quizzes.answers_of(session, quiz.id)]
        assert ranks == [("a", None), ("b", 1), ("c", 2), ("d", 3)]
        assert answer(session, quiz.id, "e") == "closed"


def test_close_twice_closes_once(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with factory.begin() as session:
        quiz = open_one(session)
        assert quiz is not None
        quiz_id = quiz.id
        answer(session, quiz_id, "lisi")
    settings = config()
    with factory.begin() as session:
        assert close_quiz(session, settings, quiz_id, now=NOW, by="guide01") is True
    with factory.begin() as session:
        assert close_quiz(session, settings, quiz_id, now=NOW, by="deadline") is False
    assert count_rows(engine, OutboxMessage) == 1
    with factory() as session:
        assert ledger.account_of(session, "lisi") == (10, 10)


# --- PostgreSQL: real parallel connections ----------------------------------------------------------


def test_two_closers_at_once_announce_each_quiz_once_on_postgresql(wide_pg: Engine) -> None:
    """Ten schedulers call close_due_quizzes at the same moment over five overdue quizzes: five results, five closes."""
    factory = make_session_factory(wide_pg)
    with factory.begin() as session:
        ids = []
        for index in range(5):
            quiz = open_one(session, chat=f"wrchat{index}", seconds=30)
            assert quiz is not None
            ids.append(quiz.id)
            for user in range(4):
                answer(session, quiz.id, f"user{user}")
    settings = config()
    later = NOW + timedelta(seconds=31)
    closed = run_together(10, lambda _: close_due_quizzes(factory, settings, later))
    assert sum(closed) == 5
    assert count_rows(wide_pg, OutboxMessage) == 5
    with factory() as session:
        targets = sorted(session.scalars(select(OutboxMessage.target)))
        assert targets == [f"wrchat{index}" for index in range(5)]
        # Each member won rank by rank in five quizzes: 5 x 10, 5 x 5, 5 x 3, 5 x 1; credited once each.
        assert [ledger.account_of(session, f"user{u}")[0] for u in range(4)] == [50, 25, 15, 5]
        assert ledger.audit(session) == []


def test_guide_and_deadline_race_on_postgresql(wide_pg: Engine) -> None:
    """A guide's 结束 and the minute job hit the same overdue quiz together: one of them closes it."""
    factory = make_session_factory(wide_pg)
    with factory.begin() as session:
        quiz = open_one(session, seconds=10)
        assert quiz is not None
        quiz_id = quiz.id
    settings = config()
    later = NOW + timedelta(seconds=11)

    def work(index: int) -> int:
        if index % 2:
            return close_due_quizzes(factory, settings, later)
        with factory.begin() as session:
            return int(close_quiz(session, settings, quiz_id, now=later, by="guide01"))

    assert sum(run_together(16, work)) == 1
    assert count_rows(wide_pg, OutboxMessage) == 1


def test_parallel_starts_open_one_quiz_on_postgresql(wide_pg: Engine) -> None:
    factory = make_session_factory(wide_pg)

    def work(_: int) -> bool:
        with factory.begin() as session:
            return open_one(session) is not None

    assert sorted(run_together(20, work)) == [False] * 19 + [True]
    assert count_rows(wide_pg, quizzes.Quiz) == 1


def test_parallel_answers_get_distinct_ranks_on_postgresql(wide_pg: Engine) -> None:
    """40 members answer in waves of 20 at once, each also retried: 40 answers, ranks 1..30 for the correct ones."""
    factory = make_session_factory(wide_pg)
    with factory.begin() as session:
        quiz = open_one(session)
        assert quiz is not None
        quiz_id = quiz.id

    def work(index: int) -> str:
        with factory.begin() as session:
            return answer(session, quiz_id, f"m{index % 40}", correct=index % 40 % 4 != 0)

    statuses = (
        run_together(20, work) + run_together(20, lambda i: work(i + 20)) + run_together(20, lambda i: work(i + 40))
    )
    statuses += run_together(20, lambda i: work(i + 60))
    assert statuses.count("recorded") == 40 and statuses.count("duplicate") == 40
    with factory.begin() as session:
        quizzes.close(session, quiz_id, now=NOW, by="deadline")
    with factory() as session:
        rows = quizzes.answers_of(session, quiz_id)
    assert len(rows) == 40
    ranked = [a.rank for a in rows if a.correct]
    assert ranked == list(range(1, 31))  # ranks rise with acceptance order, no gaps, no repeats


def test_close_waits_for_an_answer_in_flight_on_postgresql(pg_engine: Engine) -> None:
    """An answer whose transaction holds the quiz (shared) when the close begins is counted and credited."""
    factory = make_session_factory(pg_engine)
    with factory.begin() as session:
        quiz = open_one(session)
        assert quiz is not None
        quiz_id = quiz.id
    settings = config()
    closed: list[bool] = []

    def close_now() -> None:
        with factory.begin() as session:
            closed.append(close_quiz(session, settings, quiz_id, now=NOW, by="guide01"))

    closer = threading.Thread(target=close_now)
    with factory() as in_flight:
        try:
            with in_flight.begin():
                assert answer(in_flight, quiz_id, "early") == "recorded"
                closer.start()
                closer.join(0.5)
                assert closer.is_alive(), "the close must wait for the answer in flight"
        finally:
            closer.join(10)
    assert closed == [True]
    with factory() as session:
        assert [(a.user_id, a.rank) for a in quizzes.answers_of(session, quiz_id)] == [("early", 1)]
        assert ledger.account_of(session, "early")[0] == 10


def test_answer_during_the_close_is_refused_at_once_on_postgresql(pg_engine: Engine) -> None:
    """While a close holds the quiz (crediting everyone), a new answer is told it is too late instead of waiting."""
    factory = make_session_factory(pg_engine)
    with factory.begin() as session:
        quiz = open_one(session)
        assert quiz is not None
        quiz_id = quiz.id
    with factory() as closing, closing.begin():
        assert quizzes.close(closing, quiz_id, now=NOW, by="guide01") is not None  # holds the row, uncommitted
        with factory() as session, session.begin():
            session.execute(text("SET LOCAL lock_timeout = '2s'"))  # a wait would fail the test, not hang it
            assert answer(session, quiz_id, "during") == "closed"
    assert count_rows(pg_engine, quizzes.QuizAnswer) == 0
