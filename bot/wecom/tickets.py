"""JS-SDK jsapi tickets and signatures, and OAuth2's code → userid, for the pages guides open in WeCom.

Tickets are cached in the database beside the access token (one row each, one refresher at a time by
lease), so twenty pages loading at once fetch a ticket once: WeCom allows a corp 400 ticket fetches an
hour and an app 100 (developer.work.weixin.qq.com/document/path/90506).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from bot.transports.base import DeliveryError
from bot.wecom.api import TOKEN_MARGIN, WecomApi
from models import wecom_token

# get_jsapi_ticket: the corp's ticket, for wx.config; ticket/get?type=agent_config: the app's, for agentConfig.
CORP_TICKET = "get_jsapi_ticket"
AGENT_TICKET = "ticket/get"


@dataclass(frozen=True)
class Signature:
    timestamp: int
    nonce_str: str
    signature: str

    def as_json(self) -> dict[str, object]:
        # The shape ww.register's getConfigSignature / getAgentConfigSignature resolve to.
        return {"timestamp": self.timestamp, "nonceStr": self.nonce_str, "signature": self.signature}


def sign(ticket: str, url: str, *, nonce_str: str, timestamp: int) -> str:
    """WeCom's JS-SDK signature: sha1 of the four fields in this order, raw values, the URL without its #part.

    developer.work.weixin.qq.com/document/path/90506 (JS-SDK使用权限签名算法).
    """
    page = url.split("#", 1)[0]
    string1 = f"jsapi_ticket={ticket}&noncestr={nonce_str}&timestamp={timestamp}&url={page}"
    return hashlib.sha1(string1.encode("utf-8")).hexdigest()


class Tickets:
    """The corp's and the app's jsapi tickets, shared by every process through the token table."""

    def __init__(self, api: WecomApi, *, lease: float = 15.0, sleep: float = 0.05):
        self._api = api
        self._lease = timedelta(seconds=lease)
        self._sleep = sleep
        base = api.cache_key
        self._keys = {CORP_TICKET: "jsapi:corp:" + base[-32:], AGENT_TICKET: "jsapi:agent:" + base[-32:]}

    def signature(self, url: str, *, agent: bool) -> Signature:
        """Sign `url` with the app's ticket (agentConfig) or the corp's (config)."""
        ticket = self.ticket(AGENT_TICKET if agent else CORP_TICKET)
        nonce = secrets.token_hex(8)
        now = int(self._api.now().timestamp())
        return Signature(now, nonce, sign(ticket, url, nonce_str=nonce, timestamp=now))

    def ticket(self, kind: str) -> str:
        """Return a valid ticket of `kind`, fetching it only when no process holds a fresh one."""
        key = self._keys[kind]
        factory = self._api.session_factory
        deadline = time.monotonic() + self._lease.total_seconds() + self._api.timeout
        while True:
            now = self._api.now()
            with factory.begin() as session:
                found = wecom_token.valid_token(session, key, now)
                if found:
                    return found[0]
                leased = wecom_token.take_refresh_lease(session, key, now, self._lease)
            if leased:
                return self._fetch(kind, key)
            if time.monotonic() > deadline:
                raise DeliveryError("another process is still fetching the jsapi ticket", transient=True)
            time.sleep(self._sleep)

    def _fetch(self, kind: str, key: str) -> str:
        factory = self._api.session_factory
        try:
            params = {"type": "agent_config"} if kind == AGENT_TICKET else {}
            result = self._api.get(kind, params)
            ticket = str(result["ticket"])
        except BaseException:
            with factory.begin() as session:
                wecom_token.release_lease(session, key)
            raise
        expires_at = self._api.now() + timedelta(seconds=int(result.get("expires_in", 7200))) - TOKEN_MARGIN
        with factory.begin() as session:
            wecom_token.store_token(session, key, ticket, expires_at)
        return ticket


def user_for_code(api: WecomApi, code: str) -> str | None:
    """Exchange an OAuth2 code for the staff member's userid; None for a non-member (a WeChat user).

    auth/getuserinfo answers `userid` for members of the corp and `openid` otherwise; a code works once
    and for five minutes (developer.work.weixin.qq.com/document/path/98177).
    """
    result = api.get("auth/getuserinfo", {"code": code})
    user = result.get("userid") or result.get("UserId")
    return str(user) if user else None
