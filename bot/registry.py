"""Capabilities and what they declare: chat commands, reactions, a config section, texts, CLI, jobs.

A capability is a package under `handlers/` (or `scheduler/`) whose `__init__` declares one
`Capability(...)`. Its modules mark functions with `@command`, `@on_event`, `@on_text` and
`@observer`; the `Registry` collects those from the declared modules and composes the config
model, the texts, the CLI, the deadline jobs and `check-config`'s feature lines. Only the
composition root (`bot.services`, the CLI entry, wsgi) knows the list of capabilities.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from pydantic import Field, create_model
from ruamel.yaml import YAML
from sqlalchemy.orm import Session, sessionmaker

from bot.config.core import Config, GroupConfig, Role
from bot.config.loader import load_config
from bot.text import fold

if TYPE_CHECKING:
    import click

    from bot.context import Observed
    from bot.events import Event
    from bot.features import FeatureState

HandlerResult = Any  # a Reply, a str, a list of them, or None
CommandFunc = Callable[..., HandlerResult]
T = TypeVar("T")

# Marks left on decorated functions; the registry reads them from a capability's modules.
_COMMAND = "__groupbot_command__"
_EVENT = "__groupbot_event__"
_TEXT = "__groupbot_text__"
_OBSERVER = "__groupbot_observer__"


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


def command(
    name: str, *, aliases: Sequence[str] = (), role: Role = "member", examples: Iterable[tuple[str, str]] = ()
) -> Callable[[CommandFunc], CommandFunc]:
    """Mark `func(ctx, args)` as the chat command `name`; its first docstring line is its help."""

    def mark(func: CommandFunc) -> CommandFunc:
        summary = (inspect.getdoc(func) or "").splitlines()[0] if func.__doc__ else ""
        setattr(func, _COMMAND, CommandSpec(name, tuple(aliases), role, func, summary, tuple(examples)))
        return func

    return mark


def on_event(name: str) -> Callable[[CommandFunc], CommandFunc]:
    """Mark `func(ctx)` as a reaction to the normalised event `name`."""

    def mark(func: CommandFunc) -> CommandFunc:
        setattr(func, _EVENT, name)
        return func

    return mark


def on_text(priority: int = 100) -> Callable[[CommandFunc], CommandFunc]:
    """Mark `func(ctx, text)` for text that is no command; lower priority runs first, None passes on."""

    def mark(func: CommandFunc) -> CommandFunc:
        setattr(func, _TEXT, priority)
        return func

    return mark


Observer = Callable[["Session", "Event", Config, datetime, "Observed"], "Observed"]


def observer(order: int = 100) -> Callable[[Observer], Observer]:
    """Mark `func(session, event, config, now, observed) -> observed`: runs on every event before routing.

    Observers see every event (commands, chat, joins) in the event's transaction; each gets what the
    ones before it observed and returns it, extended. Lower order runs first.
    """

    def mark(func: Observer) -> Observer:
        setattr(func, _OBSERVER, order)
        return func

    return mark


@dataclass(frozen=True)
class Section(Generic[T]):
    """A capability's top-level YAML key, its type, and the typed way to read it from a config."""

    key: str
    annotation: Any
    default_factory: Callable[[], T]
    # Checks that need the whole config (groups, roles); a ConfigValueError names the key path.
    checks: tuple[Callable[[Config], object], ...] = ()
    # Parts a half-written file would silently empty: (name below the key, how much it holds).
    guards: tuple[tuple[str, Callable[[T], int]], ...] = ()

    def of(self, config: Config) -> T:
        """Return this section of `config`."""
        return cast(T, getattr(config, self.key))


# A deadline job: `close(session_factory, config, now, enqueue) -> int` (how many it closed).
DeadlineJob = Callable[[sessionmaker[Session], Config, datetime], int]
FeatureLines = Callable[[Config, GroupConfig], "list[FeatureState]"]
SendHook = Callable[[Session, Config, Mapping[str, Any], datetime], "str | None"]
ProfileLines = Callable[[Session, Config, str], "list[tuple[str, str]]"]
MemberLinks = Callable[[Session, Config, str], "list[tuple[str, str]]"]
# What is planned for the next `days` local days: `(session, config, now, days) -> [(local time, chat_id,
# summary, already done)]`; the console shows it per group.
Upcoming = Callable[[Session, Config, datetime, int], "list[tuple[datetime, str, str, bool]]"]


