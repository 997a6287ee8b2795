"""{kf_link} in the texts: welcomes, calendar posts and the 开团 summary offer each customer group its own link.

Without a link (kf off, an internal group, or no link made yet) a line whose only placeholder is
{kf_link} is dropped, so no "点此签到/报名：" is left hanging.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.app import create_app
from bot.clock import FrozenClock
from bot.config.loader import ConfigError
from bot.events import Event
from bot.services import Services
from bot.transports.wecom import build_wecom_transport
from handlers.kf.links import make_link
from handlers.members.welcome_sync import native_text
from models import kf as kf_rows
from models.db import make_session_factory
from models.outbox import OutboxMessage
from scheduler.calendar.slots import run_calendar
from tests import factories
from tests.conftest import write_yaml
from tests.factories import REGISTRY, config_from, load_config
from tests.fake_wecom import CORP_ID, FakeWecom
from tests.handlers.kf.harness import GROUP, GROUP_NAME, KFID, OTHER_GROUP, OTHER_NAME, kf_config
from tests.scheduler.harness import local

SIGN_UP = "点此签到/报名：{kf_link}"
TEAM = "wr-team-kf"


def rows_for(services_or_factory: Any, chat_id: str) -> list[OutboxMessage]:
    factory = getattr(services_or_factory, "session_factory", services_or_factory)
    with factory() as session:
        query = select(OutboxMessage).where(OutboxMessage.target == chat_id).order_by(OutboxMessage.id)
        return list(session.scalars(query))


def test_welcome_offers_each_groups_own_link_and_drops_the_line_without_one(
    tmp_path: Path, make_services: Callable[..., Services], fake_wecom: FakeWecom, clock: FrozenClock, database_url: str
) -> None:
    """A group's own template and welcome_default both fill {kf_link}; a group with no link yet gets no empty line."""
    fake_wecom.kf_account(KFID)
    data = kf_config(database_url, fake_wecom)
    data["groups"][0]["welcome"] = "欢迎 {names} 来到「{group}」！\n" + SIGN_UP
    data["texts"] = {"welcome_default": "欢迎 {names} 加入「{group}」！\n" + SIGN_UP + "\n{rules}"}
    services = make_services(write_yaml(tmp_path / "config.yaml", data))
    client = create_app(services).test_client()
    sender = factories.WecomSender(factories.APP_TOKEN, factories.APP_AES_KEY, CORP_ID)

    def join(chat: str, user: str) -> str:
        plain = factories.make_member_joined(chat, [user], create_time=int(clock.now().timestamp()))
        signed = sender.xml_post(plain)
        response = client.post(f"/wecom/callback?{signed.query_string}", data=signed.body, content_type="text/xml")
        assert response.status_code == 200
        return str(rows_for(services, chat)[-1].payload["content"])

    config = services.config()
    # The link is made as `groupbot kf link` makes it: kf/add_contact_way on the fake WeCom.
    api = build_wecom_transport(services.config, services.session_factory, clock).api
    with services.session_factory.begin() as session:
        link = make_link(session, api, config, GROUP, clock.now())
    assert link.startswith("https://work.weixin.qq.com/kf/") and "scene_param=" in link

    rules = REGISTRY.default_texts["rules_default"]
    one = REGISTRY.default_texts["welcome_names_count"].format(count=1)
    assert join(GROUP, "wmAlice") == f"欢迎 {one} 来到「{GROUP_NAME}」！\n点此签到/报名：{link}"
    # The other group has no link yet: its sign-up line is left out rather than shown empty.
    assert join(OTHER_GROUP, "wmBob") == f"欢迎 {one} 加入「{OTHER_NAME}」！\n{rules}"

    clock.advance(minutes=5)
    with services.session_factory.begin() as session:
        other_link = make_link(session, api, config, OTHER_GROUP, clock.now())
    assert other_link != link
    assert join(OTHER_GROUP, "wmCarol") == f"欢迎 {one} 加入「{OTHER_NAME}」！\n点此签到/报名：{other_link}\n{rules}"


