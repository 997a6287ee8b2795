"""Route one event: command table and roles first, then free-text handlers, then a hint."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.config.core import ROLE_RANK, Config
from bot.context import Context
from bot.registry import Registry, ResolvedCommand
from bot.replies import CountedAsActivity, Reply
from bot.text import SPACES, fold, split_words, strip_leading_mentions

log = logging.getLogger(__name__)
HINT_TEXT_LIMIT = 20


@dataclass
class Routed:
    """What routing one event produced, and what the event was to the activity board."""

    replies: list[Reply] = field(default_factory=list)
    # The command the text invoked (even when the role refused it); None for chat and events.
    command: ResolvedCommand | None = None
    # A handler recorded the text as activity of its own kind (a quiz answer).
    counted: bool = False

    def add(self, result: object) -> None:
        """Accept what handlers return: None, a str, a Reply, a CountedAsActivity, or an iterable of those."""
        if result is None:
            return
        if isinstance(result, Reply):
            self.replies.append(result)
        elif isinstance(result, str):
            self.replies.append(Reply(result))
        elif isinstance(result, CountedAsActivity):
            self.counted = True
        elif isinstance(result, Iterable):
            for item in result:
                self.add(item)
        else:
            raise TypeError(f"a handler returned {type(result).__name__}; return Reply, str, a list of them, or None")


class Router:
    def __init__(self, registry: Registry):
        self.registry = registry
        self._lock = threading.Lock()
        self._cached: tuple[Config, dict[str, ResolvedCommand]] | None = None

    def table(self, config: Config) -> dict[str, ResolvedCommand]:
        """Return the command table for this config snapshot, built once per snapshot."""
        with self._lock:
            if self._cached is None or self._cached[0] is not config:
                self._cached = (config, self.registry.command_table(config))
            return self._cached[1]

    def route(self, ctx: Context) -> Routed:
        """Return the replies for the event in `ctx`."""
        event = ctx.event
        routed = Routed()
        if event.kind == "event":
            for handler in self.registry.event_handlers.get(event.name or "", []):
                routed.add(handler(ctx))
            return routed
        if event.kind != "text":
            return routed

        text = strip_leading_mentions(event.text).strip(SPACES)
        if not text:
            routed.add(Reply(ctx.text("empty_message")))
            return routed
        first = split_words(text)[0]
        command = self.table(ctx.config).get(fold(first))
        if command is not None:
            routed.command = command
            routed.add(self._run_command(ctx, command, text[len(first) :].strip(SPACES)))
            return routed

        for _priority, handler in self.registry.text_handlers:
            result = handler(ctx, text)
            if result is not None:
                routed.add(result)
                return routed
        shown = text if len(text) <= HINT_TEXT_LIMIT else text[:HINT_TEXT_LIMIT] + "…"
        routed.add(Reply(ctx.text("unknown_command", text=shown)))
        return routed

    def _run_command(self, ctx: Context, command: ResolvedCommand, args: str) -> object:
        if ROLE_RANK[ctx.member.role] < ROLE_RANK[command.role]:
            log.info("user %s (%s) refused %s", ctx.member.user_id, ctx.member.role, command.spec.name)
            role_name = ctx.text(f"role_{command.role}")
            return Reply(ctx.text("permission_denied", command=command.name, role=role_name))
        return command.spec.func(ctx, args)
