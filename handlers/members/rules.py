"""群规: show a group's rules, and re-post them after every N new members (members.rules.remind_every)."""

from __future__ import annotations

from bot.context import Context
from bot.registry import command, on_event
from bot.replies import Reply
from handlers.members.config import MEMBERS_SECTION
from handlers.members.group_info import find_chat, group_name, rules_text
from models.membership import count_joins_for_rules


@command("群规", aliases=["rules"], role="member", examples=[("群规", "群规")])
def show_rules(ctx: Context, args: str) -> str:
    """查看本群群规（私聊时可写群名：群规 群名）。"""
    chat_id = ctx.chat.chat_id if ctx.chat else None
    wanted = args.strip()
    if chat_id is None and wanted:
        chat_id = find_chat(ctx, wanted)
        if chat_id is None:
            return ctx.text("members_unknown_group", name=wanted)
    rules = rules_text(ctx, chat_id)
    return ctx.text("rules_show", group=group_name(ctx, chat_id), rules=rules) if chat_id else rules


@on_event("change_external_chat")
def remind_rules(ctx: Context) -> Reply | None:
    """Re-post the rules to the group once every `remind_every.members` newcomers."""
    every = MEMBERS_SECTION.of(ctx.config).rules.remind_every.members
    if not every or not ctx.membership.joined or ctx.chat is None or ctx.config.group(ctx.chat.chat_id) is None:
        return None
    chat_id = ctx.chat.chat_id
    if not count_joins_for_rules(ctx.session, chat_id, len(ctx.membership.joined), every):
        return None
    return Reply(ctx.text("rules_reminder", rules=rules_text(ctx, chat_id)), to_chat=chat_id)
