"""Customer groups read back from WeCom's groupchat/get (the fake server): names, inviters, missed joins and leaves."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.services import Services
from bot.wecom.api import WecomApi
from handlers.members.group_sync import GET, LIST, GroupSyncer, sync_chat
from models import chat_sync
from models.activity import record_activity
from models.db import make_session_factory
from models.membership import ChatGroup, Person, guide_of, is_member
from tests.bot.transports.conftest import fake_wecom  # noqa: F401  (the fixture)
from tests.conftest import base_config, write_yaml
from tests.factories import default_texts
from tests.fake_wecom import CORP_ID, SECRET, FakeWecom
from tests.handlers.members.chat import CUSTOMER, GROUPS, TEAM, GroupBot, make_group_bot

TEXTS = default_texts()
ROLES = {"admins": ["boss"], "guides": ["guide01", "guide02"]}


def member(userid: str, *, name: str = "", nickname: str = "", invitor: str = "", kind: int = 2, **kw: Any) -> dict:
    entry: dict[str, Any] = {"userid": userid, "type": kind, "join_time": kw.get("join_time", 1763700000)}
    entry.update({"join_scene": kw.get("join_scene", 3), "group_nickname": nickname, "name": name})
    if invitor:
        entry["invitor"] = {"userid": invitor}
    return entry


def group_chat(chat_id: str, name: str, members: list[dict]) -> dict:
    return {"chat_id": chat_id, "name": name, "owner": "guide01", "create_time": 1763000000, "member_list": members}


@pytest.fixture
def bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> GroupBot:
    return make_group_bot(make_services, tmp_path, clock, roles=ROLES)


@pytest.fixture
def api(bot: GroupBot, fake_wecom: FakeWecom) -> WecomApi:  # noqa: F811
    return WecomApi(
        bot.services.session_factory,
        bot.clock,
        corp_id=CORP_ID,
        secret=SECRET,
        agent_id="1000002",
        api_base=fake_wecom.base_url,
        timeout=2,
    )


@pytest.fixture
def syncer(bot: GroupBot, api: WecomApi) -> GroupSyncer:
    return GroupSyncer(api, bot.services.session_factory, bot.services.config, bot.clock)


def sync(bot: GroupBot, api: WecomApi, chat: str = CUSTOMER):  # type: ignore[no-untyped-def]
    return sync_chat(api, bot.services.session_factory, bot.services.config(), bot.clock, chat)


def test_sync_names_the_pending_welcome_and_the_boards(
    bot: GroupBot,
    syncer: GroupSyncer,
    fake_wecom: FakeWecom,  # noqa: F811
) -> None:
    """Two customers join (the callback has no names); the next pass names them in the waiting welcome and on boards."""
    bot.join(CUSTOMER, ["wmA", "wmB"])
    [welcome] = bot.outbox()
    assert welcome.payload["content"].startswith("欢迎 " + TEXTS["welcome_names_count"].format(count=2))
    fake_wecom.groupchats[CUSTOMER] = group_chat(
        CUSTOMER,
        "社区福利1群",
        [
            member("wmA", name="Alice", nickname="阿花"),
            member("wmB", name="小白"),
            member("guide01", name="导购一", kind=1),
        ],
    )
    report = syncer.run_pass()
    assert [r.chat_id for r in report.synced] == [CUSTOMER] and not report.failed
    assert fake_wecom.bodies(GET) == [{"chat_id": CUSTOMER, "need_name": 1}]
    [welcome] = bot.outbox()
    assert welcome.status == "pending"
    assert welcome.payload["content"].startswith("欢迎 阿花、小白 加入「社区福利1群」！")
    assert report.synced[0].welcome_refreshed

    with bot.services.session_factory.begin() as session:
        record_activity(session, chat_id=CUSTOMER, user_id="wmA", at=bot.clock.now(), kind="message")
    bot.clock.advance(seconds=60)
    board = bot.say("活跃榜 全部群", user="guide01", chat=TEAM)
    assert "阿花" in board and "wmA" not in board
    # Nothing changed since: the next pass asks WeCom nothing.
    syncer.run_pass()
    assert len(fake_wecom.calls_to(GET)) == 1


def test_inviter_who_is_a_guide_takes_the_member(bot: GroupBot, api: WecomApi, fake_wecom: FakeWecom) -> None:  # noqa: F811
    """A member invited by guide02 is attributed to guide02; one invited by a customer stays with the group's guide."""
    bot.join(CUSTOMER, ["wmC", "wmD"])
    fake_wecom.groupchats[CUSTOMER] = group_chat(
        CUSTOMER, "社区福利1群", [member("wmC", invitor="guide02"), member("wmD", invitor="wmA")]
    )
    result = sync(bot, api)
    assert result.reattributed == ["wmC"] and result.inviters == ["wmC", "wmD"]
    with bot.services.session_factory() as session:
        assert guide_of(session, "wmC", CUSTOMER) == "guide02"
        assert guide_of(session, "wmD", CUSTOMER) == "guide01"
    row = bot.membership(CUSTOMER, "wmD")
    assert row is not None and row.inviter == "wmA"


