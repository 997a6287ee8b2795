"""Build WeCom callbacks exactly as WeCom sends them: encrypted, signed, wrapped in XML or JSON."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from wechatpy.work.crypto import PrpCrypto

CORP_ID = "ww0test0corp0001"
APP_TOKEN = "AppCallbackToken01"
APP_AES_KEY = base64.b64encode(b"groupbot-app-callback-aes-key-32").decode().rstrip("=")
AIBOT_TOKEN = "AibotCallbackToken01"
AIBOT_AES_KEY = base64.b64encode(b"groupbot-aibot-callback-aeskey32").decode().rstrip("=")
AGENT_ID = "1000002"


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """WeCom's msg_signature, computed independently of the code under test."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode("utf-8")).hexdigest()


@dataclass
class Signed:
    query: dict[str, str]
    body: bytes

    @property
    def query_string(self) -> str:
        return urlencode(self.query)


class WecomSender:
    """Plays WeCom's side of one callback channel."""

    def __init__(self, token: str, aes_key: str, receive_id: str):
        self.token = token
        self.key = base64.b64decode(aes_key + "=")
        self.receive_id = receive_id

    def encrypt(self, plaintext: str, receive_id: str | None = None) -> str:
        rid = self.receive_id if receive_id is None else receive_id
        return PrpCrypto(self.key).encrypt(plaintext, rid).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        return PrpCrypto(self.key).decrypt(encrypted, self.receive_id)

    def _params(self, encrypted: str, *, token: str | None = None, timestamp: int | None = None) -> dict[str, str]:
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = uuid.uuid4().hex[:10]
        return {
            "msg_signature": signature(token or self.token, timestamp, nonce, encrypted),
            "timestamp": timestamp,
            "nonce": nonce,
        }

    def verify_url(self, echo: str, *, token: str | None = None, receive_id: str | None = None) -> dict[str, str]:
        """Query string of WeCom's URL-verification GET for the plaintext `echo`."""
        encrypted = self.encrypt(echo, receive_id)
        return {**self._params(encrypted, token=token), "echostr": encrypted}

    def xml_post(
        self, plaintext: str, *, token: str | None = None, receive_id: str | None = None, timestamp: int | None = None
    ) -> Signed:
        encrypted = self.encrypt(plaintext, receive_id)
        body = (
            f"<xml><ToUserName><![CDATA[{self.receive_id}]]></ToUserName>"
            f"<AgentID><![CDATA[{AGENT_ID}]]></AgentID>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )
        return Signed(self._params(encrypted, token=token, timestamp=timestamp), body.encode("utf-8"))

    def json_post(
        self,
        payload: dict[str, Any] | str,
        *,
        token: str | None = None,
        receive_id: str | None = None,
        timestamp: int | None = None,
    ) -> Signed:
        plaintext = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        encrypted = self.encrypt(plaintext, receive_id)
        envelope = json.dumps({"encrypt": encrypted}).encode("utf-8")
        return Signed(self._params(encrypted, token=token, timestamp=timestamp), envelope)

    def open_reply(self, response_json: dict[str, Any]) -> dict[str, Any]:
        """Check the signature on a passive reply the way WeCom does and return its plaintext JSON."""
        expected = signature(
            self.token, str(response_json["timestamp"]), response_json["nonce"], response_json["encrypt"]
        )
        assert response_json["msgsignature"] == expected, "reply signature does not verify"
        return json.loads(self.decrypt(response_json["encrypt"]))


def app_sender() -> WecomSender:
    return WecomSender(APP_TOKEN, APP_AES_KEY, CORP_ID)


def aibot_sender() -> WecomSender:
    return WecomSender(AIBOT_TOKEN, AIBOT_AES_KEY, "")


def app_text(content: str, *, user: str = "zhangsan", msg_id: str | None = None, create_time: int | None = None) -> str:
    """The decrypted XML of a text message a user sends to the self-built app."""
    msg_id = msg_id or str(uuid.uuid4().int % 10**18)
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id}</MsgId><AgentID>{AGENT_ID}</AgentID></xml>"
    )


def aibot_text(
    content: str,
    *,
    user: str = "lisi",
    chat: str | None = "wrgroup0001",
    msgid: str | None = None,
    mention: bool = True,
) -> dict[str, Any]:
    """The decrypted JSON of a message to the intelligent robot (group @mention, or 1:1 when chat is None)."""
    text = f"@小助手\u2005{content}" if mention and chat else content
    payload: dict[str, Any] = {
        "msgid": msgid or uuid.uuid4().hex,
        "aibotid": "aibot0001",
        "chattype": "group" if chat else "single",
        "from": {"userid": user},
        "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=test",
        "msgtype": "text",
        "text": {"content": text},
    }
    if chat:
        payload["chatid"] = chat
    return payload


def external_chat_change(
    chat: str,
    *,
    change_type: str = "update",
    detail: str | None = None,
    users: list[str] | tuple[str, ...] = (),
    join_scene: int | None = None,
    quit_scene: int | None = None,
    create_time: int | None = None,
) -> str:
    """The decrypted XML of a customer-group change (客户群变更事件) exactly as WeCom lays it out."""
    parts = [
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>",
        "<FromUserName><![CDATA[sys]]></FromUserName>",
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>",
        "<MsgType><![CDATA[event]]></MsgType>",
        "<Event><![CDATA[change_external_chat]]></Event>",
        f"<ChatId><![CDATA[{chat}]]></ChatId>",
        f"<ChangeType><![CDATA[{change_type}]]></ChangeType>",
    ]
    if detail is not None:
        parts.append(f"<UpdateDetail><![CDATA[{detail}]]></UpdateDetail>")
    if join_scene is not None:
        parts.append(f"<JoinScene>{join_scene}</JoinScene>")
    if quit_scene is not None:
        parts.append(f"<QuitScene>{quit_scene}</QuitScene>")
    if users:
        parts.append(f"<MemChangeCnt>{len(users)}</MemChangeCnt>")
        items = "".join(f"<Item><![CDATA[{user}]]></Item>" for user in users)
        parts.append(f"<MemChangeList>{items}</MemChangeList>")
    parts.append("</xml>")
    return "".join(parts)


