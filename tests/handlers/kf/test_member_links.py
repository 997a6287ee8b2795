"""The guide's 1:1 sidebar offers the customer their group's kf link, named for the group, once one was made."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from models import kf as kf_rows
from models.db import make_session_factory
from tests.factories import REGISTRY, config_from
from tests.fake_wecom import FakeWecom
from tests.handlers.kf.harness import GROUP, KFID, kf_config


def test_the_sidebar_offers_the_groups_link_once_it_exists(engine: Engine, clock: FrozenClock) -> None:
    config = config_from(kf_config("sqlite:///unused.db", FakeWecom()))
    factory = make_session_factory(engine)
    with factory.begin() as session:
        assert REGISTRY.member_links(session, config, GROUP) == []  # no link made yet: nothing to send
        kf_rows.cache_link(session, GROUP, KFID, "https://work.weixin.qq.com/kf/kfcX?scene_param=s1", clock.now())
    with factory() as session:
        links = REGISTRY.member_links(session, config, GROUP)
    group = config.group(GROUP)
    assert group is not None
    assert links == [(f"「{group.name}」签到·积分·团购入口", "https://work.weixin.qq.com/kf/kfcX?scene_param=s1")]
