"""check-config says per customer group what members can do through 微信客服, and why not when they cannot."""

from __future__ import annotations

from typing import Any

from tests.factories import config_from, group_features

CUSTOMER = {"chat_id": "wrc1", "name": "客户1群", "kind": "customer", "guide": "guide01", "push": "customer_task"}
INTERNAL = {"chat_id": "wri1", "name": "内部群", "push": "console"}


def _config(**extra: Any) -> Any:
    data: dict[str, Any] = {
        "wecom": {"corp_id": "wwx", "secret": "s", "token": "t", "encoding_aes_key": "k" * 43},
        "outbox": {"transport": "wecom"},
        "roles": {"guides": ["guide01"]},
        "groups": [CUSTOMER, INTERNAL],
        **extra,
    }
    return config_from(data)


def _kf_line(config: Any, index: int = 0) -> Any:
    lines = [f for f in group_features(config, config.groups[index]) if f.feature.startswith("kf")]
    return lines[0] if lines else None


def test_a_customer_group_without_kf_accounts_is_told_members_cannot_use_the_bot() -> None:
    line = _kf_line(_config())
    assert line.state == "off" and "kf.accounts is empty" in line.why


def test_with_an_account_the_line_names_the_features_and_the_window_rule() -> None:
    line = _kf_line(_config(kf={"accounts": [{"open_kfid": "wk1", "name": "小助手"}]}))
    assert line.state == "live"
    assert "签到" in line.why and "48 hours" in line.why and "at most 5 messages" in line.why


def test_internal_groups_get_no_kf_line() -> None:
    assert _kf_line(_config(kf={"accounts": [{"open_kfid": "wk1", "name": "小助手"}]}), 1) is None
