"""`groupbot check-config` says how group-buys work in each group and how members hear of them."""

from __future__ import annotations

from pathlib import Path

from tests.bot.test_features import CUSTOMER, TEAM, features


def test_internal_group_with_a_webhook_runs_group_buys_live(tmp_path: Path) -> None:
    state = features(tmp_path, {**TEAM, "webhook_key": "k-123"})["团长群"]["group-buy"]
    assert state.startswith("live - signups by @ the bot")
    assert "for WeChat customers (wm…/wo…) by 微信客服 while their 48-hour window is open" in state
    assert "else their guide gets the note" in state


def test_customer_group_takes_signups_one_to_one(tmp_path: Path) -> None:
    state = features(tmp_path, CUSTOMER)["福利群"]["group-buy"]
    assert state.startswith("degraded - members sign up 1:1 by 团号; guides open deals 1:1 with 群=福利群")
    assert "confirms in WeCom" in state


def test_without_a_callback_group_buys_are_off(tmp_path: Path) -> None:
    state = features(tmp_path, {**TEAM, "webhook_key": "k-123"}, aibot={})["团长群"]["group-buy"]
    assert state.startswith("off - the aibot callback is not configured")
