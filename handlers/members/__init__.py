"""Members: who is in which group, welcomes with the group rules, rules reminders, 成员, customer-group sync."""

from __future__ import annotations

from bot.registry import Capability
from handlers.members import observe, report, rules, welcome
from handlers.members.cli import groups, welcome_cli
from handlers.members.config import MEMBERS_SECTION
from handlers.members.features import member_features, native_welcome_lines
from handlers.members.group_sync import start_background_sync

CAPABILITY = Capability(
    name="members",
    modules=(observe, welcome, rules, report),
    section=MEMBERS_SECTION,
    texts="handlers.members",
    cli=(groups, welcome_cli),
    features=(member_features,),
    workers=(start_background_sync,),
    check_lines=(native_welcome_lines,),
    # The welcome may offer the customer group's 微信客服 link (empty, and its line dropped, without one).
    text_placeholders=(("welcome_default", "kf_link"),),
)
