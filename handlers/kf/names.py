"""Customers' WeChat nicknames from kf/customer/batchget, so notes to staff name a customer, not an opaque id.

WeCom's rules (https://developer.work.weixin.qq.com/document/path/96429, 获取客户基础信息): 1 to 100
external_userids a call, and only customers who entered a session or wrote within 48 hours; any other id
comes back in invalid_external_userid. A customer being handled has just written, so they qualify.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.outbox import is_external
from bot.text import storable
from bot.transports.base import DeliveryError
from bot.wecom.api import WecomApi
from models.base import width
from models.membership import Person, display_names, set_display_name

log = logging.getLogger(__name__)

BATCHGET_MAX = 100


def learn_nicknames(
    api: WecomApi, session_factory: sessionmaker[Session], user_ids: Iterable[str], now: datetime
) -> int:
    """Ask WeCom for the nicknames of the WeChat customers here the bot has no name for; return how many it learned.

    A failed lookup only logs: the messages are handled all the same, and the next message from the
    customer asks again.
    """
    wanted = sorted({user for user in user_ids if is_external(user)})
    if not wanted:
        return 0
    with session_factory() as session:
        unnamed = [user for user, name in display_names(session, wanted).items() if name == user]
    learned = 0
    for start in range(0, len(unnamed), BATCHGET_MAX):
        chunk = unnamed[start : start + BATCHGET_MAX]
        try:
            answer = api.call("kf/customer/batchget", {"external_userid_list": chunk})
        except DeliveryError as exc:
            log.warning(
                "kf: looking up %d customers' nicknames failed (%s); notes to staff show their ids until one succeeds",
                len(chunk),
                exc,
            )
            return learned
        names = {
            str(customer.get("external_userid")): storable(str(customer.get("nickname") or "")).strip()
            for customer in answer.get("customer_list") or []
            if isinstance(customer, dict)
        }
        with session_factory.begin() as session:
            for user, nickname in names.items():
                if user in chunk and nickname:
                    set_display_name(session, user, nickname[: width(Person.display_name)], now)
                    learned += 1
    return learned
