"""The burst: 500 members answer one quiz within seconds through the encrypted HTTP callback, on PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.services import build_services
from models import ledger
from tests import factories
from tests.conftest import write_yaml
from tests.factories import load_handlers
from tests.handlers.quiz.chat import QuizBot, quiz_config
from tests.parallel import run_together

MEMBERS = 500
WORKERS = 25  # parallel connections: the test server is shared, its max_connections is 100


def burst(bot: QuizBot, *, retries: bool) -> list[str]:
    """Every member answers once (every third wrongly); with `retries` each callback is also delivered twice."""
    msgids = [uuid.uuid4().hex for _ in range(MEMBERS)]
    deliveries = [(member, msgids[member]) for member in range(MEMBERS)]
    if retries:
        # WeCom's retry of the same message, arriving while the first delivery may still be in flight.
        deliveries += [(member, msgids[member]) for member in reversed(range(MEMBERS))]
    app = bot.client.application

    def work(worker: int) -> list[str]:
        client = app.test_client()
        replies = []
        for member, msgid in deliveries[worker::WORKERS]:
            text = "A" if member % 3 == 0 else "答 B"
            payload = factories.aibot_text(text, user=f"member{member:03d}", msgid=msgid)
            replies.append(bot.post(payload, client))
        return replies

    return [reply for replies in run_together(WORKERS, work, timeout=600) for reply in replies]


def run_burst(engine: Engine, tmp_path: Path, clock: FrozenClock, *, retries: bool) -> None:
    path = write_yaml(tmp_path / "config.yaml", quiz_config(max_seconds=600))
    bot = QuizBot(build_services(str(path), registry=load_handlers(), clock=clock, engine=engine), clock)
    assert bot.say("竞猜 开始 q001 300", user="guide01").startswith("【有奖竞猜】")

    replies = burst(bot, retries=retries)
    # A retry gets the first delivery's answer again, never 「已经答过」: each callback is handled once.
    assert set(replies) == {"收到你的答案！10:05:00 截止后公布结果。"}

    answers = bot.answers()
    assert len(answers) == MEMBERS
    assert len({a.user_id for a in answers}) == MEMBERS
    correct_count = MEMBERS - len(range(0, MEMBERS, 3))
    assert sum(a.correct for a in answers) == correct_count

    assert bot.later(300).close_due() == 1
    answers = bot.answers()
    correct = [a for a in answers if a.correct]  # bot.answers() is in acceptance (id) order
    # Ranks follow the order the database accepted the answers: 1, 2, 3 … with no gap or repeat.
    assert [a.rank for a in correct] == list(range(1, correct_count + 1))
    assert all(a.rank is None for a in answers if not a.correct)
    winners = sorted((a.rank, a.user_id, a.points) for a in answers if a.won)
    assert [(rank, points) for rank, _, points in winners] == [(1, 10), (2, 5), (3, 3)]
    (result,) = bot.pushed()
    assert f"共 {MEMBERS} 人参与，{len(correct)} 人答对。" in result.payload["content"]
    assert result.payload["mentions"] == [user for _, user, _ in winners]
    with bot.services.session_factory() as session:
        assert ledger.audit(session) == []
        assert ledger.entries_count(session) == len(correct)
        for a in answers:
            expected = {1: 10, 2: 5, 3: 3}.get(a.rank or 0, 1 if a.correct else 0)
            assert ledger.account_of(session, a.user_id)[0] == expected, a.user_id


def test_five_hundred_members_answer_at_once_on_postgresql(wide_pg: Engine, tmp_path: Path, clock: FrozenClock) -> None:
    run_burst(wide_pg, tmp_path, clock, retries=False)


def test_burst_with_every_callback_retried_counts_each_once_on_postgresql(
    wide_pg: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    run_burst(wide_pg, tmp_path, clock, retries=True)
