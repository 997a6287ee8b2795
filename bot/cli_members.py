"""`groupbot groups`: every group the YAML lists or the bot has heard of, with its member figures."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import timedelta

import click

from bot.clock import SystemClock
from models.db import make_engine, make_session_factory
from models.membership import change_counts, known_groups, member_count


@dataclass(frozen=True)
class GroupLine:
    chat_id: str
    name: str
    kind: str
    members: int
    joined_7d: int
    left_7d: int
    configured: bool
    push: str
    guide: str
    dismissed: bool
    warning: str


def register(main: click.Group) -> None:
    """Add the `groups` command to `main`."""
    from bot.cli import _load, _require_migrated, config_option

    @main.command("groups")
    @config_option
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per group.")
    def groups(config_path: str, as_json: bool) -> None:
        """List configured and discovered groups: members now, joined and left in the last 7 days."""
        config = _load(config_path)
        engine = make_engine(config.database_url)
        try:
            _require_migrated(engine, config_path)
            now = SystemClock().now()
            with make_session_factory(engine)() as session:
                heard = {group.chat_id: group for group in known_groups(session)}
                chat_ids = [g.chat_id for g in config.groups] + [c for c in heard if config.group(c) is None]
                lines = []
                for chat_id in chat_ids:
                    configured = config.group(chat_id)
                    seen = heard.get(chat_id)
                    joined, left = change_counts(session, chat_id, since=now - timedelta(days=7), until=now)
                    warning = ""
                    if configured is not None and configured.push == "webhook" and not configured.webhook_key:
                        warning = "push: webhook but webhook_key is empty; messages to this group fail until it is set"
                    elif configured is None:
                        warning = "not in groups: (add it to give it a name, guide and push)"
                    lines.append(
                        GroupLine(
                            chat_id=chat_id,
                            name=configured.name if configured else (seen.name if seen and seen.name else ""),
                            kind=configured.kind if configured else "unknown",
                            members=member_count(session, chat_id),
                            joined_7d=joined,
                            left_7d=left,
                            configured=configured is not None,
                            push=configured.push if configured else "",
                            guide=(configured.guide or "") if configured else "",
                            dismissed=bool(seen and seen.dismissed_at),
                            warning=warning,
                        )
                    )
        finally:
            engine.dispose()
        for line in lines:
            if as_json:
                click.echo(json.dumps(asdict(line), ensure_ascii=False))
                continue
            status = "configured" if line.configured else "discovered"
            click.echo(
                f"{line.name or '-'} ({line.chat_id})  {line.kind}  {status}"
                + (f"  push={line.push}" if line.push else "")
                + (f"  guide={line.guide}" if line.guide else "")
                + f"  members={line.members}  7d: +{line.joined_7d} -{line.left_7d}"
                + ("  DISMISSED" if line.dismissed else "")
                + (f"  ({line.warning})" if line.warning else "")
            )
        if not lines and not as_json:
            click.echo("no groups configured or heard of yet")
