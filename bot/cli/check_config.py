"""`groupbot check-config`: validate the file and say, per group, what WeCom lets each feature do."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.common import config_option, current_registry, load_or_exit, safe_url
from bot.config.core import Config
from bot.config.guard import read_held
from bot.features import group_features
from bot.registry import Registry
from bot.text import fold


@click.command("check-config")
@config_option
def check_config(config_path: str) -> None:
    """Validate the config file and say what each channel will do."""
    config = load_or_exit(config_path)
    registry = current_registry()
    click.echo(f"{config_path}: OK")
    click.echo(f"  timezone: {config.timezone}")
    click.echo(f"  database: {safe_url(config.database_url)}")
    app_state = (
        "ready"
        if config.wecom.callback_ready
        else "not configured: answers 503 (set wecom.corp_id, token, encoding_aes_key)"
    )
    aibot_state = (
        "ready" if config.aibot.callback_ready else "not configured: answers 503 (set aibot.token, encoding_aes_key)"
    )
    click.echo(f"  app callback /wecom/callback: {app_state}")
    click.echo(f"  aibot callback /wecom/aibot: {aibot_state}")
    click.echo(f"  outbox transport: {config.outbox.transport}")
    click.echo(f"  admins: {len(config.roles.admins)}, guides: {len(config.roles.guides)}")
    for command in registry.resolved(config):
        aliases = f" ({', '.join(command.aliases)})" if command.aliases else ""
        click.echo(f"  command {command.name}{aliases}: {command.role}")
    click.echo(f"  keyword rules: {len(config.keywords)}")
    shadowed = sorted(_keywords_shadowed_by_commands(config, registry))
    for word in shadowed:
        click.echo(f"  keyword {word!r} never answers: the command of that name is matched first")
    if not config.groups:
        click.echo("  groups: none listed (chats the bot hears of are recorded as discovered)")
    for group in config.groups:
        click.echo(f"  group {group.name} ({group.chat_id}, {group.kind}, push {group.push}):")
        for feature in group_features(config, group, registry.feature_lines()):
            click.echo(f"    {feature.feature}: {feature.state} - {feature.why}")
    for line in registry.check_lines(config, Path(config_path)):
        click.echo(line)
    held = read_held(Path(config_path))
    if held is not None:
        click.echo(f"  held back by the running service: {held.describe()}")


def _keywords_shadowed_by_commands(config: Config, registry: Registry) -> set[str]:
    """Exact keyword words that are also command words: the command always wins, so the keyword is dead."""
    words = (word for command in registry.resolved(config) for word in (command.name, *command.aliases))
    names = {fold(word) for word in words}
    exact = (word for rule in config.keywords if rule.mode == "exact" for word in rule.match)
    return {word for word in exact if fold(word) in names}
