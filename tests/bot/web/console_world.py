"""Seeded data for the console's tests: two guides' customer groups with members, points, a deal, a quiz, nudges.

Every number a console test asserts is stated here once, next to the rows that make it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from models import checkin, groupbuy, ledger, membership, nudge, quiz, rate_limit, scheduler_lease
from models import outbox as outbox_rows
from models.activity import mark_active
from models.processed_event import claim_event
from tests.bot.web.conftest import OTHER, SHOP, Web

NAMES = {
    "zhangsan": "张三",
    "lisi": "李四",
    "qianqi": "钱七",
    "zhaoliu": "赵六",
    "guide01": "王导购",
    "guide02": "赵导购",
}
# 福利群 (SHOP, guide01): 张三, 李四, 钱七 present; wangwu (never named) joined and left.
SHOP_MEMBERS = 3
SHOP_ACTIVE = 2  # 张三 (spoke yesterday), 李四 (joined 3 days ago)
SHOP_DORMANT = 1  # 钱七 (silent 25 days)
# days ago -> (joins, leaves) in SHOP
SHOP_CHANGES = {25: (1, 0), 20: (1, 0), 10: (1, 0), 3: (1, 0), 2: (0, 1)}
BOARD = [("张三", 30), ("李四", 5)]
INBOUND_TODAY = {"自建应用": 3}
INBOUND_WEEK = {"自建应用": 3, "智能机器人": 2}
CAP_USED = 2
LEADER = "host-a:4242:abcd1234"
FAILED_ERROR = "WeCom errcode 40008 (invalid message type)"
LIFT = (50.0, 0.0)  # 4 nudged spells, 2 came back; 2 held out, none came back


def seed(web: Web) -> dict[str, int]:
    """Fill the database; return the ids tests need (deal ids, failed outbox rows)."""
    now = web.clock.now()
    day = now.date()
    ids: dict[str, int] = {}
    with web.services.session_factory.begin() as db:
        for user, name in NAMES.items():
            membership.set_display_name(db, user, name, now - timedelta(days=30))
        _join(db, SHOP, "qianqi", now - timedelta(days=25), "guide01")
        _join(db, SHOP, "wangwu", now - timedelta(days=20), "guide01")
        _join(db, SHOP, "zhangsan", now - timedelta(days=10), "guide01")
        _join(db, SHOP, "lisi", now - timedelta(days=3), "guide01")
        membership.leave(db, chat_id=SHOP, user_id="wangwu", at=now - timedelta(days=2))
        _join(db, OTHER, "zhaoliu", now - timedelta(days=5), "guide02")
        mark_active(db, chat_id=SHOP, user_id="zhangsan", at=now - timedelta(days=1))

        for user, delta, reason, key in (
            ("zhangsan", 10, "checkin", "c1"),
            ("zhangsan", 20, "quiz", "q1"),
            ("lisi", 5, "checkin", "c2"),
        ):
            ledger.post(
                db, user_id=user, delta=delta, reason=reason, key=key, actor="bot", at=now, day=day, chat_id=SHOP
            )
        checkin.check_in(db, user_id="zhangsan", day=day, chat_id=SHOP, at=now, points_for=lambda streak: 10)

        grapes = groupbuy.open_deal(
            db,
            code_style="short",
            code_prefix="",
            title="阳光玫瑰葡萄",
            price_cents=3990,
            places=50,
            min_members=2,
            per_member_limit=5,
            deadline_at=now + timedelta(hours=8),
            opened_by="guide01",
            chat_id=SHOP,
            at=now - timedelta(hours=1),
        )
        groupbuy.sign_up(db, grapes.id, user_id="zhangsan", chat_id=SHOP, quantity=2, guide="guide01", at=now)
        groupbuy.sign_up(db, grapes.id, user_id="lisi", chat_id=SHOP, quantity=1, guide="guide01", at=now)
        oranges = groupbuy.open_deal(
            db,
            code_style="short",
            code_prefix="",
            title="赣南脐橙",
            price_cents=5900,
            places=20,
            min_members=1,
            per_member_limit=3,
            deadline_at=now + timedelta(hours=8),
            opened_by="guide02",
            chat_id=OTHER,
            at=now - timedelta(hours=2),
        )
        groupbuy.sign_up(db, oranges.id, user_id="zhaoliu", chat_id=OTHER, quantity=3, guide="guide02", at=now)
        ids["grapes"], ids["oranges"] = grapes.id, oranges.id

        game = quiz.open_quiz(
            db,
            chat_id=SHOP,
            question={"id": "q1", "question": "葡萄的产地是哪里？", "answers": ["云南"]},
            points_by_rank=[20],
            participation_points=0,
            started_by="guide01",
            now=now - timedelta(minutes=30),
            day=day,
            deadline=now - timedelta(minutes=20),
        )
        assert game is not None
        quiz.record_answer(
            db, quiz_id=game.id, user_id="zhangsan", answer="云南", correct=True, now=now - timedelta(minutes=29)
        )
        quiz.record_answer(
            db, quiz_id=game.id, user_id="lisi", answer="新疆", correct=False, now=now - timedelta(minutes=28)
        )
        quiz.close(db, game.id, now=now - timedelta(minutes=20), by="deadline")
        for answer in quiz.answers_of(db, game.id):
            if answer.user_id == "zhangsan":
                quiz.set_award(db, answer, points=20, won=True)

        for index in range(6):
            user = f"sleeper{index}"
            member = nudge.Dormant(SHOP, user, now - timedelta(days=20), "guide01")
            held = index >= 4
            nudge.record(
                db,
                member,
                step=1,
                action="group_mention",
                outcome="holdout" if held else "sent",
                holdout=held,
                at=now - timedelta(days=10),
            )
            if index < 2:
                nudge.note_comeback(db, chat_id=SHOP, user_id=user, at=now - timedelta(days=8))

        for n in range(3):
            claim_event(
                db,
                dedup_key=f"app-{n}",
                source="app",
                kind="text",
                chat_id=None,
                user_id="zhangsan",
                received_at=now - timedelta(minutes=n),
            )
        for n in range(2):
            claim_event(
                db,
                dedup_key=f"aibot-{n}",
                source="aibot",
                kind="text",
                chat_id=None,
                user_id="lisi",
                received_at=now - timedelta(days=3),
            )

        sent = outbox_rows.add_message(
            db,
            channel="group",
            target_kind="chat",
            target=SHOP,
            payload={"msgtype": "text", "content": "今日上新：阳光玫瑰葡萄", "purpose": "push"},
            now=now,
            origin="calendar:daily",
        )
        assert outbox_rows.claim_for_guide(db, sent.id, SHOP, "guide01", now)
        assert outbox_rows.delivered_by_guide(db, sent.id, "guide01", now)
        for target, key in ((SHOP, "failed_shop"), (OTHER, "failed_other")):
            row = outbox_rows.add_message(
                db,
                channel="group",
                target_kind="chat",
                target=target,
                payload={"msgtype": "text", "content": "周末团购预告", "purpose": "push"},
                now=now,
                origin="calendar:x",
            )
            row.status, row.last_error = "failed", FAILED_ERROR
            ids[key] = row.id
        month = datetime(2026, 11, 1, tzinfo=web.services.config().zone)
        for _ in range(CAP_USED):
            rate_limit.spend(db, f"customer_task:{SHOP}/month", month, month + timedelta(days=30), 30)
        scheduler_lease.acquire(db, "scheduler", LEADER, now, timedelta(minutes=5))
    return ids


def _join(db: Session, chat: str, user: str, at: datetime, guide: str) -> None:
    membership.join(db, chat_id=chat, user_id=user, at=at, guide=guide)
