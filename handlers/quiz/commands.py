"""竞猜: guides start and end prize quizzes; while one is open, members' plain messages are answers."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.config.core import ROLE_RANK, Config, GroupConfig
from bot.context import Context
from bot.registry import command, on_text
from bot.replies import COUNTED_AS_ACTIVITY, CountedAsActivity, Reply
from bot.text import SPACES, fold, split_words
from handlers.members.group_info import find_chat, group_name
from handlers.points.config import POINTS_SECTION
from handlers.points.rules import command_name, names, today
from handlers.quiz.config import QUIZ_SECTION, RANDOM_WORD, QuestionConfig
from handlers.quiz.results import close_due_quizzes, close_quiz, local_time
from models import quiz as quizzes
from models.activity import record_activity
from models.business_day import week_start
from models.membership import is_member

__all__ = ["close_due_quizzes", "quiz_command", "answer_open_quiz", "sidebar_clock"]

QUIZ = "竞猜"
SIDEBAR_CLOCK = "quiz_clock"
# A question for a `delivery: sidebar` group may wait this long for the guide before the quiz ends unasked.
SIDEBAR_ONLY_WAIT = timedelta(days=1)
START, END, BOARD = "开始", "结束", "排行"
# 「60」「60秒」「90s」「2分钟」「2min」: a number of seconds or minutes.
DURATION = re.compile(r"^(\d{1,6})(秒|秒钟|s|sec|分|分钟|m|min)?$", re.ASCII)
MINUTE_UNITS = frozenset({"分", "分钟", "m", "min"})
# 「答 B」「答：B」「答案 B」「答B」 are the same answer as 「B」; 「答辩」 stays a text answer.
ANSWER_PREFIX = re.compile(r"^(?:答案|答)(?:\s*[:：]\s*|\s+|(?=[A-Za-zＡ-Ｚａ-ｚ]$))")
_rng = random.SystemRandom()
# An unknown question id is answered with the bank's first ids, not a bank of hundreds.
SHOWN_IDS = 20


@command(
    QUIZ,
    aliases=("quiz",),
    role="member",
    examples=((f"{QUIZ} {BOARD}", "竞猜排行"),),
)
def quiz_command(ctx: Context, args: str) -> list[Reply] | str:
    """有奖竞猜：导购发「竞猜 开始 [题号|随机|标签] [秒数]」「竞猜 结束」，大家发「竞猜 排行」看榜。"""
    words = split_words(args)
    action = fold(words[0]) if words else ""
    rest = words[1:]
    name = command_name(ctx, QUIZ)
    is_start, is_end = action in (fold(START), "start"), action in (fold(END), "end", "stop")
    if (is_start or is_end) and ROLE_RANK[ctx.member.role] < ROLE_RANK["guide"]:
        words_used = f"{name} {START if is_start else END}"
        return ctx.text("permission_denied", command=words_used, role=ctx.text("role_guide"))
    if is_start:
        return start(ctx, rest)
    if is_end:
        return end(ctx, rest)
    if action in (fold(BOARD), "rank", "top"):
        return board(ctx, rest)
    return ctx.text("quiz_usage", command=name)


def _target_chat(ctx: Context, words: list[str], action: str) -> tuple[str | None, list[str], str | None]:
    """Return (chat id, remaining words, refusal): in a group the group itself, 1:1 the group named first."""
    if ctx.chat is not None:
        return ctx.chat.chat_id, words, None
    if not words:
        return None, words, ctx.text("quiz_need_group", command=command_name(ctx, QUIZ), action=action)
    chat_id = find_chat(ctx, words[0])
    if chat_id is None:
        return None, words, ctx.text("quiz_unknown_group", group=words[0])
    return chat_id, words[1:], None


def _seconds(ctx: Context, word: str) -> int | None:
    """Return the duration `word` states in seconds, or None when it is no duration within the bounds."""
    match = DURATION.match(fold(word))
    if match is None:
        return None
    seconds = int(match.group(1)) * (60 if match.group(2) in MINUTE_UNITS else 1)
    settings = QUIZ_SECTION.of(ctx.config)
    return seconds if settings.min_seconds <= seconds <= settings.max_seconds else None


def _bad_duration(ctx: Context, word: str) -> str:
    settings = QUIZ_SECTION.of(ctx.config)
    return ctx.text(
        "quiz_bad_duration",
        word=word,
        min=settings.min_seconds,
        max=settings.max_seconds,
        command=command_name(ctx, QUIZ),
    )


def _pick(ctx: Context, word: str | None) -> QuestionConfig | None:
    """Return the question `word` asks for: an id, 随机 (or nothing) for any, or a tag for one of its questions."""
    bank = QUIZ_SECTION.of(ctx.config)
    if word is None or word == RANDOM_WORD:
        return _rng.choice(bank.questions)
    found = bank.question(word)
    if found is not None:
        return found
    tagged = bank.tagged(word)
    return _rng.choice(tagged) if tagged else None


def start(ctx: Context, words: list[str]) -> list[Reply] | str:
    """Open a quiz in the chat (or, 1:1, in the group named first) and post the question."""
    chat_id, words, refusal = _target_chat(ctx, words, START)
    if refusal is not None or chat_id is None:
        return refusal or ""
    if not ctx.config.may_act_in(ctx.member.user_id, chat_id):
        return ctx.text("scope_denied", what=group_name(ctx, chat_id))
    settings = QUIZ_SECTION.of(ctx.config)
    if not settings.questions:
        return ctx.text("quiz_empty_bank")
    if len(words) > 2:
        return ctx.text("quiz_usage", command=command_name(ctx, QUIZ))
    selector: str | None = None
    seconds = settings.default_seconds
    if len(words) == 2:
        selector, duration = words
        parsed = _seconds(ctx, duration)
        if parsed is None:
            return _bad_duration(ctx, duration)
        seconds = parsed
    elif len(words) == 1:
        parsed = _seconds(ctx, words[0])
        if parsed is not None:
            seconds = parsed
        elif fold(words[0])[:1].isdigit() and _pick(ctx, words[0]) is None:
            # Ids need a letter, so a word starting with a digit that names nothing was meant as a duration.
            return _bad_duration(ctx, words[0])
        else:
            selector = words[0]
    question = _pick(ctx, selector)
    if question is None:
        ids = "、".join(q.id for q in settings.questions[:SHOWN_IDS])
        more = "…" if len(settings.questions) > SHOWN_IDS else ""
        return ctx.text("quiz_unknown_question", word=selector, ids=ids + more)

    now = ctx.now()
    existing = quizzes.open_in(ctx.session, chat_id)
    if existing is not None and existing.deadline_at <= now:
        # Overdue but not yet closed by the minute job: close it now rather than refuse the guide.
        close_quiz(ctx.session, ctx.config, existing.id, now=now, by="deadline")
    group = ctx.config.group(chat_id)
    direct = group is not None and group.kind == "customer"
    # In a customer group the question waits for the guide's sidebar: the clock starts when it is sent
    # (sidebar_clock); until then the deadline allows for the whole wait, so the quiz still ends.
    wait = sidebar_wait(ctx.config, group)
    deadline = now + wait + timedelta(seconds=seconds)
    prizes = settings.rank_points(question)
    quiz = quizzes.open_quiz(
        ctx.session,
        chat_id=chat_id,
        question=question.model_dump(),
        points_by_rank=prizes,
        participation_points=settings.participation_points,
        started_by=ctx.member.user_id or "",
        now=now,
        day=today(ctx),
        deadline=deadline,
    )
    if quiz is None:
        running = quizzes.open_in(ctx.session, chat_id)
        return ctx.text(
            "quiz_already_open",
            group=group_name(ctx, chat_id),
            id=running.question_id if running else "",
            deadline=local_time(ctx.config, running.deadline_at) if running else "",
            command=command_name(ctx, QUIZ),
        )
    text = announcement(ctx.config, question, seconds, deadline, prizes, direct=direct)
    if ctx.chat is not None and ctx.chat.chat_id == chat_id and not direct:
        # Started in the group itself: the question is the answer everyone in the group sees.
        return [Reply(text)]
    if wait:
        ack = ctx.text("quiz_started_waiting_ack", group=group_name(ctx, chat_id), id=question.id, seconds=seconds)
        clock = {"hook": SIDEBAR_CLOCK, "quiz_id": quiz.id, "seconds": seconds}
        return [Reply(ack), Reply(text, to_chat=chat_id, on_send=clock)]
    ack = ctx.text(
        "quiz_started_ack",
        group=group_name(ctx, chat_id),
        id=question.id,
        deadline=local_time(ctx.config, deadline),
    )
    return [Reply(ack), Reply(text, to_chat=chat_id)]


def announcement(
    config: Config, question: QuestionConfig, seconds: int, deadline: datetime, prizes: list[int], *, direct: bool
) -> str:
    """The question as the group reads it: options, how to answer, the time allowed and the prizes."""
    render = config.texts.render
    return render(
        "quiz_started",
        question=question.question,
        options="".join(render("quiz_option_line", letter=k, text=v) for k, v in sorted(question.options.items())),
        how=render("quiz_how_direct" if direct else "quiz_how_group"),
        seconds=seconds,
        deadline=local_time(config, deadline),
        winners=len(prizes),
        points="/".join(str(p) for p in prizes),
    )


def sidebar_wait(config: Config, group: GroupConfig | None) -> timedelta:
    """How long a question for `group` may wait for the guide's sidebar before it goes out another way."""
    if group is None or group.kind != "customer" or group.delivery == "task" or not group.guide:
        return timedelta(0)
    if group.delivery == "sidebar":
        return SIDEBAR_ONLY_WAIT
    return timedelta(minutes=config.web.sidebar_grace_minutes)


