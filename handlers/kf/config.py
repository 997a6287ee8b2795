"""The `kf:` section: 微信客服 accounts, the welcome menu, the link scene and how often to pull."""

from __future__ import annotations

import hashlib
import re

from pydantic import Field, field_validator

from bot.config.base import ConfigValueError, Strict, require_unique
from bot.registry import Section

# kf/add_contact_way: scene is at most 32 bytes of [0-9a-zA-Z_-] (https://developer.work.weixin.qq.com/document/path/94665).
SCENE = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
# A menu item's id comes back in the customer's click; WeCom allows 1–128 bytes (send_msg, msgmenu).
MENU_ID = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")
# Ids the bot gives its own menus (group choice); a configured item may not use the prefix.
GROUP_CHOICE_PREFIX = "kfg."


class KfAccount(Strict):
    # The account's open_kfid (wk…), from 微信客服 → 客服账号, or `kf/account/list`.
    open_kfid: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=32)


class KfMenuItem(Strict):
    # What the click sends back (stable: change the label freely, keep the id).
    id: str
    # What the customer sees on the button.
    label: str = Field(min_length=1, max_length=32)
    # The command the click runs, as the customer would type it (e.g. 签到, 积分, 我的团购).
    command: str = Field(min_length=1, max_length=64)

    @field_validator("id")
    @classmethod
    def _plain_id(cls, value: str) -> str:
        if not MENU_ID.match(value) or value.startswith(GROUP_CHOICE_PREFIX):
            raise ConfigValueError(
                f"menu id {value!r}: 1–64 ASCII letters, digits, '_', '-' or '.', not starting {GROUP_CHOICE_PREFIX!r}"
            )
        return value


def _default_menu() -> list[KfMenuItem]:
    return [
        KfMenuItem(id="checkin", label="签到", command="签到"),
        KfMenuItem(id="points", label="我的积分", command="积分"),
        KfMenuItem(id="deals", label="我的团购", command="我的团购"),
        KfMenuItem(id="rules", label="群规", command="群规"),
        KfMenuItem(id="help", label="帮助", command="帮助"),
    ]


class KfConfig(Strict):
    accounts: list[KfAccount] = Field(default_factory=list)
    # The buttons under the welcome (and under 按钮); at most 10, WeCom's msgmenu limit.
    menu: list[KfMenuItem] = Field(default_factory=_default_menu, max_length=10)
    # The scene kf/add_contact_way is asked for; each customer group's link adds its own scene_param.
    link_scene: str = "group"
    # How many messages one kf/sync_msg page asks for (WeCom's maximum is 1000).
    pull_limit: int = Field(default=1000, ge=1, le=1000)
    # Pull every account this often even without a callback (a missed callback loses nothing).
    poll_seconds: int = Field(default=60, ge=5, le=3600)

    @field_validator("link_scene")
    @classmethod
    def _scene(cls, value: str) -> str:
        if not SCENE.match(value):
            raise ConfigValueError("link_scene: 1–32 ASCII letters, digits, '_' or '-' (WeCom's rule for scene)")
        return value

    @field_validator("accounts")
    @classmethod
    def _unique_accounts(cls, value: list[KfAccount]) -> list[KfAccount]:
        return list(require_unique(value, lambda a: a.open_kfid, "kf account", "open_kfid"))

    @field_validator("menu")
    @classmethod
    def _unique_items(cls, value: list[KfMenuItem]) -> list[KfMenuItem]:
        return list(require_unique(value, lambda item: item.id, "menu item", "id"))

    @property
    def enabled(self) -> bool:
        return bool(self.accounts)

    def item(self, item_id: str) -> KfMenuItem | None:
        return next((item for item in self.menu if item.id == item_id), None)

    def account(self, open_kfid: str | None = None) -> KfAccount | None:
        """The named account, or the first one."""
        if open_kfid is None:
            return self.accounts[0] if self.accounts else None
        return next((a for a in self.accounts if a.open_kfid == open_kfid), None)


def scene_param(chat_id: str) -> str:
    """The scene_param a customer group's link carries: a digest, so the link shows no chat id."""
    return "g" + hashlib.sha256(chat_id.encode("utf-8")).hexdigest()[:15]


KF_SECTION = Section("kf", KfConfig, KfConfig)