def make_member_joined(chat: str, users: list[str], *, join_scene: int = 1, create_time: int | None = None) -> str:
    """Members added to a customer group (JoinScene 0 invited by a member, 1 directly, 3 by QR code)."""
    return external_chat_change(chat, detail="add_member", users=users, join_scene=join_scene, create_time=create_time)


def make_member_left(chat: str, users: list[str], *, quit_scene: int = 0, create_time: int | None = None) -> str:
    """Members who left a customer group (QuitScene 0 left themselves, 1 removed by the owner or an admin)."""
    return external_chat_change(chat, detail="del_member", users=users, quit_scene=quit_scene, create_time=create_time)


def make_chat_created(chat: str, *, create_time: int | None = None) -> str:
    """A customer group was created."""
    return external_chat_change(chat, change_type="create", create_time=create_time)


def make_chat_updated(chat: str, detail: str, *, create_time: int | None = None) -> str:
    """A customer group changed owner, name or notice (the callback names no new value)."""
    return external_chat_change(chat, detail=detail, create_time=create_time)


def make_chat_dismissed(chat: str, *, create_time: int | None = None) -> str:
    """A customer group was dismissed."""
    return external_chat_change(chat, change_type="dismiss", create_time=create_time)


# ------------------------------------------------------------------ the shipped capabilities

from bot.config.core import Config  # noqa: E402
from bot.registry import Registry  # noqa: E402
from handlers import CAPABILITIES  # noqa: E402

REGISTRY = Registry.of(CAPABILITIES)


def load_handlers() -> Registry:
    """The registry of every shipped capability (one per test session; it holds no state)."""
    return REGISTRY


def default_texts() -> dict[str, str]:
    """Every packaged sentence, from the capabilities' texts files."""
    return REGISTRY.default_texts


def load_config(path: Any, environ: dict[str, str] | None = None) -> Config:
    """Load a config file as the service does, with every capability's section."""
    return REGISTRY.load_config(path, environ=environ)


def config_loader(registry: Registry | None = None) -> Any:
    """A loader for `registry`'s config (the shipped one by default), as the service builds it."""
    return (registry or REGISTRY).load_config


def config_from(data: dict[str, Any], **context: Any) -> Config:
    """Validate a config given as data, with the shipped capabilities' sections and texts."""
    return REGISTRY.config_model.model_validate(
        data,
        context={
            "default_texts": REGISTRY.default_texts,
            "text_placeholders": REGISTRY.text_placeholders,
            "command_names": set(REGISTRY.commands),
            **context,
        },
    )


def group_features(config: Config, group: Any) -> list[Any]:
    """Every feature line `check-config` prints for `group`: the shell's and each capability's."""
    from bot.features import group_features as compose

    return compose(config, group, REGISTRY.feature_lines())


def make_kf_event(token: str, open_kfid: str, *, corp_id: str = CORP_ID, create_time: int | None = None) -> str:
    """The decrypted XML of WeCom's kf_msg_or_event callback: an account has news to pull with kf/sync_msg.

    Shape from https://developer.work.weixin.qq.com/document/path/94670 (接收消息和事件).
    """
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[kf_msg_or_event]]></Event>"
        f"<Token><![CDATA[{token}]]></Token>"
        f"<OpenKfId><![CDATA[{open_kfid}]]></OpenKfId></xml>"
    )


# ------------------------------------------------------------------ talking to the bot


@dataclass
class ChatBot:
    """The bot as a test talks to it: the real dispatcher and database, a frozen clock, and what was queued.

    Capability harnesses (points, group-buy, members, quiz, reactivation) extend this one class
    with what only they need; `say()` is the same everywhere.
    """

    services: Any  # bot.services.Services
    clock: Any  # bot.clock.FrozenClock

    def send(
        self,
        text: str,
        *,
        user: str = "lisi",
        chat: str | None = "wrgroup0001",
        msg_id: str | None = None,
        source: str = "console",
    ) -> Any:
        """Deliver `text` as an @mention in `chat` (1:1 when None) through the real dispatcher; return the Outcome."""
        from bot.events import Event

        event = Event(
            kind="text",
            source=source,  # type: ignore[arg-type]
            user_id=user,
            chat_id=chat,
            at=self.clock.now(),
            text=f"@小助手\u2005{text}" if chat else text,
            msg_id=msg_id or uuid.uuid4().hex,
        )
        return self.services.dispatcher.handle(event)

    def say(self, text: str, **kw: Any) -> str:
        """Return what the member sees at once in answer to `text`."""
        return str(self.send(text, **kw).passive_text)

    def at(self, when: Any) -> Any:
        self.clock.set(when)
        return self

    def later(self, seconds: float) -> Any:
        self.clock.advance(seconds=seconds)
        return self

    def outbox(self) -> list[Any]:
        """Every queued message, oldest first."""
        from sqlalchemy import select

        from models import OutboxMessage

        with self.services.session_factory() as session:
            return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    def sent_to(self, target: str) -> list[str]:
        """The texts queued for `target` (a chat or a user), oldest first."""
        return [str(row.payload["content"]) for row in self.outbox() if row.target == target]

    def balance(self, user: str) -> tuple[int, int]:
        """The member's (balance, earned) points."""
        from models import ledger

        with self.services.session_factory() as session:
            return ledger.account_of(session, user)
