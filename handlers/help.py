"""帮助: list the commands the asker may use, or explain one."""

from __future__ import annotations

from bot.config.core import ROLE_RANK
from bot.context import Context
from bot.registry import ResolvedCommand, command, on_event
from bot.text import fold


@command("帮助", aliases=["help", "?"], role="member", examples=[("帮助", "帮助"), ("帮助 帮助", "帮助：")])
def show_help(ctx: Context, args: str) -> str:
    """查看我能做什么，或某个指令的用法（帮助 指令名）。"""
    commands = ctx.registry.resolved(ctx.config)
    if args:
        wanted = fold(args.split()[0])
        for cmd in commands:
            if wanted in {fold(w) for w in (cmd.name, *cmd.aliases)}:
                return _detail(ctx, cmd)
        return ctx.text("help_unknown", name=args.split()[0])

    visible = [c for c in commands if ROLE_RANK[ctx.member.role] >= ROLE_RANK[c.role]]
    lines = [ctx.text("help_header")]
    for cmd in visible:
        aliases = f"（{'、'.join(cmd.aliases)}）" if cmd.aliases else ""
        lines.append(ctx.text("help_line", name=cmd.name, aliases=aliases, summary=cmd.summary))
    lines.append(ctx.text("help_footer"))
    return "\n".join(lines)


def _detail(ctx: Context, cmd: ResolvedCommand) -> str:
    aliases = "、".join(cmd.aliases) if cmd.aliases else ctx.text("help_no_aliases")
    return ctx.text(
        "help_detail", name=cmd.name, summary=cmd.summary, aliases=aliases, role=ctx.text(f"role_{cmd.role}")
    )


@on_event("enter_chat")
def greet(ctx: Context) -> str:
    """Answer a member opening the 1:1 chat with the bot: a welcome and what they can ask."""
    return ctx.text("aibot_welcome") + "\n" + show_help(ctx, "")
