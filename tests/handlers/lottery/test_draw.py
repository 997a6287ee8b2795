"""抽奖 through the real dispatcher: pools, a secure seed, points through the ledger, and `lottery verify`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from bot.cli.main import main
from bot.clock import FrozenClock
from bot.services import Services
from models import lottery
from models.activity import record_activity
from models.checkin import Checkin
from models.lottery import Draw
from models.membership import join, set_display_name
from tests.conftest import base_config, write_yaml
from tests.handlers.points.chat import GROUP, OTHER_GROUP, POINTS, Bot

MEMBERS = [f"m{i:02d}" for i in range(12)]


@pytest.fixture
def config_path(tmp_path: Path, database_url: str) -> Path:
    config = {
        **base_config(database_url),
        "roles": {"admins": ["boss"], "guides": ["guide01", "guide02"]},
        "points": POINTS,
        "groups": [
            {"chat_id": GROUP, "name": "一号群", "guide": "guide01"},
            {"chat_id": OTHER_GROUP, "name": "二号群", "guide": "guide02"},
        ],
    }
    return write_yaml(tmp_path / "config.yaml", config)


@pytest.fixture
def bot(make_services: Callable[..., Services], config_path: Path, clock: FrozenClock) -> Bot:
    bot = Bot(make_services(config_path), clock)
    with bot.services.session_factory.begin() as session:
        for index, user in enumerate([*MEMBERS, "guide01"]):
            join(session, chat_id=GROUP, user_id=user, at=clock.now(), guide="guide01", join_scene=None)
            # m00 is the most active, m11 the least; the guide talks most of all but is staff.
            for _ in range(30 - index if user != "guide01" else 99):
                record_activity(
                    session, chat_id=GROUP, user_id=user, at=clock.now() - timedelta(hours=1), kind="message"
                )
        set_display_name(session, "m00", "阿零", clock.now())
    return bot


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None})


def draws(bot: Bot) -> list[Draw]:
    with bot.services.session_factory() as session:
        return list(session.scalars(select(Draw).order_by(Draw.id)))


def test_a_guide_draws_among_the_weeks_most_active_and_it_verifies(bot: Bot, config_path: Path) -> None:
    answer = bot.say("抽奖 3 活跃前10 奖品=一元购 积分=20", user="guide01")
    assert "【抽奖结果】一元购" in answer and "本周活跃榜前 10 名（10 人）" in answer and "每人获得 20 积分" in answer
    (row,) = draws(bot)
    assert row.pool_ids == sorted(MEMBERS[:10]) and "guide01" not in row.pool_ids
    assert len(row.winner_ids) == 3 and set(row.winner_ids) <= set(MEMBERS[:10])
    assert len(row.seed) == 64 and row.winner_ids == lottery.derive(row.seed, row.pool_ids, 3)
    for user in row.winner_ids:
        assert bot.balance(user)[0] == 20
    # A retried callback (same message id) credits nobody twice.
    assert sum(e.delta for e in bot.entries() if e.reason == "lottery") == 60

    result = run("lottery", "verify", str(row.id), "--config", str(config_path))
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and ", ".join(row.winner_ids) in result.output
    listed = run("lottery", "list", "--config", str(config_path))
    assert f"#{row.id}" in listed.output and "active10" in listed.output


def test_verify_catches_a_tampered_record(bot: Bot, config_path: Path) -> None:
    bot.say("抽奖 2 全群", user="guide01")
    (row,) = draws(bot)
    losers = [user for user in row.pool_ids if user not in row.winner_ids]
    with bot.services.session_factory.begin() as session:
        session.execute(update(Draw).values(winners=json.dumps([losers[0], row.winner_ids[1]])))
    result = run("lottery", "verify", str(row.id), "--config", str(config_path))
    assert result.exit_code == 1 and "MISMATCH: the winners differ" in result.output
    with bot.services.session_factory.begin() as session:
        session.execute(update(Draw).values(winners=row.winners, pool=json.dumps([*row.pool_ids, "smuggled"])))
    result = run("lottery", "verify", str(row.id), "--config", str(config_path))
    assert result.exit_code == 1 and "digest" in result.output
    assert "no draw #2147480000" in run("lottery", "verify", "2147480000", "--config", str(config_path)).output


def test_check_in_pool_and_whole_group_exclude_staff(bot: Bot) -> None:
    with bot.services.session_factory.begin() as session:
        for user in ("m03", "m07", "guide01"):
            session.add(Checkin(user_id=user, day=bot.clock.now().date(), chat_id=GROUP, streak=1, points=10,
                                created_at=bot.clock.now()))  # fmt: skip
    assert "本周签到的成员（2 人）" in bot.say("抽奖 5 签到", user="guide01")
    assert draws(bot)[-1].pool_ids == ["m03", "m07"]
    assert "全群成员（12 人）" in bot.say("抽奖 1 全群", user="boss")


def test_from_one_to_one_the_result_goes_to_the_group(bot: Bot) -> None:
    answer = bot.say("抽奖 1 全群 群=一号群", user="guide01", chat=None)
    assert "已在「一号群」抽出 1 位" in answer
    (row,) = draws(bot)
    pushed = [r for r in bot.outbox() if r.target == GROUP]
    assert len(pushed) == 1 and f"抽奖编号 #{row.id}" in str(pushed[0].payload["content"])
    # Winners with a known name are named; ids never appear in what the group reads.
    assert "guide01" not in str(pushed[0].payload["content"])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("抽奖", "用法"),
        ("抽奖 0 全群", "人数「0」无效"),
        ("抽奖 3 最靓的", "不是抽奖范围"),
        ("抽奖 3 全群 积分=abc", "积分「abc」无效"),
        ("抽奖 3 全群 颜色=红", "用法"),
    ],
)
def test_bad_draws_explain_and_draw_nothing(bot: Bot, text: str, fragment: str) -> None:
    assert fragment in bot.say(text, user="guide01")
    assert draws(bot) == []


def test_guides_draw_only_in_their_own_groups_and_members_not_at_all(bot: Bot) -> None:
    assert "只能管理自己负责的群" in bot.say("抽奖 1 全群", user="guide02")
    assert "只能管理自己负责的群" in bot.say("抽奖 1 全群 群=一号群", user="guide02", chat=None)
    assert "导购" in bot.say("抽奖 1 全群", user="m00")
    assert "私聊里抽奖请写明哪个群" in bot.say("抽奖 1 全群", user="guide01", chat=None)
    assert "还没有人" in bot.say("抽奖 1 签到", user="guide01")
    assert draws(bot) == []


def test_the_derivation_is_fixed_by_seed_and_pool() -> None:
    """HMAC-SHA256(seed, userid), lowest scores win: the same record always gives the same winners."""
    seed = "00" * 32
    pool = lottery.normalise(["c", "a", "b", "a"])
    assert pool == ["a", "b", "c"]
    assert lottery.derive(seed, pool, 2) == lottery.derive(seed, list(pool), 2)
    assert lottery.derive(seed, pool, 5) == sorted(pool, key=lambda user: _score(seed, user))
    assert lottery.digest(pool) == lottery.digest(["a", "b", "c"])


def _score(seed: str, user: str) -> str:
    import hashlib
    import hmac

    return hmac.new(bytes.fromhex(seed), user.encode(), hashlib.sha256).hexdigest()
