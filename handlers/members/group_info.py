"""What welcome, 群规 and 成员 say about a group: its shown name and its rules, from YAML or discovered."""

from __future__ import annotations

from bot.context import Context
from models.membership import find_group_by_name, group_known, group_name_of


def group_name(ctx: Context, chat_id: str) -> str:
    """Return the name to show for `chat_id`: the YAML name, a discovered name, else a stand-in (never the id)."""
    group = ctx.config.group(chat_id)
    if group is not None:
        return group.name
    return group_name_of(ctx.session, chat_id) or ctx.text("group_stand_in")


def rules_text(ctx: Context, chat_id: str | None) -> str:
    """Return the group's rules: its own `rules:` override, else texts.rules_default."""
    group = ctx.config.group(chat_id)
    name = group_name(ctx, chat_id) if chat_id else ""
    if group is not None and group.rules:
        return group.rules.format_map({"group": name})
    return ctx.text("rules_default")


def find_chat(ctx: Context, wanted: str) -> str | None:
    """Return the chat id a guide means by `wanted`: a configured name or chat id, or a discovered one."""
    for group in ctx.config.groups:
        if wanted in (group.name, group.chat_id):
            return group.chat_id
    if group_known(ctx.session, wanted):
        return wanted
    return find_group_by_name(ctx.session, wanted)
