"""A harness for quiz games: a configured bot, a frozen clock, encrypted aibot callbacks, and what the group sees."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from bot.app import create_app
from bot.clock import FrozenClock
from bot.services import Services
from handlers.quiz.commands import close_due_quizzes
from models import OutboxMessage
from models import quiz as quizzes
from tests import factories
from tests.conftest import base_config, write_yaml
from tests.factories import ChatBot

GROUP = "wrgroup0001"
OTHER_GROUP = "wrgroup0002"
CUSTOMER_GROUP = "wrcustomer01"
CUSTOMER_GROUP_2 = "wrcustomer02"
START = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Sunday

QUIZ: dict[str, Any] = {
    "default_seconds": 60,
    "min_seconds": 10,
    "max_seconds": 600,
    "points_by_rank": [10, 5, 3],
    "participation_points": 1,
    "questions": [
        {
            "id": "q001",
            "question": "几点前下单可以当日达？",
            "options": {"A": "上午 10 点", "B": "中午 12 点", "C": "下午 3 点", "D": "晚上 8 点"},
            "answers": ["B"],
            "explain": "中午 12 点前下单，当天傍晚送到。",
            "tags": ["配送"],
        },
        {
            "id": "q002",
            "question": "本周主打水果是什么？",
            "answers": ["阳光玫瑰", "阳光玫瑰葡萄"],
            "explain": "阳光玫瑰葡萄，周五开团。",
            "points": [20, 10],
            "tags": ["水果"],
        },
    ],
}


def quiz_config(database_url: str = "sqlite:///unused.db", **quiz: Any) -> dict[str, Any]:
    """The test config with QUIZ (updated with `quiz`), two internal groups and two customer groups."""
    return {
        **base_config(database_url),
        "quiz": {**QUIZ, **quiz},
        "groups": [
            {"chat_id": GROUP, "name": "一号群", "guide": "guide01", "push": "webhook", "webhook_key": "k1"},
            {"chat_id": OTHER_GROUP, "name": "二号群", "guide": "guide01"},
            {
                "chat_id": CUSTOMER_GROUP,
                "name": "福利群",
                "kind": "customer",
                "guide": "guide01",
                "push": "customer_task",
                "delivery": "task",
            },
            {"chat_id": CUSTOMER_GROUP_2, "name": "福利二群", "kind": "customer", "guide": "guide01"},
        ],
    }


@dataclass
class QuizBot(ChatBot):
    """The shared ChatBot, speaking through the encrypted aibot callback as members do in internal groups."""

    sender: factories.WecomSender = field(default_factory=factories.aibot_sender)
    _client: FlaskClient | None = None

    @property
    def client(self) -> FlaskClient:
        if self._client is None:
            self._client = create_app(self.services).test_client()
        return self._client

    def post(self, payload: dict[str, Any], client: FlaskClient | None = None) -> str:
        """Post one encrypted aibot callback and return the stream reply's text, opened as WeCom opens it."""
        signed = self.sender.json_post(payload)
        resp = (client or self.client).post(
            f"/wecom/aibot?{signed.query_string}", data=signed.body, content_type="application/json"
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)
        if not resp.data:
            return ""
        return str(self.sender.open_reply(resp.get_json())["stream"]["content"])

    def say(
        self,
        text: str,
        *,
        user: str = "lisi",
        chat: str | None = GROUP,
        msgid: str | None = None,
        client: FlaskClient | None = None,
    ) -> str:
        """@ the bot in `chat` (1:1 when None) through the encrypted callback; return what the member sees."""
        return self.post(factories.aibot_text(text, user=user, chat=chat, msgid=msgid or uuid.uuid4().hex), client)

    def close_due(self) -> int:
        return close_due_quizzes(self.services.session_factory, self.services.config(), self.clock.now())

    def pushed(self, chat: str = GROUP) -> list[OutboxMessage]:
        """The quiz messages (questions, results) queued for the group, oldest first; welcomes are left out."""
        with self.services.session_factory() as session:
            stmt = select(OutboxMessage).where(OutboxMessage.target == chat, OutboxMessage.channel == "group")
            rows = session.scalars(stmt.order_by(OutboxMessage.id))
            return [row for row in rows if str(row.payload["content"]).startswith(("【有奖竞猜】", "【竞猜结果】"))]

    def balance(self, user: str) -> int:  # type: ignore[override]
        return super().balance(user)[0]

    def answers(self) -> list[quizzes.QuizAnswer]:
        with self.services.session_factory() as session:
            return list(session.scalars(select(quizzes.QuizAnswer).order_by(quizzes.QuizAnswer.id)))

    def quizzes(self) -> list[quizzes.Quiz]:
        with self.services.session_factory() as session:
            return list(session.scalars(select(quizzes.Quiz).order_by(quizzes.Quiz.id)))


def make_quiz_bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock, **quiz: Any) -> QuizBot:
    path = write_yaml(tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml", quiz_config(**quiz))
    return QuizBot(make_services(path), clock)
