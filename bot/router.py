"""Route one event: command table and roles first, then free-text handlers, then a hint."""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Iterable

from bot.config import ROLE_RANK, Config
from bot.context import Context
from bot.mentions import SPACES, split_words, strip_leading_mentions
from bot.registry import Registry, ResolvedCommand
from bot.replies import Reply

log = logging.getLogger(__name__)
HINT_TEXT_LIMIT = 20


def normalise_word(word: str) -> str:
    """Fold width and case so 'ＨＥＬＰ', 'Help' and 'help' are one command word."""
    return unicodedata.normalize("NFKC", word).casefold()


def as_replies(result: object) -> list[Reply]:
    """Accept what handlers return: None, a str, a Reply, or an iterable of those."""
    if result is None:
        return []
    if isinstance(result, Reply):
        return [result]
    if isinstance(result, str):
        return [Reply(result)]
    if isinstance(result, Iterable):
        out: list[Reply] = []
        for item in result:
            out.extend(as_replies(item))
        return out
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

    def route(self, ctx: Context) -> list[Reply]:
        """Return the replies for the event in `ctx`."""
        event = ctx.event
        if event.kind == "event":
            replies: list[Reply] = []
            for handler in self.registry.event_handlers.get(event.name or "", []):
                replies.extend(as_replies(handler(ctx)))
            return replies
        if event.kind != "text":
            return []

        text = strip_leading_mentions(event.text).strip(SPACES)
        if not text:
            return [Reply(ctx.text("empty_message"))]
        first = split_words(text)[0]
        command = self.table(ctx.config).get(normalise_word(first))
        if command is not None:
            return self._run_command(ctx, command, text[len(first) :].strip(SPACES))

        for _priority, handler in self.registry.text_handlers:
            result = handler(ctx, text)
            if result is not None:
                return as_replies(result)
        shown = text if len(text) <= HINT_TEXT_LIMIT else text[:HINT_TEXT_LIMIT] + "…"
        return [Reply(ctx.text("unknown_command", text=shown))]

    def _run_command(self, ctx: Context, command: ResolvedCommand, args: str) -> list[Reply]:
        if ROLE_RANK[ctx.member.role] < ROLE_RANK[command.role]:
            log.info("user %s (%s) refused %s", ctx.member.user_id, ctx.member.role, command.spec.name)
            role_name = ctx.text(f"role_{command.role}")
            return [Reply(ctx.text("permission_denied", command=command.name, role=role_name))]
        return as_replies(command.spec.func(ctx, args))