def test_missing_member_is_closed_and_unknown_one_added_without_welcome(
    bot: GroupBot,
    api: WecomApi,
    fake_wecom: FakeWecom,  # noqa: F811
) -> None:
    """A lost del_member closes wmGone; a lost add_member makes wmNew a member at WeCom's join time, unwelcomed."""
    bot.join(CUSTOMER, ["wmA", "wmGone"])
    bot.clock.advance(seconds=120)
    queued = len(bot.outbox())
    joined_at = int((bot.clock.now() - timedelta(hours=3)).timestamp())
    fake_wecom.groupchats[CUSTOMER] = group_chat(
        CUSTOMER, "福利群改名", [member("wmA"), member("wmNew", nickname="新人", join_time=joined_at, join_scene=0)]
    )
    result = sync(bot, api)
    assert (result.added, result.closed, result.name) == (["wmNew"], ["wmGone"], "福利群改名")
    with bot.services.session_factory() as session:
        assert is_member(session, CUSTOMER, "wmNew") and not is_member(session, CUSTOMER, "wmGone")
        assert session.get(ChatGroup, CUSTOMER).name == "福利群改名"  # type: ignore[union-attr]
    new = bot.membership(CUSTOMER, "wmNew")
    assert new is not None and new.join_scene == 0 and int(new.joined_at.timestamp()) == joined_at  # type: ignore[union-attr]
    gone = bot.membership(CUSTOMER, "wmGone")
    assert gone is not None and gone.left_at == bot.clock.now()
    assert len(bot.outbox()) == queued  # no welcome for wmNew
    assert bot.changes(CUSTOMER)[-2:] == [("wmNew", "join"), ("wmGone", "leave")]


def test_retried_sync_changes_nothing(bot: GroupBot, api: WecomApi, fake_wecom: FakeWecom) -> None:  # noqa: F811
    """Applying the same answer again finds nothing to change: no rows, no history, no names rewritten."""
    bot.join(CUSTOMER, ["wmA", "wmGone"])
    fake_wecom.groupchats[CUSTOMER] = group_chat(
        CUSTOMER, "社区福利1群", [member("wmA", nickname="阿花", invitor="guide02"), member("wmNew", name="新人")]
    )
    assert sync(bot, api).changed
    history = bot.changes(CUSTOMER)
    again = sync(bot, api)
    assert not again.changed and again.describe() == f"{CUSTOMER}: no changes"
    assert bot.changes(CUSTOMER) == history


def test_chat_gone_changes_nothing_and_is_reported(
    bot: GroupBot,
    syncer: GroupSyncer,
    fake_wecom: FakeWecom,  # noqa: F811
) -> None:
    """49008: the chat is unknown to WeCom; members stay as they are, the pass reports it and does not retry."""
    bot.join(CUSTOMER, ["wmA"])
    report = syncer.run_pass()
    [result] = report.synced
    assert "49008" in result.gone and "not synced" in result.describe()
    with bot.services.session_factory() as session:
        assert is_member(session, CUSTOMER, "wmA")
        state = chat_sync.sync_state(session, CUSTOMER)
        assert state is not None and "49008" in (state.last_error or "")
    bot.clock.advance(hours=1)
    syncer.run_pass()
    assert len(fake_wecom.calls_to(GET)) == 1


def test_failed_sync_is_retried_on_a_later_pass(
    bot: GroupBot,
    syncer: GroupSyncer,
    fake_wecom: FakeWecom,  # noqa: F811
) -> None:
    """WeCom busy (-1): the chat waits a backoff, then the next pass syncs it; a new event makes it due again."""
    bot.join(CUSTOMER, ["wmA"])
    fake_wecom.groupchats[CUSTOMER] = group_chat(CUSTOMER, "社区福利1群", [member("wmA", nickname="阿花")])
    fake_wecom.fail_next(GET, errcode=-1)
    report = syncer.run_pass()
    assert list(report.failed) == [CUSTOMER] and not report.synced
    assert syncer.run_pass().synced == []  # still waiting out the backoff
    bot.clock.advance(seconds=31)
    assert [r.renamed for r in syncer.run_pass().synced] == [["wmA"]]
    assert syncer.run_pass().synced == []
    bot.clock.advance(seconds=5)
    bot.leave(CUSTOMER, ["wmA"])
    fake_wecom.groupchats[CUSTOMER]["member_list"] = []
    assert [r.closed for r in syncer.run_pass().synced] == [[]]  # the leave was seen; the sync only confirms it
    assert len(fake_wecom.calls_to(GET)) == 3


