"""Handler registration: `@command` for chat commands, `@on_event` for WeCom events, `@on_text` for free text."""

from __future__ import annotations

import inspect
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.config import Config, Role

HandlerResult = Any  # a Reply, a str, a list of them, or None
CommandFunc = Callable[..., HandlerResult]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    aliases: tuple[str, ...]
    role: Role
    func: CommandFunc
    summary: str
    examples: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ResolvedCommand:
    """A command as the current config presents it: renamed, re-aliased, re-roled."""

    spec: CommandSpec
    name: str
    aliases: tuple[str, ...]
    role: Role
    summary: str


@dataclass
class Registry:
    commands: dict[str, CommandSpec] = field(default_factory=dict)
    event_handlers: dict[str, list[Callable[..., HandlerResult]]] = field(default_factory=dict)
    text_handlers: list[tuple[int, Callable[..., HandlerResult]]] = field(default_factory=list)

    def command(
        self,
        name: str,
        *,
        aliases: Sequence[str] = (),
        role: Role = "member",
        examples: Iterable[tuple[str, str]] = (),
    ) -> Callable[[CommandFunc], CommandFunc]:
        """Register `func(ctx, args)` as the chat command `name`; its first docstring line is its help."""

        def register(func: CommandFunc) -> CommandFunc:
            if name in self.commands:
                raise ValueError(f"command {name!r} is registered twice")
            summary = (inspect.getdoc(func) or "").splitlines()[0] if func.__doc__ else ""
            self.commands[name] = CommandSpec(name, tuple(aliases), role, func, summary, tuple(examples))
            return func

        return register

    def on_event(self, name: str) -> Callable[[CommandFunc], CommandFunc]:
        """Register `func(ctx)` to react to the normalised event `name`."""

        def register(func: CommandFunc) -> CommandFunc:
            self.event_handlers.setdefault(name, []).append(func)
            return func

        return register

    def on_text(self, priority: int = 100) -> Callable[[CommandFunc], CommandFunc]:
        """Register `func(ctx)` for text that is no command; lower priority runs first, None passes on."""

        def register(func: CommandFunc) -> CommandFunc:
            self.text_handlers.append((priority, func))
            self.text_handlers.sort(key=lambda item: item[0])
            return func

        return register

    def resolved(self, config: Config) -> list[ResolvedCommand]:
        """Return the enabled commands with the config's renames applied."""
        out = []
        for spec in self.commands.values():
            override = config.commands.get(spec.name)
            if override is not None and not override.enabled:
                continue
            out.append(
                ResolvedCommand(
                    spec=spec,
                    name=(override.name if override and override.name else spec.name),
                    aliases=tuple(override.aliases) if override and override.aliases is not None else spec.aliases,
                    role=(override.role if override and override.role else spec.role),
                    summary=(override.help if override and override.help else spec.summary),
                )
            )
        return out

    def command_table(self, config: Config) -> dict[str, ResolvedCommand]:
        """Map every command word (case-folded) to its command; a word used twice is a config error."""
        table: dict[str, ResolvedCommand] = {}
        for command in self.resolved(config):
            for word in (command.name, *command.aliases):
                # The same folding as the router's lookup (bot.router.normalise_word): width and case.
                key = unicodedata.normalize("NFKC", word).casefold()
                if key in table and table[key].spec is not command.spec:
                    other = table[key].spec.name
                    raise CommandWordClash(
                        f"command word {word!r} is used by both {other!r} and {command.spec.name!r}",
                        command.spec.name,
                    )
                table[key] = command
        return table


class CommandWordClash(ValueError):
    def __init__(self, message: str, command: str):
        super().__init__(message)
        self.config_path = ("commands", command)


# The registry the shipped handlers register into; tests may build their own.
REGISTRY = Registry()
command = REGISTRY.command
on_event = REGISTRY.on_event
on_text = REGISTRY.on_text
