"""Welcome newcomers: joins within the window become one message naming them all, with the group's rules."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.config.fill import fill
from bot.context import Context
from bot.outbox import queue_reply
from bot.registry import on_event
from bot.replies import Reply
from handlers.kf import kf_link
from handlers.members.config import MEMBERS_SECTION
from handlers.members.group_info import group_name, rules_text
from models import welcome
from models.membership import display_names
from models.outbox import rewrite_pending

log = logging.getLogger(__name__)
# WeCom gives external contacts (WeChat users) userids starting with these.
EXTERNAL_ID_PREFIXES = ("wm", "wo")


def welcome_text(ctx: Context, chat_id: str, user_ids: list[str]) -> tuple[str, tuple[str, ...]]:
    """Render the welcome for `user_ids` in `chat_id` and return it with the members to @mention."""
    settings = MEMBERS_SECTION.of(ctx.config).welcome
    names = display_names(ctx.session, user_ids)
    # A customer's external userid (wm…/wo…) means nothing to people; without a known name they are only counted.
    named = [user for user in user_ids if not (names[user] == user and user.startswith(EXTERNAL_ID_PREFIXES))]
    shown_ids = named[: settings.max_names]
    listed = ctx.text("welcome_name_separator").join(names[user] for user in shown_ids)
    if not shown_ids:
        listed = ctx.text("welcome_names_count", count=len(user_ids))
    elif len(user_ids) > len(shown_ids):
        listed = ctx.text("welcome_names_more", names=listed, count=len(user_ids))
    group = ctx.config.group(chat_id)
    template = group.welcome if group is not None and group.welcome else None
    fields = {
        "names": listed,
        "group": group_name(ctx, chat_id),
        "rules": rules_text(ctx, chat_id),
        "kf_link": kf_link(ctx.session, ctx.config, chat_id) or "",
    }
    text = fill(template, fields) if template else ctx.text("welcome_default", **fields)
    return text, tuple(user_ids[: settings.max_names]) if settings.mention else ()


@on_event("change_external_chat")
def welcome_newcomers(ctx: Context) -> None:
    """Add this event's newcomers to the chat's open welcome, or queue a new one due after the window."""
    settings = MEMBERS_SECTION.of(ctx.config).welcome
    if not ctx.membership.joined or not settings.enabled or ctx.chat is None:
        return
    chat_id, now = ctx.chat.chat_id, ctx.now()
    group = ctx.config.group(chat_id)
    if group is None:
        # No push transport is configured for a discovered chat, so a welcome could only fail.
        log.info(
            "no welcome for %d newcomer(s) in %s: the chat is not listed under groups:",
            len(ctx.membership.joined),
            chat_id,
        )
        return
    if settings.mode == "native" and group.kind == "customer":
        return  # WeCom greets newcomers with the synced 入群欢迎语 template: no task, no unit of the cap
    batch = welcome.lock_batch(ctx.session, chat_id, now)
    if batch.open_at(now) and batch.outbox_id is not None:
        users = list(dict.fromkeys([*batch.user_ids, *ctx.membership.joined]))
        text, mentions = welcome_text(ctx, chat_id, users)
        payload = {**batch.payload, "content": text, "mentions": list(mentions)}
        if rewrite_pending(ctx.session, batch.outbox_id, payload):
            welcome.extend(batch, users, payload)
            return
        # A drainer already took the row: these newcomers start the next welcome.
    users = list(ctx.membership.joined)
    text, mentions = welcome_text(ctx, chat_id, users)
    due = now + timedelta(seconds=settings.window_for(group.kind))
    row = queue_reply(
        ctx.session, Reply(text, to_chat=chat_id, mentions=mentions), now, origin=ctx.event, not_before=due
    )
    if row is not None:
        welcome.restart(batch, outbox_id=row.id, user_ids=users, payload=dict(row.payload), due_at=due)
