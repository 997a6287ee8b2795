"""aibot callback details: a stream refresh gets the stored finished frame, enter_chat a welcome text,
template_card_event and feedback_event an empty acknowledgement and a record."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.services import Services
from models import OutboxMessage, ProcessedEvent
from tests import factories
from tests.bot.inbound.test_aibot_callback import ask, post
from tests.conftest import count_rows


def refresh(stream_id: str) -> dict[str, Any]:
    return {
        "msgid": uuid.uuid4().hex,
        "aibotid": "aibot0001",
        "chattype": "group",
        "chatid": "wrgroup0001",
        "from": {"userid": "lisi"},
        "msgtype": "stream",
        "stream": {"id": stream_id},
    }


def event(eventtype: str, **extra: Any) -> dict[str, Any]:
    return {
        "msgid": f"evt-{uuid.uuid4().hex[:12]}",
        "aibotid": "aibot0001",
        "chattype": "single",
        "from": {"userid": "lisi"},
        "msgtype": "event",
        "event": {"eventtype": eventtype, **extra},
    }


def test_refresh_of_a_known_stream_gets_the_stored_finished_frame(client: FlaskClient) -> None:
    """WeCom refreshes a stream it did not see finished (a lost answer): it gets the same finished content."""
    first = ask(client, factories.aibot_text("帮助"))
    stream_id = first["stream"]["id"]
    again = ask(client, refresh(stream_id))
    assert again == {
        "msgtype": "stream",
        "stream": {"id": stream_id, "finish": True, "content": first["stream"]["content"]},
    }


def test_refresh_of_an_unknown_stream_is_an_empty_200(client: FlaskClient, engine: Engine) -> None:
    resp = post(client, factories.aibot_sender().json_post(refresh("not-ours-0001")))
    assert resp.status_code == 200 and resp.get_data() == b""
    assert count_rows(engine, ProcessedEvent) == 0


def test_enter_chat_is_answered_with_a_welcome_text_not_a_stream(client: FlaskClient, services: Services) -> None:
    """Opening the 1:1 chat: WeCom allows a text (welcome) answer to the event; it greets and lists the commands."""
    reply = ask(client, event("enter_chat"))
    assert set(reply) == {"msgtype", "text"} and reply["msgtype"] == "text"
    content = reply["text"]["content"]
    texts = services.config().texts
    assert content.startswith(texts.render("aibot_welcome"))
    assert texts.render("help_header") in content and "帮助" in content


def test_card_and_feedback_events_are_acknowledged_and_recorded(client: FlaskClient, engine: Engine) -> None:
    """A button click on a template card and a 👍/👎 feedback: empty 200, one record each, nothing queued."""
    card = event("template_card_event", template_card_event={"card_type": "button_interaction", "event_key": "k1"})
    feedback = event("feedback_event", feedback_event={"id": "fb1", "type": 1})
    for payload in (card, feedback, card):  # the card's retry is not recorded twice
        resp = post(client, factories.aibot_sender().json_post(payload))
        assert resp.status_code == 200 and resp.get_data() == b""
    with Session(engine) as session:
        kinds = sorted(row.kind for row in session.scalars(select(ProcessedEvent)))
    assert kinds == ["feedback_event", "template_card_event"]
    assert count_rows(engine, OutboxMessage) == 0