def sidebar_clock(session: Session, config: Config, payload: Mapping[str, Any], now: datetime) -> str | None:
    """As the guide sends the question from the sidebar, start the quiz's clock and date the question anew."""
    hook = payload.get("on_send") or {}
    quiz = session.get(quizzes.Quiz, int(hook.get("quiz_id", 0)))
    if quiz is None or quiz.closed_at is not None:
        return None
    seconds = int(hook.get("seconds", 0))
    deadline = now + timedelta(seconds=seconds)
    quizzes.restart_clock(session, quiz.id, now, deadline)
    question = QuestionConfig.model_validate(quiz.question)
    return announcement(config, question, seconds, deadline, list(quiz.points_by_rank), direct=True)


def end(ctx: Context, words: list[str]) -> str:
    """Close the chat's open quiz now and post the result to the group."""
    chat_id, _words, refusal = _target_chat(ctx, words, END)
    if refusal is not None or chat_id is None:
        return refusal or ""
    if not ctx.config.may_act_in(ctx.member.user_id, chat_id):
        return ctx.text("scope_denied", what=group_name(ctx, chat_id))
    running = quizzes.open_in(ctx.session, chat_id)
    if running is None or not close_quiz(
        ctx.session, ctx.config, running.id, now=ctx.now(), by=ctx.member.user_id or ""
    ):
        return ctx.text("quiz_none_open", group=group_name(ctx, chat_id))
    return ctx.text("quiz_ended_ack", group=group_name(ctx, chat_id))


