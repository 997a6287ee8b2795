"""The fake WeCom itself: customer-group lookups answer like WeCom, and the adapter reads them through one call."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock
from bot.transports.base import DeliveryError
from bot.wecom.api import WecomApi
from tests.fake_wecom import CORP_ID, SECRET, FakeWecom


def api(fake: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock) -> WecomApi:
    return WecomApi(factory, clock, corp_id=CORP_ID, secret=SECRET, agent_id="1", api_base=fake.base_url, timeout=2)


def test_groupchat_list_and_get(fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock) -> None:
    """groupchat/list names the customer groups and groupchat/get returns one, both with the shared token."""
    fake_wecom.groupchats["wr-customer"] = {"chat_id": "wr-customer", "name": "客户群", "owner": "guide01"}
    client = api(fake_wecom, factory, clock)
    listed = client.call("externalcontact/groupchat/list", {"status_filter": 0, "limit": 100})
    assert listed["group_chat_list"] == [{"chat_id": "wr-customer", "status": 0}]
    got = client.call("externalcontact/groupchat/get", {"chat_id": "wr-customer"})
    assert got["group_chat"]["owner"] == "guide01"
    assert [c.query["access_token"] for c in fake_wecom.calls if c.endpoint != "gettoken"] == ["token-1", "token-1"]


def test_groupchat_get_of_a_dismissed_chat_is_a_permanent_error(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    """A chat WeCom no longer has answers 49008, which the adapter reports as permanent with its hint."""
    with pytest.raises(DeliveryError) as caught:
        api(fake_wecom, factory, clock).call("externalcontact/groupchat/get", {"chat_id": "wr-gone"})
    assert caught.value.transient is False
    assert "49008" in str(caught.value) and "no longer exists" in str(caught.value)
