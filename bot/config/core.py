"""The admin's YAML file as typed, validated settings (pydantic v2; unknown keys are errors)."""

from __future__ import annotations

import base64
import binascii
import string
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from bot.config.base import ConfigValueError, Strict
from bot.config.fill import fill
from bot.config.outbound import OutboundConfig, check_reclaim_after
from bot.config.web import WebConfig

Role = Literal["member", "guide", "admin"]
ROLE_RANK: dict[str, int] = {"member": 0, "guide": 1, "admin": 2}
DEFAULT_DATABASE_URL = "sqlite:///groupbot.db"
DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"
# What a group's own welcome and rules templates may fill in.
WELCOME_PLACEHOLDERS = frozenset({"names", "group", "rules", "kf_link"})
RULES_PLACEHOLDERS = frozenset({"group"})


def _check_aes_key(value: str) -> str:
    # WeCom's EncodingAESKey is 43 base64 characters that decode, with one '=' added, to 32 bytes.
    if not value:
        return value
    try:
        decoded = base64.b64decode(value + "=", validate=True)
    except binascii.Error:
        decoded = b""
    if len(value) != 43 or len(decoded) != 32:
        raise ValueError("EncodingAESKey must be the 43 characters shown in the WeCom admin console")
    return value


class WecomConfig(Strict):
    corp_id: str = ""
    agent_id: str = ""
    secret: str = ""
    token: str = ""
    encoding_aes_key: str = ""
    api_base: str = DEFAULT_API_BASE
    # Both callback URLs refuse a signed request dated further than this from now (WeCom retries within seconds).
    max_clock_skew_seconds: int = Field(default=600, ge=5, le=86_400)

    _aes = field_validator("encoding_aes_key")(_check_aes_key)

    @field_validator("agent_id", mode="before")
    @classmethod
    def _agent_id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @property
    def callback_ready(self) -> bool:
        """Tell whether the self-built app callback can verify and decrypt requests."""
        return bool(self.corp_id and self.token and self.encoding_aes_key)


class AibotConfig(Strict):
    # callback: WeCom posts to /wecom/aibot (needs a public URL, token and key); websocket: one process keeps
    # WeCom's long connection (bot_id and secret; no public URL) and the bot can also push into its chats.
    mode: Literal["callback", "websocket"] = "callback"
    token: str = ""
    encoding_aes_key: str = ""
    bot_id: str = ""
    secret: str = ""
    ws_url: str = "wss://openws.work.weixin.qq.com"
    heartbeat_seconds: float = Field(default=30.0, ge=1, le=300)
    # The database lease that makes one process the holder; a standby takes over once it lapses.
    lease_seconds: float = Field(default=60.0, ge=3, le=3600)
    # After WeCom's disconnected_event (another connection subscribed with this bot) wait this long before
    # trying again, so two deployments of the same bot do not take it from each other in a storm.
    replaced_wait_seconds: float = Field(default=300.0, ge=1)

    _aes = field_validator("encoding_aes_key")(_check_aes_key)

    @model_validator(mode="after")
    def _websocket_needs_credentials(self) -> AibotConfig:
        if self.mode == "websocket" and not (self.bot_id and self.secret):
            raise ConfigValueError("mode websocket needs bot_id and secret (智能机器人 → API 模式 → 长连接)", "mode")
        return self

    @property
    def websocket_ready(self) -> bool:
        """Tell whether the long connection can subscribe."""
        return self.mode == "websocket" and bool(self.bot_id and self.secret)

    @property
    def callback_ready(self) -> bool:
        """Tell whether the intelligent-robot callback can verify and decrypt requests."""
        return bool(self.token and self.encoding_aes_key)


GuideScope = Literal["own", "all"]


class RolesConfig(Strict):
    admins: list[str] = Field(default_factory=list)
    guides: list[str] = Field(default_factory=list)
    # own: a guide acts only in the groups that name them as `guide:` and on those groups' members;
    # all: every guide acts everywhere, as admins do.
    guide_scope: GuideScope = "own"
    # Whether guides and admins appear on members' boards (活跃榜) and in member counts.
    staff_on_boards: bool = False

    @property
    def staff(self) -> frozenset[str]:
        """Every guide and admin."""
        return frozenset(self.admins) | frozenset(self.guides)

    def role_of(self, user_id: str | None) -> Role:
        """Return the highest role the YAML gives this WeCom userid."""
        if user_id and user_id in self.admins:
            return "admin"
        if user_id and user_id in self.guides:
            return "guide"
        return "member"


