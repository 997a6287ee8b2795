"""Closing a quiz: credit the winners through the ledger, and queue the result for the group in the same transaction."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.config.core import Config
from bot.outbox import queue_reply
from bot.replies import Reply
from handlers.points.config import POINTS_SECTION
from handlers.quiz.config import QuestionConfig
from models import ledger
from models import quiz as quizzes
from models.membership import display_names

log = logging.getLogger(__name__)
# Who closed a quiz when no guide did.
DEADLINE = "deadline"


def local_time(config: Config, at: datetime) -> str:
    """Show `at` as the group reads it: a wall-clock time in the configured zone."""
    return at.astimezone(config.zone).strftime("%H:%M:%S")


def close_quiz(session: Session, config: Config, quiz_id: int, *, now: datetime, by: str) -> bool:
    """Close quiz `quiz_id` if still open: credit points, queue the result; False when it was already closed.

    Everything happens in the caller's transaction, so the close, the points and the queued result
    commit together or not at all, and a second closer finds nothing to do.
    """
    quiz = quizzes.close(session, quiz_id, now=now, by=by)
    if quiz is None:
        return False
    answers = quizzes.answers_of(session, quiz.id)
    day = POINTS_SECTION.of(config).day(now, config.zone)
    prizes = list(quiz.points_by_rank)
    ranked = [answer for answer in answers if answer.correct and answer.rank is not None]
    due = {}
    for answer in ranked:
        rank = int(answer.rank or 0)
        due[answer.user_id] = prizes[rank - 1] if rank <= len(prizes) else quiz.participation_points
    # Set-based: every winner's points in a few statements, not a ledger post per answer.
    credits = [
        ledger.Credit(user_id=user, delta=points, key=f"quiz:{quiz.id}:{user}")
        for user, points in due.items()
        if points > 0
    ]
    posted = ledger.post_many(
        session,
        credits,
        reason="quiz",
        actor=quiz.started_by,
        at=now,
        day=day,
        chat_id=quiz.chat_id,
        daily_cap=POINTS_SECTION.of(config).cap,
    )
    winners: list[tuple[int, str, int]] = []
    others = 0
    awards = []
    for answer in ranked:
        rank = int(answer.rank or 0)
        won = rank <= len(prizes)
        credited = posted[answer.user_id].applied if answer.user_id in posted else 0
        awards.append((answer, credited, won))
        if won:
            winners.append((rank, answer.user_id, credited))
        else:
            others += 1
    quizzes.set_awards(session, awards)
    text = result_text(session, config, quiz, answers_count=len(answers), winners=winners, others=others)
    mentions = tuple(user for _, user, _ in winners)
    queue_reply(session, Reply(text, to_chat=quiz.chat_id, mentions=mentions), now, origin=f"quiz:{quiz.id}:result")
    log.info(
        "quiz %s in %s closed by %s: %d answers, %d winners", quiz.id, quiz.chat_id, by, len(answers), len(winners)
    )
    return True


def result_text(
    session: Session,
    config: Config,
    quiz: quizzes.Quiz,
    *,
    answers_count: int,
    winners: list[tuple[int, str, int]],
    others: int,
) -> str:
    """The result the group reads: question, right answer, explanation, counts, winners."""
    texts = config.texts
    question = QuestionConfig.model_validate(quiz.question)
    lines = [texts.render("quiz_result_header", question=question.question, answer=question.right_answer)]
    if question.explain:
        lines.append(texts.render("quiz_result_explain", explain=question.explain))
    lines.append(texts.render("quiz_result_counts", participants=answers_count, correct=quiz.correct_count))
    names = display_names(session, [user for _, user, _ in winners], texts.render("stand_in_name"))
    for rank, user, points in winners:
        lines.append(texts.render("quiz_result_winner", rank=rank, name=names[user], points=points))
    if not winners:
        lines.append(texts.render("quiz_result_no_winner"))
    if others and quiz.participation_points:
        lines.append(texts.render("quiz_result_participation", count=others, points=quiz.participation_points))
    return "\n".join(lines)


def close_due_quizzes(session_factory: sessionmaker[Session], config: Config, now: datetime) -> int:
    """Close every quiz whose deadline has passed at `now`; return how many this call closed.

    Each quiz closes in its own transaction, so one bad quiz cannot hold back the others; two
    processes calling this at once close and announce each quiz exactly once (see `quizzes.close`).
    """
    with session_factory() as session:
        due = quizzes.due(session, now)
    closed = 0
    for quiz_id in due:
        with session_factory.begin() as session:
            if close_quiz(session, config, quiz_id, now=now, by=DEADLINE):
                closed += 1
    return closed
