"""Notes to staff name a WeChat customer by the nickname WeCom gives (kf/customer/batchget), not by an opaque id."""

from __future__ import annotations

from models.membership import display_names, join
from tests.handlers.kf.harness import CUSTOMER, GROUP, KfWorld


def _guide_notes(world: KfWorld) -> list[str]:
    return [b["text"]["content"] for b in world.fake.bodies("message/send") if b and b.get("touser") == "guide01"]


def _in_group(world: KfWorld) -> None:
    with world.factory.begin() as session:
        join(session, chat_id=GROUP, user_id=CUSTOMER, at=world.clock.now(), guide="guide01")


def test_the_guide_asked_to_take_over_reads_the_customers_wechat_nickname(world: KfWorld) -> None:
    world.fake.kf_nicknames[CUSTOMER] = "小美"
    _in_group(world)
    world.says("人工")
    (note,) = _guide_notes(world)
    assert "小美" in note and CUSTOMER not in note
    assert world.fake.bodies("kf/customer/batchget") == [{"external_userid_list": [CUSTOMER]}]
    with world.factory() as session:
        assert display_names(session, [CUSTOMER]) == {CUSTOMER: "小美"}


def test_a_customer_already_named_is_not_looked_up_again(world: KfWorld) -> None:
    world.fake.kf_nicknames[CUSTOMER] = "小美"
    world.says("积分")
    world.says("签到")
    assert len(world.fake.calls_to("kf/customer/batchget")) == 1


def test_a_failed_lookup_loses_no_message_and_the_next_message_asks_again(world: KfWorld) -> None:
    world.fake.kf_nicknames[CUSTOMER] = "小美"
    world.fake.fail_next("kf/customer/batchget", errcode=60011)  # no privilege: the kf app lacks the permission
    (answer,) = world.says("积分")
    assert "积分" in answer
    with world.factory() as session:
        assert display_names(session, [CUSTOMER]) == {CUSTOMER: CUSTOMER}
    world.says("积分")
    with world.factory() as session:
        assert display_names(session, [CUSTOMER]) == {CUSTOMER: "小美"}


def test_a_nickname_of_only_unstorable_characters_and_spaces_is_no_name(world: KfWorld) -> None:
    world.fake.kf_nicknames[CUSTOMER] = "\x00 "
    world.says("积分")
    with world.factory() as session:
        assert display_names(session, [CUSTOMER]) == {CUSTOMER: CUSTOMER}
    asked = [body["external_userid_list"] for body in world.fake.bodies("kf/customer/batchget") if body]
    assert asked == [[CUSTOMER]]