class KeywordRule(Strict):
    match: list[str] = Field(min_length=1)
    mode: Literal["contains", "exact"] = "contains"
    reply: str = Field(min_length=1)
    # Also tell the member's guide (1:1), for replies that promise a person will follow up (客服/人工).
    notify_guide: bool = False

    @field_validator("match")
    @classmethod
    def _no_blank_words(cls, words: list[str]) -> list[str]:
        if any(not word.strip() for word in words):
            raise ValueError("keywords must not be blank")
        return words


class CommandOverride(Strict):
    name: str | None = None
    aliases: list[str] | None = None
    role: Role | None = None
    enabled: bool = True
    help: str | None = None


class OutboxConfig(Strict):
    transport: Literal["console", "wecom"] = "console"
    poll_seconds: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=50, ge=1, le=1000)
    max_attempts: int = Field(default=8, ge=1)
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=600.0, gt=0)
    reclaim_after_seconds: float = Field(default=120.0, gt=0)


GroupKind = Literal["internal", "customer"]
PushTransport = Literal["webhook", "appchat", "aibot", "customer_task", "console"]
# How a customer group's content reaches it: the guide sends it from the chat-toolbar page (sidebar), a
# customer task the guide confirms (task), or the sidebar first and a task after web.sidebar_grace_minutes.
Delivery = Literal["sidebar", "task", "sidebar_then_task"]


class GroupConfig(Strict):
    """One WeCom group the bot serves: who owns it and how messages reach it."""

    chat_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    kind: GroupKind = "internal"
    tags: list[str] = Field(default_factory=list)
    guide: str | None = None
    # How proactive messages (welcomes, pushes, results) reach this group.
    push: PushTransport = "console"
    webhook_key: str = ""
    # Customer groups only: whether content waits for the guide's sidebar before (or instead of) a task.
    delivery: Delivery = "sidebar_then_task"
    welcome: str | None = None
    rules: str | None = None


class Texts(BaseModel):
    """Every sentence the bot says: packaged defaults overlaid with the admin's `texts:`."""

    model_config = ConfigDict(frozen=True)

    values: dict[str, str]

    def render(self, key: str, /, **fields: Any) -> str:
        """Fill the template `key` with `fields` (a line whose only field, {kf_link}, is empty is dropped)."""
        return fill(self.values[key], fields)


