"""Faults and odd input on the kf path: none loses a message or answers twice, each says what went wrong."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.outbox import queue_reply
from bot.replies import Reply
from handlers.kf.config import GROUP_CHOICE_PREFIX, scene_param
from models import OutboxMessage, ProcessedEvent
from models import kf as kf_rows
from models import outbox as outbox_rows
from models.checkin import Checkin
from models.membership import join
from tests.handlers.kf.harness import CUSTOMER, GROUP, KFID, OTHER_GROUP, OTHER_NAME, KfWorld


def _rows(world: KfWorld) -> list[OutboxMessage]:
    with world.factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _push(world: KfWorld, text: str, user: str = CUSTOMER) -> int:
    with world.factory.begin() as session:
        row = queue_reply(session, Reply(text, to_user=user), world.clock.now(), origin="test:push")
        assert row is not None
        return row.id


def _drain(world: KfWorld) -> None:
    world.deliver()


def test_a_retried_callback_asks_for_one_pull_and_handles_each_message_once(world: KfWorld) -> None:
    token = world.fake.customer_says(KFID, CUSTOMER, "积分")
    signed = world.sealed(token)
    assert world.post(signed).status_code == 200
    assert world.post(signed).status_code == 200  # WeCom retries the same callback
    with world.factory() as session:
        assert session.scalar(select(kf_rows.KfCursor.requests)) == 1
    world.deliver()
    world.deliver()
    assert len(world.fake.kf_texts_to(CUSTOMER)) == 1
    with world.factory() as session:
        assert (
            session.scalar(select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.source == "kf")) == 1
        )


def test_an_expired_welcome_code_fails_visibly_and_the_customer_is_answered_once_they_write(world: KfWorld) -> None:
    token = world.fake.customer_enters(KFID, CUSTOMER, scene_param=scene_param(GROUP))
    world.callback(token)
    world.puller.run_pass()
    world.later(seconds=30)  # the drainer was late: WeCom's 20 s are over
    _drain(world)
    (welcome,) = _rows(world)
    assert welcome.status == "failed" and "welcome_code expired" in (welcome.last_error or "")
    assert world.fake.kf_texts_to(CUSTOMER) == []
    assert world.says("按钮") == ["请选择： [签到 | 我的积分 | 我的团购 | 群规 | 帮助]"]


def test_an_expired_sync_token_pulls_by_cursor_alone(world: KfWorld) -> None:
    token = world.fake.customer_says(KFID, CUSTOMER, "积分")
    world.callback(token)
    world.later(minutes=11)  # the callback's token lives 10 minutes
    world.deliver()
    bodies = world.fake.bodies("kf/sync_msg")
    assert [("token" in (b or {})) for b in bodies] == [True, False]
    assert len(world.fake.kf_texts_to(CUSTOMER)) == 1


def test_a_customer_in_several_groups_is_asked_once_and_the_choice_holds(world: KfWorld) -> None:
    with world.factory.begin() as session:
        for chat in (GROUP, OTHER_GROUP):
            join(session, chat_id=chat, user_id=CUSTOMER, at=world.clock.now(), guide="guide01")
    (question,) = world.says("签到")
    assert "哪个群" in question and OTHER_NAME in question
    (chosen,) = world.says(OTHER_NAME, menu_id=GROUP_CHOICE_PREFIX + scene_param(OTHER_GROUP))
    assert OTHER_NAME in chosen
    world.says("签到")
    with world.factory() as session:
        (checkin,) = session.scalars(select(Checkin)).all()
    assert checkin.chat_id == OTHER_GROUP


def test_a_customer_in_no_known_group_still_gets_answers(world: KfWorld) -> None:
    (answer,) = world.says("签到")
    assert "签到成功" in answer


def test_images_voice_and_locations_get_a_short_hint(world: KfWorld) -> None:
    for kind in ("image", "voice", "location"):
        (hint,) = world.says(msgtype=kind)
        assert hint.startswith("暂时只能看懂文字") and "[签到" in hint


def test_a_menu_button_from_before_a_config_edit_is_answered_with_the_new_menu(world: KfWorld) -> None:
    (answer,) = world.says("老按钮", menu_id="retired-item")
    assert answer.startswith("这个按钮已经更新了") and "[签到" in answer


def test_replies_past_five_wait_visibly_until_the_customer_writes_again(world: KfWorld) -> None:
    world.says("积分")  # the answer spends one of the five
    ids = [_push(world, f"通知 {n}") for n in range(5)]
    _drain(world)
    assert len(world.fake.kf_texts_to(CUSTOMER)) == 5
    waiting = [r for r in _rows(world) if r.id == ids[-1]][0]
    assert waiting.status == "pending" and "five replies" in (waiting.last_error or "")
    answers = world.says("好的")
    assert "通知 4" in answers  # the waiting reply went as soon as the customer wrote
    assert not world.fake.calls_to("kf/send_msg") or all(
        c.body and c.body.get("touser") == CUSTOMER for c in world.fake.calls_to("kf/send_msg")
    )


def test_a_closed_window_fails_with_a_hint_instead_of_waiting_forever(world: KfWorld) -> None:
    world.says("积分")
    world.later(hours=49)
    row_id = _push(world, "迟到的通知")
    _drain(world)
    row = [r for r in _rows(world) if r.id == row_id][0]
    assert row.status == "failed" and "48 hours" in (row.last_error or "")


def test_human_handoff_goes_after_the_answer_and_then_the_bot_stays_out(world: KfWorld) -> None:
    with world.factory.begin() as session:
        join(session, chat_id=GROUP, user_id=CUSTOMER, at=world.clock.now(), guide="guide01")
    (answer,) = world.says("人工")
    assert "转接导购" in answer
    trans = [b for b in world.fake.bodies("kf/service_state/trans") if b and b.get("service_state") == 3]
    assert trans == [{"open_kfid": KFID, "external_userid": CUSTOMER, "service_state": 3, "servicer_userid": "guide01"}]
    notes = [b for b in world.fake.bodies("message/send") if b and b.get("touser") == "guide01"]
    assert notes and "人工服务" in notes[0]["text"]["content"]
    row_id = _push(world, "机器人的通知")
    _drain(world)
    row = [r for r in _rows(world) if r.id == row_id][0]
    assert row.status == "failed" and "human servicer" in (row.last_error or "")


def test_an_unknown_kf_account_fails_with_its_hint(world: KfWorld) -> None:
    world.fake.always("kf/send_msg", errcode=95004)
    world.says("积分")
    (row,) = _rows(world)
    assert row.status == "failed" and "does not exist" in (row.last_error or "")


def test_no_app_message_ever_goes_to_a_wechat_customer(world: KfWorld) -> None:
    with world.factory.begin() as session:
        row = outbox_rows.add_message(
            session,
            channel="app_message",
            target_kind="user",
            target="wmsomeone",
            payload={"content": "x"},
            now=world.clock.now(),
        )
        row_id = row.id
    _drain(world)
    failed = [r for r in _rows(world) if r.id == row_id][0]
    assert failed.status == "failed" and "WeChat customer" in (failed.last_error or "")
    assert world.fake.calls_to("message/send") == []
    # And a reply addressed to a customer is queued for kf, not as an app message.
    _push(world, "hi", user="wmother")
    assert _rows(world)[-1].channel == "kf_message"