def board(ctx: Context, words: list[str]) -> str:
    """Quiz wins and points in the chat (1:1: the group named, else all groups), this week and all time."""
    chat_id: str | None
    if ctx.chat is not None:
        chat_id = ctx.chat.chat_id
    elif words:
        chat_id = find_chat(ctx, words[0])
        if chat_id is None:
            return ctx.text("quiz_unknown_group", group=words[0])
    else:
        chat_id = None
    scope = group_name(ctx, chat_id) if chat_id else ctx.text("quiz_scope_all")
    size = POINTS_SECTION.of(ctx.config).leaderboard_size
    lines = [ctx.text("quiz_board_header", scope=scope)]
    for title, since in (("quiz_board_week", week_start(today(ctx))), ("quiz_board_all", None)):
        lines.append(ctx.text(title))
        rows = quizzes.standings(ctx.session, chat_id=chat_id, since=since, limit=size)
        shown = names(ctx, [user for user, _, _ in rows])
        position = 0
        previous: tuple[int, int] | None = None
        # Ranked by prizes won, then points; members equal on both share a rank.
        for index, (user, wins, points) in enumerate(rows, start=1):
            position = position if previous == (wins, points) else index
            previous = (wins, points)
            lines.append(ctx.text("quiz_board_line", rank=position, name=shown[user], wins=wins, points=points))
        if not rows:
            lines.append(ctx.text("quiz_board_empty"))
    return "\n".join(lines)


def _strip_prefix(text: str) -> str:
    return ANSWER_PREFIX.sub("", text.strip(SPACES), count=1).strip(SPACES)


def _direct_quiz(ctx: Context, text: str) -> tuple[quizzes.Quiz | None, str, str | None]:
    """For a 1:1 message: the open quiz of a customer group the member is in, the answer, or a question back."""
    user = ctx.member.user_id or ""
    customer = [g.chat_id for g in ctx.config.groups if g.kind == "customer"]
    candidates = [q for q in quizzes.open_quizzes(ctx.session, customer) if is_member(ctx.session, q.chat_id, user)]
    if len(candidates) <= 1:
        return (candidates[0] if candidates else None), text, None
    words = split_words(text)
    for quiz in candidates:
        if words and find_chat(ctx, words[0]) == quiz.chat_id:
            return quiz, text[len(words[0]) :].strip(SPACES), None
    shown = [group_name(ctx, q.chat_id) for q in candidates]
    return None, text, ctx.text("quiz_answer_which", count=len(candidates), groups="、".join(shown), group=shown[0])


@on_text(priority=100)
def answer_open_quiz(ctx: Context, text: str) -> str | list[str | CountedAsActivity] | None:
    """While a quiz is open where the member is, their plain message is their answer; otherwise pass it on."""
    user = ctx.member.user_id
    if not user:
        return None
    if ctx.chat is not None:
        quiz, given, question_back = quizzes.open_in(ctx.session, ctx.chat.chat_id), text, None
    else:
        quiz, given, question_back = _direct_quiz(ctx, text)
    if question_back is not None:
        return question_back
    if quiz is None or quiz.started_by == user:
        # The guide who asked knows the answer: their words in the group stay ordinary text.
        return None
    now = ctx.now()
    if quiz.deadline_at <= now:
        # Closing is the minute job's work (it may credit hundreds): a member's callback must answer at once.
        return ctx.text("quiz_answer_late")
    answer = _strip_prefix(given)
    question = QuestionConfig.model_validate(quiz.question)
    status = quizzes.record_answer(
        ctx.session, quiz_id=quiz.id, user_id=user, answer=answer, correct=question.correct(answer), now=now
    )
    if status == "duplicate":
        return ctx.text("quiz_answer_again")
    if status == "closed":
        return ctx.text("quiz_answer_late")
    record_activity(ctx.session, chat_id=quiz.chat_id, user_id=user, at=now, kind="answer")
    return [ctx.text("quiz_answer_recorded", deadline=local_time(ctx.config, quiz.deadline_at)), COUNTED_AS_ACTIVITY]