def placeholders(template: str) -> set[str]:
    """Return the `{names}` a template uses."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


class Config(Strict):
    timezone: str = "Asia/Shanghai"
    database_url: str = DEFAULT_DATABASE_URL
    wecom: WecomConfig = Field(default_factory=WecomConfig)
    aibot: AibotConfig = Field(default_factory=AibotConfig)
    roles: RolesConfig = Field(default_factory=RolesConfig)
    texts: Texts = Field(default=None, validate_default=True)
    keywords: list[KeywordRule] = Field(default_factory=list)
    commands: dict[str, CommandOverride] = Field(default_factory=dict)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    outbound: OutboundConfig = Field(default_factory=OutboundConfig)
    groups: list[GroupConfig] = Field(default_factory=list)
    web: WebConfig = Field(default_factory=WebConfig)
    # Capabilities add their sections (members, points, quiz …) to a subclass the registry composes;
    # their checks that need the whole config run here, after every field is valid.
    section_checks: ClassVar[tuple[Callable[[Config], object], ...]] = ()
    # How much each guarded part of a section holds (a reload that empties one is held back).
    section_guards: ClassVar[dict[str, Callable[[Config], int]]] = {}

    _reclaim_fits_send = model_validator(mode="after")(check_reclaim_after)

    @model_validator(mode="after")
    def _run_section_checks(self) -> Config:
        for check in self.section_checks:
            check(self)
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
        return value

    @field_validator("texts", mode="before")
    @classmethod
    def _overlay_texts(cls, value: Any, info: ValidationInfo) -> Any:
        defaults: dict[str, str] = (info.context or {}).get("default_texts", {})
        # Placeholders a text may use beyond its default's (e.g. {kf_link} in welcome_default).
        extra: Mapping[str, frozenset[str]] = (info.context or {}).get("text_placeholders", {})
        given = value or {}
        if isinstance(given, Texts):
            return given
        if not isinstance(given, dict):
            raise ValueError("texts must be a mapping of text key to sentence")
        for key, text in given.items():
            if key not in defaults:
                raise ConfigValueError("unknown text key", key)
            if not isinstance(text, str):
                raise ConfigValueError("a text must be a string", key)
            allowed_names = placeholders(defaults[key]) | extra.get(key, frozenset())
            unknown = placeholders(text) - allowed_names
            if unknown:
                allowed = ", ".join(sorted("{" + p + "}" for p in allowed_names)) or "none"
                raise ConfigValueError(f"unknown placeholder(s) {', '.join(sorted(unknown))}; allowed: {allowed}", key)
        return {"values": {**defaults, **given}}

    @field_validator("commands")
    @classmethod
    def _known_commands(cls, value: dict[str, CommandOverride], info: ValidationInfo) -> dict[str, CommandOverride]:
        known: set[str] | None = (info.context or {}).get("command_names")
        if known is not None:
            for name in value:
                if name not in known:
                    raise ConfigValueError(f"unknown command (known: {', '.join(sorted(known))})", name)
        return value

    @field_validator("outbox")
    @classmethod
    def _wecom_needs_credentials(cls, outbox: OutboxConfig, info: ValidationInfo) -> OutboxConfig:
        # Caught here, the admin sees the line at check-config instead of a drainer dying at start.
        wecom = info.data.get("wecom")
        if outbox.transport == "wecom" and wecom is not None and not (wecom.corp_id and wecom.secret):
            raise ConfigValueError("transport wecom needs wecom.corp_id and wecom.secret (the app Secret)", "transport")
        return outbox

    @field_validator("groups")
    @classmethod
    def _unique_chat_ids(cls, groups: list[GroupConfig], info: ValidationInfo) -> list[GroupConfig]:
        check_groups(groups, info.data.get("roles"))
        seen: set[str] = set()
        for index, group in enumerate(groups):
            if group.chat_id in seen:
                raise ConfigValueError(f"chat_id {group.chat_id!r} is listed twice", index, "chat_id")
            seen.add(group.chat_id)
        return groups

    @cached_property
    def groups_by_chat(self) -> dict[str, GroupConfig]:
        return {group.chat_id: group for group in self.groups}

    def group(self, chat_id: str | None) -> GroupConfig | None:
        """Return the configured group `chat_id`, or None for a chat the YAML does not list."""
        return self.groups_by_chat.get(chat_id) if chat_id else None

    def own_chats(self, user_id: str | None) -> frozenset[str] | None:
        """Return the groups `user_id` may act in: None for all of them (admins, or guide_scope all)."""
        role = self.roles.role_of(user_id)
        if role == "admin" or (role == "guide" and self.roles.guide_scope == "all"):
            return None
        if role == "member":
            return frozenset()
        return frozenset(group.chat_id for group in self.groups if group.guide == user_id)

    def may_act_in(self, user_id: str | None, chat_id: str | None) -> bool:
        """Tell whether `user_id` may act on things of group `chat_id` (a guide on their own groups only)."""
        own = self.own_chats(user_id)
        return own is None or (chat_id is not None and chat_id in own)

    @cached_property
    def zone(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)


def check_groups(groups: Sequence[GroupConfig], roles: RolesConfig | None) -> None:
    """Refuse groups whose guide is no staff member or whose push cannot reach that kind of group."""
    staff = set(roles.guides) | set(roles.admins) if roles is not None else None
    for index, group in enumerate(groups):
        if group.guide is not None and staff is not None and group.guide not in staff:
            raise ConfigValueError(
                f"guide {group.guide!r} is not listed under roles.guides or roles.admins", index, "guide"
            )
        if group.kind == "customer" and group.push not in ("customer_task", "console"):
            raise ConfigValueError(
                "WeCom lets no bot post in a customer group: use push: customer_task (the guide confirms) or console",
                index,
                "push",
            )
        if group.kind == "internal" and group.push == "customer_task":
            raise ConfigValueError("customer_task only reaches customer groups (kind: customer)", index, "push")
        if group.push == "customer_task" and group.guide is None:
            raise ConfigValueError(
                "a customer_task group needs a guide: the task is sent in their name", index, "guide"
            )
        if group.kind == "internal" and "delivery" in group.model_fields_set:
            raise ConfigValueError(
                "delivery only applies to customer groups: the bot posts in internal groups itself", index, "delivery"
            )
        if group.webhook_key and group.push != "webhook":
            raise ConfigValueError("webhook_key is only used with push: webhook", index, "webhook_key")
        for key, allowed in (("welcome", WELCOME_PLACEHOLDERS), ("rules", RULES_PLACEHOLDERS)):
            template = getattr(group, key)
            unknown = placeholders(template) - allowed if template else set()
            if unknown:
                shown = ", ".join("{" + name + "}" for name in sorted(allowed))
                raise ConfigValueError(
                    f"unknown placeholder(s) {', '.join('{' + n + '}' for n in sorted(unknown))}; allowed: {shown}",
                    index,
                    key,
                )