def test_a_calendar_post_carries_each_chats_own_link(engine: Engine) -> None:
    """One slot to two customer groups and an internal one: each gets its own link; the internal one no line."""
    data = kf_config("sqlite:///unused.db", FakeWecom())
    data["groups"].append({"chat_id": TEAM, "name": "团队群", "kind": "internal", "push": "console"})
    data["calendar"] = [
        {
            "id": "daily-sign",
            "when": {"weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "time": "10:00"},
            "to": {"all": True},
            "content": {"text": "{date}上新啦\n" + SIGN_UP},
        },
        {
            "id": "news-card",
            "when": {"weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "time": "10:00"},
            "to": {"groups": [GROUP]},
            "content": {"news": {"title": "今日团购", "description": SIGN_UP, "url": "https://example.com/deal"}},
        },
    ]
    data["scheduler"] = {"grace_minutes": 60}
    config = config_from(data)
    factory = make_session_factory(engine)
    first = local(2026, 11, 23, 9, 0)
    with factory.begin() as session:
        kf_rows.cache_link(session, GROUP, KFID, "https://work.weixin.qq.com/kf/kfcA?scene_param=g1", first)
        kf_rows.cache_link(session, OTHER_GROUP, KFID, "https://work.weixin.qq.com/kf/kfcA?scene_param=g2", first)
    run_calendar(factory, config, first, worker="t")
    run_calendar(factory, config, first + timedelta(hours=1, minutes=1), worker="t")

    [post, card] = rows_for(factory, GROUP)
    assert post.payload["content"] == "11月23日上新啦\n点此签到/报名：https://work.weixin.qq.com/kf/kfcA?scene_param=g1"
    assert "点此签到/报名：https://work.weixin.qq.com/kf/kfcA?scene_param=g1" in str(card.payload)
    [other] = rows_for(factory, OTHER_GROUP)
    assert (
        other.payload["content"] == "11月23日上新啦\n点此签到/报名：https://work.weixin.qq.com/kf/kfcA?scene_param=g2"
    )
    [team] = rows_for(factory, TEAM)
    assert team.payload["content"] == "11月23日上新啦"


def test_the_kaituan_summary_offers_the_deals_group_link(
    tmp_path: Path, make_services: Callable[..., Services], clock: FrozenClock, database_url: str
) -> None:
    """开团 for a group with a link ends with "点此签到/报名：<link>"; for one without, the line is left out."""
    data = kf_config(database_url, FakeWecom())
    summary = REGISTRY.default_texts["groupbuy_summary"]
    data["texts"] = {"groupbuy_summary": summary + "\n" + SIGN_UP}
    services = make_services(write_yaml(tmp_path / "config.yaml", data))
    link = "https://work.weixin.qq.com/kf/kfcA?scene_param=g1"
    with services.session_factory.begin() as session:
        kf_rows.cache_link(session, GROUP, KFID, link, clock.now())

    def open_deal(group: str) -> str:
        event = Event(
            kind="text",
            source="console",
            user_id="guide01",
            chat_id=None,
            at=clock.now(),
            text=f"开团 阳光玫瑰葡萄 价格=39.9 名额=50 截止=2小时 群={group}",
            msg_id=f"open-{group}",
        )
        outcome = services.dispatcher.handle(event)
        assert "开团成功" in outcome.passive_text, outcome.passive_text
        [row] = rows_for(services, config_group(group))
        return str(row.payload["content"])

    def config_group(name: str) -> str:
        return next(g.chat_id for g in services.config().groups if g.name == name)

    with_link = open_deal(GROUP_NAME)
    assert with_link.startswith("【团购 ") and with_link.endswith(f"\n点此签到/报名：{link}")
    without = open_deal(OTHER_NAME)
    assert "点此签到" not in without and not without.endswith("\n")
    assert len(without.splitlines()) == len(with_link.splitlines()) - 1  # the same terms, only the link line gone
    assert without.splitlines()[1] == with_link.splitlines()[1]


RULES_WITH_LINK = """\
groups:
  - chat_id: wr-c1
    name: 一群
    kind: customer
    guide: guide01
    push: customer_task
    rules: "群规：{kf_link}"
roles:
  guides: [guide01]
"""

TEXT_WITH_LINK = """\
roles:
  guides: [guide01]
texts:
  welcome_default: "欢迎 {names}！\\n点此签到：{kf_link}"
  groupbuy_joined: "接龙成功！{code} {kf_link}"
"""

CALENDAR_URL_LINK = """\
groups:
  - chat_id: wr-team
    name: 团队
calendar:
  - id: card
    when: {weekdays: [mon], time: "10:00"}
    to: {all: true}
    content:
      text: "签到：{kf_link}，剩 {days_left} 天"
"""


@pytest.mark.parametrize(
    ("yaml_text", "where", "named"),
    [
        (RULES_WITH_LINK, "config.yaml:7:", "kf_link"),
        (TEXT_WITH_LINK, "config.yaml:5:", "kf_link"),
        (CALENDAR_URL_LINK, "config.yaml:", "days_left"),
    ],
    ids=["group-rules", "a-text-that-does-not-offer-it", "calendar-still-refuses-unknown"],
)
def test_kf_link_where_it_is_not_offered_is_refused_with_its_line(
    tmp_path: Path, yaml_text: str, where: str, named: str
) -> None:
    """{kf_link} is for welcomes, calendar posts and the 开团 summary; elsewhere (and unknown names) are refused."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert where in message and named in message and "unknown placeholder" in message, message


def test_the_native_welcome_template_carries_the_link_known_at_sync(engine: Engine, clock: FrozenClock) -> None:
    """The 入群欢迎语 text written to WeCom holds the group's link once made, and changes (needs a sync) then."""
    data = kf_config("sqlite:///unused.db", FakeWecom())
    data["members"] = {"welcome": {"mode": "native"}}
    data["groups"][0]["welcome"] = "欢迎 {names}！\n" + SIGN_UP
    config = config_from(data)
    group = config.group(GROUP)
    assert group is not None
    factory = make_session_factory(engine)
    with factory() as session:
        assert native_text(config, group, session) == "欢迎 %NICKNAME%！"
    with factory.begin() as session:
        kf_rows.cache_link(session, GROUP, KFID, "https://work.weixin.qq.com/kf/kfcA?scene_param=g1", clock.now())
    with factory() as session:
        text = native_text(config, group, session)
    assert text == "欢迎 %NICKNAME%！\n点此签到/报名：https://work.weixin.qq.com/kf/kfcA?scene_param=g1"