@dataclass(frozen=True)
class Capability:
    """Everything one capability adds to the bot, declared once in its package's `__init__`."""

    name: str
    modules: tuple[ModuleType, ...] = ()
    section: Section[Any] | None = None
    texts: str | None = None  # a package holding texts.yaml, e.g. "handlers.groupbuy"
    # (text key, placeholder) pairs an admin's `texts:` may use beyond the default sentence's own,
    # e.g. ("welcome_default", "kf_link"): the capability fills it, the default does not show it.
    text_placeholders: tuple[tuple[str, str], ...] = ()
    cli: tuple[click.Command, ...] = ()
    reports: tuple[click.Command, ...] = ()  # joined under `groupbot report`
    deadlines: tuple[DeadlineJob, ...] = ()
    features: tuple[FeatureLines, ...] = ()
    # Threads that run beside the outbox drainer: `start(transport, session_factory, clock, stop_event)`.
    workers: tuple[Callable[..., Any], ...] = ()
    # Extra lines `check-config` prints after the groups: `lines(config, config_path)`.
    check_lines: tuple[Callable[[Config, Path], Iterable[str]], ...] = ()
    # Run as a guide sends a message by hand from the sidebar: `(name, hook)`, where
    # `hook(session, config, payload, now) -> str | None` may return the text to send instead.
    send_hooks: tuple[tuple[str, SendHook], ...] = ()
    # What the 1:1 sidebar shows about a customer: `profile(session, config, user_id) -> [(label, value)]`.
    profile: tuple[ProfileLines, ...] = ()
    # Links a guide may send a customer 1:1 (the group's kf link): `links(config, chat_id) -> [(label, url)]`.
    member_links: tuple[MemberLinks, ...] = ()
    # Planned posts the admin console lists per group (the content calendar's next days).
    upcoming: tuple[Upcoming, ...] = ()


def _guard_of(section: Section[Any], size: Callable[[Any], int]) -> Callable[[Config], int]:
    return lambda config: size(section.of(config))


def read_texts(package: str) -> dict[str, str]:
    """Return the sentences of `package`'s texts.yaml."""
    raw = resources.files(package).joinpath("texts.yaml").read_text(encoding="utf-8")
    return dict(YAML(typ="safe").load(raw) or {})