def test_refusal_waits_hours(bot: GroupBot, syncer: GroupSyncer, fake_wecom: FakeWecom) -> None:  # noqa: F811
    """48002 (no 客户联系 permission) is not retried every pass: it waits hours, with the hint kept."""
    bot.join(CUSTOMER, ["wmA"])
    fake_wecom.always(GET, errcode=48002)
    assert "客户联系" in syncer.run_pass().failed[CUSTOMER]
    bot.clock.advance(hours=1)
    assert syncer.run_pass().failed == {}
    assert len(fake_wecom.calls_to(GET)) == 1


# ----------------------------------------------------------------- the command line


def run(*args: str) -> Result:
    from bot.cli.main import main

    environment = {"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None}
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=True)


def cli_config(tmp_path: Path, database_url: str, fake: FakeWecom) -> str:
    data = base_config(database_url)
    data["wecom"] = {**data["wecom"], "corp_id": CORP_ID, "secret": SECRET, "api_base": fake.base_url}
    return str(write_yaml(tmp_path / "sync.yaml", {**data, "groups": GROUPS, "roles": ROLES}))


def test_cli_syncs_named_chats(tmp_path: Path, engine: Engine, database_url: str, fake_wecom: FakeWecom) -> None:  # noqa: F811
    """`groups sync CHAT` prints what changed; a named chat WeCom does not know exits 1 with the reason."""
    config = cli_config(tmp_path, database_url, fake_wecom)
    fake_wecom.groupchats[CUSTOMER] = group_chat(CUSTOMER, "社区福利1群", [member("wmA", nickname="阿花")])
    result = run("groups", "sync", CUSTOMER, "--config", config)
    assert result.exit_code == 0, result.output + result.stderr
    assert f"{CUSTOMER}: name 「社区福利1群」; names 1 (wmA); added 1 (wmA)" in result.output
    assert run("groups", "sync", CUSTOMER, "--config", config).output.startswith(f"{CUSTOMER}: no changes")
    gone = run("groups", "sync", "wrNoSuchChat", "--config", config)
    assert gone.exit_code == 1 and "49008" in gone.output
    listed = run("groups", "--json", "--config", config)
    assert {row["chat_id"]: row["members"] for row in map(json.loads, listed.output.splitlines())}[CUSTOMER] == 1


def test_cli_all_discovers_chats_from_wecom(
    tmp_path: Path,
    engine: Engine,
    database_url: str,
    fake_wecom: FakeWecom,  # noqa: F811
) -> None:
    """--all also syncs chats only WeCom's groupchat/list knows; they then show with their name in `groups`."""
    config = cli_config(tmp_path, database_url, fake_wecom)
    fake_wecom.groupchats[CUSTOMER] = group_chat(CUSTOMER, "社区福利1群", [])
    fake_wecom.groupchats["wrOther"] = group_chat("wrOther", "二群", [member("wmZ", name="小智")])
    # Listed by owner (the guides), as WeCom wants it for corps with many members.
    fake_wecom.groupchat_owners.update({CUSTOMER: "guide01", "wrOther": "guide01"})
    result = run("groups", "sync", "--all", "--config", config)
    assert result.exit_code == 0, result.output + result.stderr
    assert len(fake_wecom.calls_to(LIST)) == 1
    listed = fake_wecom.bodies(LIST)[0]
    assert listed is not None and "guide01" in listed["owner_filter"]["userid_list"]
    assert "wrOther: name 「二群」" in result.output and "synced 2 chat(s)" in result.output
    assert "二群 (wrOther)  unknown  discovered" in run("groups", "--config", config).output
    with make_session_factory(engine)() as session:
        assert session.scalar(select(Person.display_name).where(Person.user_id == "wmZ")) == "小智"


def test_cli_refusal_exits_non_zero_with_the_hint(
    tmp_path: Path,
    engine: Engine,
    database_url: str,
    fake_wecom: FakeWecom,  # noqa: F811
) -> None:
    """48002: the app lacks 客户联系 permission; the command says so and exits 1 after the first refusal."""
    config = cli_config(tmp_path, database_url, fake_wecom)
    fake_wecom.always(GET, errcode=48002)
    result = run("groups", "sync", CUSTOMER, "wrOther", "--config", config)
    assert result.exit_code == 1
    assert "48002" in result.stderr and "客户联系" in result.stderr
    assert len(fake_wecom.calls_to(GET)) == 1
    usage = run("groups", "sync", "--config", config)
    assert usage.exit_code == 2 and "--all" in usage.stderr