@dataclass
class Registry:
    """The commands, reactions and declarations of a set of capabilities."""

    capabilities: tuple[Capability, ...] = ()
    commands: dict[str, CommandSpec] = field(default_factory=dict)
    event_handlers: dict[str, list[CommandFunc]] = field(default_factory=dict)
    text_handlers: list[tuple[int, CommandFunc]] = field(default_factory=list)
    observers: list[tuple[int, Observer]] = field(default_factory=list)

    @classmethod
    def of(cls, capabilities: Iterable[Capability]) -> Registry:
        """Collect every marked function of every capability's modules."""
        registry = cls(capabilities=tuple(capabilities))
        names: set[str] = set()
        for capability in registry.capabilities:
            if capability.name in names:
                raise ValueError(f"capability {capability.name!r} is listed twice")
            names.add(capability.name)
            for module in capability.modules:
                registry.add_module(module)
        return registry

    def add_module(self, module: ModuleType) -> None:
        """Register the marked functions defined in `module`, in the order they are defined."""
        for value in list(vars(module).values()):
            if getattr(value, "__module__", None) != module.__name__:
                continue  # imported from elsewhere: registered by its own module
            self.add(value)

    def add(self, func: Callable[..., Any]) -> None:
        """Register one marked function."""
        spec = getattr(func, _COMMAND, None)
        if spec is not None:
            if spec.name in self.commands:
                raise ValueError(f"command {spec.name!r} is registered twice")
            self.commands[spec.name] = spec
        event = getattr(func, _EVENT, None)
        if event is not None:
            self.event_handlers.setdefault(event, []).append(func)
        priority = getattr(func, _TEXT, None)
        if priority is not None:
            self.text_handlers.append((priority, func))
            self.text_handlers.sort(key=lambda item: item[0])
        order = getattr(func, _OBSERVER, None)
        if order is not None:
            self.observers.append((order, func))
            self.observers.sort(key=lambda item: item[0])

    # A registry built by hand (tests, rehearsals) can take functions directly, marked and added at once.

    def command(
        self, name: str, *, aliases: Sequence[str] = (), role: Role = "member", examples: Iterable[tuple[str, str]] = ()
    ) -> Callable[[CommandFunc], CommandFunc]:
        """Mark and register `func(ctx, args)` as the chat command `name`."""
        return self._marking(command(name, aliases=aliases, role=role, examples=examples))

    def on_event(self, name: str) -> Callable[[CommandFunc], CommandFunc]:
        """Mark and register `func(ctx)` as a reaction to the event `name`."""
        return self._marking(on_event(name))

    def on_text(self, priority: int = 100) -> Callable[[CommandFunc], CommandFunc]:
        """Mark and register `func(ctx, text)` for text that is no command."""
        return self._marking(on_text(priority))

    def _marking(self, mark: Callable[[CommandFunc], CommandFunc]) -> Callable[[CommandFunc], CommandFunc]:
        def register(func: CommandFunc) -> CommandFunc:
            # Mark a wrapper, not `func`: the same handler may be registered in several registries.
            def handler(*args: Any, **kwargs: Any) -> HandlerResult:
                return func(*args, **kwargs)

            handler.__doc__, handler.__name__ = func.__doc__, func.__name__
            self.add(mark(handler))
            return func

        return register

    # ------------------------------------------------------------------ composition

    @cached_property
    def sections(self) -> tuple[Section[Any], ...]:
        return tuple(c.section for c in self.capabilities if c.section is not None)

    @cached_property
    def config_model(self) -> type[Config]:
        """The config model: the core settings plus every capability's section."""
        if not self.sections:
            return Config
        fields: dict[str, Any] = {
            section.key: (section.annotation, Field(default_factory=section.default_factory))
            for section in self.sections
        }
        model = cast(type[Config], create_model("Config", __base__=Config, **fields))
        model.section_checks = tuple(check for section in self.sections for check in section.checks)
        model.section_guards = {
            f"{section.key}.{name}": _guard_of(section, size)
            for section in self.sections
            for name, size in section.guards
        }
        return model

    @cached_property
    def default_texts(self) -> dict[str, str]:
        """Every sentence the capabilities say; a key defined twice is a packaging error."""
        texts = read_texts("bot")
        for capability in self.capabilities:
            if capability.texts is None:
                continue
            for key, text in read_texts(capability.texts).items():
                if key in texts:
                    raise ValueError(f"text {key!r} of {capability.name} is already defined")
                texts[key] = text
        return texts

    @cached_property
    def text_placeholders(self) -> dict[str, frozenset[str]]:
        """The placeholders each text may use beyond its default's, as the capabilities declare them."""
        extra: dict[str, set[str]] = {}
        for capability in self.capabilities:
            for key, name in capability.text_placeholders:
                if key not in self.default_texts:
                    raise ValueError(f"{capability.name} declares a placeholder for unknown text {key!r}")
                extra.setdefault(key, set()).add(name)
        return {key: frozenset(names) for key, names in extra.items()}

    def cli_commands(self) -> list[click.Command]:
        return [cmd for capability in self.capabilities for cmd in capability.cli]

    def report_commands(self) -> list[click.Command]:
        return [cmd for capability in self.capabilities for cmd in capability.reports]

    def deadline_jobs(self) -> list[tuple[str, DeadlineJob]]:
        return [(f"{c.name}:{job.__name__}", job) for c in self.capabilities for job in c.deadlines]

    def feature_lines(self) -> list[FeatureLines]:
        return [lines for capability in self.capabilities for lines in capability.features]

    def check_lines(self, config: Config, config_path: Path) -> list[str]:
        return [line for c in self.capabilities for lines in c.check_lines for line in lines(config, config_path)]

    def send_hook(self, name: str) -> SendHook | None:
        """Return the send hook `name` some capability declared, or None."""
        for capability in self.capabilities:
            for hook_name, hook in capability.send_hooks:
                if hook_name == name:
                    return hook
        return None

    def profile_lines(self, session: Session, config: Config, user_id: str) -> list[tuple[str, str]]:
        return [line for c in self.capabilities for lines in c.profile for line in lines(session, config, user_id)]

    def member_links(self, session: Session, config: Config, chat_id: str) -> list[tuple[str, str]]:
        return [link for c in self.capabilities for links in c.member_links for link in links(session, config, chat_id)]

    def upcoming(
        self, session: Session, config: Config, now: datetime, days: int
    ) -> list[tuple[datetime, str, str, bool]]:
        posts = [
            post for c in self.capabilities for planned in c.upcoming for post in planned(session, config, now, days)
        ]
        return sorted(posts, key=lambda post: (post[0], post[1]))

    def workers(self) -> list[Callable[..., Any]]:
        return [worker for capability in self.capabilities for worker in capability.workers]

    # ------------------------------------------------------------------ commands

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
        """Map every command word (folded) to its command; a word used twice is a config error."""
        table: dict[str, ResolvedCommand] = {}
        for resolved in self.resolved(config):
            for word in (resolved.name, *resolved.aliases):
                key = fold(word)
                if key in table and table[key].spec is not resolved.spec:
                    other = table[key].spec.name
                    raise CommandWordClash(
                        f"command word {word!r} is used by both {other!r} and {resolved.spec.name!r}",
                        resolved.spec.name,
                    )
                table[key] = resolved
        return table

    def load_config(self, path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
        """Read and validate the config file for this registry's capabilities (their sections, texts, commands)."""
        return load_config(
            path,
            environ=environ,
            model=self.config_model,
            context={
                "default_texts": self.default_texts,
                "text_placeholders": self.text_placeholders,
                "command_names": set(self.commands),
            },
            extra_checks=[self.command_table],
        )


class CommandWordClash(ValueError):
    def __init__(self, message: str, command: str):
        super().__init__(message)
        self.config_path = ("commands", command)
