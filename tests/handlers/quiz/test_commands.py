"""竞猜 through encrypted aibot callbacks: a full round, closing by deadline and by guide, bad input, 排行, restarts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.services import Services
from models import ledger
from tests import factories
from tests.conftest import write_yaml
from tests.handlers.quiz.chat import (
    CUSTOMER_GROUP,
    CUSTOMER_GROUP_2,
    OTHER_GROUP,
    QuizBot,
    make_quiz_bot,
    quiz_config,
)


@pytest.fixture
def bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> QuizBot:
    return make_quiz_bot(make_services, tmp_path, clock)


def start_q001(bot: QuizBot, seconds: int = 60) -> str:
    return bot.say(f"竞猜 开始 q001 {seconds}", user="guide01")


def test_full_round_closed_at_the_deadline(bot: QuizBot) -> None:
    """Start, wrong and right answers (two at the same instant), deadline close, result with points and @mentions."""
    question = start_q001(bot)
    assert question.startswith("【有奖竞猜】几点前下单可以当日达？\nA. 上午 10 点\nB. 中午 12 点\n")
    assert "限时 60 秒（10:01:00 截止）" in question and "依次得 10/5/3 分" in question

    assert bot.later(5).say("A", user="wangwu") == "收到你的答案！10:01:00 截止后公布结果。"
    # Same frozen instant: the order the database accepted them decides, not the clock.
    assert bot.later(5).say("答 B", user="zhaoliu").startswith("收到你的答案")
    assert bot.say("b", user="sunqi").startswith("收到你的答案")
    assert bot.say("答：中午 12 点", user="zhouba").startswith("收到你的答案")
    assert bot.say("Ｂ", user="wujiu").startswith("收到你的答案")
    assert bot.pushed() == []

    assert bot.later(49).close_due() == 0  # 10:00:59: one second left
    assert bot.later(1).close_due() == 1
    assert bot.close_due() == 0  # closed once, announced once

    (result,) = bot.pushed()
    assert result.payload["content"] == (
        "【竞猜结果】几点前下单可以当日达？\n正确答案：B（中午 12 点）\n解析：中午 12 点前下单，当天傍晚送到。\n"
        "共 5 人参与，4 人答对。\n第 1 名 zhaoliu +10 分\n第 2 名 sunqi +5 分\n第 3 名 zhouba +3 分\n"
        "其余答对的 1 位各得 1 分参与奖。"
    )
    assert result.payload["mentions"] == ["zhaoliu", "sunqi", "zhouba"]
    balances = {user: bot.balance(user) for user in ("wangwu", "zhaoliu", "sunqi", "zhouba", "wujiu")}
    assert balances == {"wangwu": 0, "zhaoliu": 10, "sunqi": 5, "zhouba": 3, "wujiu": 1}
    with bot.services.session_factory() as session:
        quiz_id = bot.quizzes()[0].id
        credited = ("zhaoliu", "sunqi", "zhouba", "wujiu")
        assert {e.key for e in ledger.entries(session)} == {f"quiz:{quiz_id}:{user}" for user in credited}
        assert ledger.audit(session) == []
    # Closed: the same words are ordinary text again (here: an unknown command hint).
    assert "没听懂" in bot.say("B", user="latecomer")


def test_guide_ends_the_quiz_early(bot: QuizBot) -> None:
    start_q001(bot)
    bot.later(3).say("B", user="zhaoliu")
    assert bot.say("竞猜 结束", user="guide01") == "已结束「一号群」的竞猜，结果已发到群里。"
    (result,) = bot.pushed()
    assert "第 1 名 zhaoliu +10 分" in result.payload["content"]
    assert "共 1 人参与，1 人答对。" in result.payload["content"]
    assert bot.quizzes()[0].closed_by == "guide01"
    # The deadline passing later announces nothing more.
    assert bot.later(120).close_due() == 0 and len(bot.pushed()) == 1
    assert bot.say("竞猜 结束", user="guide01") == "「一号群」现在没有进行中的竞猜。"


def test_nobody_right_says_so(bot: QuizBot) -> None:
    start_q001(bot)
    bot.say("C", user="wangwu")
    bot.later(60).close_due()
    (result,) = bot.pushed()
    assert "共 1 人参与，0 人答对。\n这次没有人答对，下次加油！" in result.payload["content"]
    assert bot.balance("wangwu") == 0


def test_free_text_question_with_its_own_points(bot: QuizBot) -> None:
    """q002 has no options and its own points [20, 10]; answers are compared after folding."""
    assert "依次得 20/10 分" in bot.say("竞猜 开始 q002", user="guide01")
    bot.say("阳光玫瑰葡萄 ", user="a1")
    bot.say("葡萄", user="a2")
    bot.say("阳光玫瑰", user="a3")
    bot.say("阳光玫瑰", user="a4")
    bot.later(60).close_due()
    assert [bot.balance(u) for u in ("a1", "a2", "a3", "a4")] == [20, 0, 10, 1]


def test_answer_prefixes_are_read_as_the_answer(bot: QuizBot) -> None:
    """「答B」「答案：B」 are B; a free-text answer that merely starts with 答 is kept whole."""
    start_q001(bot)
    bot.say("答B", user="a1")
    bot.say("答案：B", user="a2")
    bot.say("答辩", user="a3")
    bot.later(60).close_due()
    assert [(a.user_id, a.answer, a.correct) for a in bot.answers()] == [
        ("a1", "B", True),
        ("a2", "B", True),
        ("a3", "答辩", False),
    ]


def test_second_answer_is_ignored_with_a_note(bot: QuizBot) -> None:
    start_q001(bot)
    assert bot.say("A", user="wangwu").startswith("收到你的答案")
    assert bot.say("B", user="wangwu") == "你已经答过这题了，以第一次回答为准。"
    bot.later(60).close_due()
    assert bot.balance("wangwu") == 0
    assert [(a.user_id, a.answer, a.correct) for a in bot.answers()] == [("wangwu", "A", False)]


def test_retried_answer_callback_counts_once(bot: QuizBot) -> None:
    """WeCom resends a callback it thinks failed: the same msgid gets the first reply and no second answer."""
    start_q001(bot)
    first = bot.say("B", user="zhaoliu", msgid="retry-me")
    again = bot.say("B", user="zhaoliu", msgid="retry-me")
    assert first == again == "收到你的答案！10:01:00 截止后公布结果。"
    assert len(bot.answers()) == 1
    bot.later(60).close_due()
    assert bot.balance("zhaoliu") == 10


def test_an_answer_counts_once_on_the_activity_board(bot: QuizBot) -> None:
    """An answer is participation of its own kind (答题), not also a chat message."""
    start_q001(bot)
    bot.say("B", user="wangwu")
    bot.say("发货", user="zhaoliu", chat=OTHER_GROUP)  # chat elsewhere: not on this group's board
    board = bot.later(30).say("活跃榜", user="lisi")
    assert "wangwu" in board or "王五" in board
    line = next(line for line in board.splitlines() if "wangwu" in line or "王五" in line)
    assert line.rstrip().endswith("1 次"), board


def test_answer_with_no_open_quiz_is_ordinary_text(bot: QuizBot) -> None:
    assert bot.say("发货", user="wangwu") == "48小时内发货"  # the keyword still answers
    assert "没听懂" in bot.say("B", user="wangwu")
    assert bot.answers() == []
    # A quiz in another group does not capture this group's messages.
    bot.say("竞猜 开始 q001", user="guide01", chat=OTHER_GROUP)
    assert bot.say("发货", user="wangwu") == "48小时内发货"


def test_an_open_quiz_takes_text_before_keywords(bot: QuizBot) -> None:
    start_q001(bot)
    assert bot.say("发货", user="wangwu").startswith("收到你的答案")


def test_the_asking_guide_does_not_answer_their_own_quiz(bot: QuizBot) -> None:
    start_q001(bot)
    assert bot.say("发货", user="guide01") == "48小时内发货"
    assert bot.answers() == []


def test_commands_still_work_during_a_quiz(bot: QuizBot) -> None:
    start_q001(bot)
    assert bot.say("签到", user="wangwu").startswith("签到成功")
    assert bot.answers() == []


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("竞猜 开始 q999", "没有题号或标签为「q999」的题目。题号有：q001、q002"),
        ("竞猜 开始 q001 abc", "时长「abc」看不懂，请写 10 到 600 之间的秒数"),
        ("竞猜 开始 q001 5", "时长「5」看不懂"),
        ("竞猜 开始 q001 99999", "时长「99999」看不懂"),
        ("竞猜 开始 60x", "时长「60x」看不懂"),
        ("竞猜 开始 q001 60 多余", "用法：竞猜 开始"),
        ("竞猜 乱说", "用法：竞猜 开始"),
    ],
)
def test_bad_start_gets_a_clear_reply_and_opens_nothing(bot: QuizBot, words: str, expected: str) -> None:
    assert expected in bot.say(words, user="guide01")
    assert bot.quizzes() == []


def test_durations_in_seconds_and_minutes(bot: QuizBot) -> None:
    assert "限时 90 秒" in bot.say("竞猜 开始 q001 90秒", user="guide01")
    bot.say("竞猜 结束", user="guide01")
    assert "限时 120 秒" in bot.say("竞猜 开始 2分钟", user="guide01")
    bot.say("竞猜 结束", user="guide01")
    assert "限时 60 秒" in bot.say("竞猜 开始", user="guide01")  # default duration, random question


def test_tag_and_random_pick_from_the_bank(bot: QuizBot) -> None:
    assert "本周主打水果" in bot.say("竞猜 开始 水果 30", user="guide01")
    bot.say("竞猜 结束", user="guide01")
    assert bot.say("竞猜 开始 随机", user="guide01").startswith("【有奖竞猜】")
    assert [q.question_id for q in bot.quizzes()][0] == "q002"
    assert bot.quizzes()[1].question_id in {"q001", "q002"}


def test_members_cannot_start_or_end(bot: QuizBot) -> None:
    assert bot.say("竞猜 开始 q001", user="wangwu") == "「竞猜 开始」只有导购可以使用。"
    assert bot.quizzes() == []
    start_q001(bot)
    assert bot.say("竞猜 结束", user="wangwu") == "「竞猜 结束」只有导购可以使用。"
    assert bot.quizzes()[0].closed_at is None
    assert bot.say("竞猜 开始 q001", user="boss").startswith("「一号群」已有一场竞猜")  # admins may


def test_starting_a_second_quiz_in_the_chat_says_so(bot: QuizBot) -> None:
    start_q001(bot)
    reply = bot.later(10).say("竞猜 开始 q002", user="guide01")
    assert reply == "「一号群」已有一场竞猜在进行（题号 q001，10:01:00 截止），请先发送「竞猜 结束」。"
    assert len(bot.quizzes()) == 1
    # Another group is free to run its own.
    assert bot.say("竞猜 开始 q002", user="guide01", chat=OTHER_GROUP).startswith("【有奖竞猜】")


def test_overdue_quiz_closes_when_the_next_one_starts(bot: QuizBot) -> None:
    """The minute job has not run yet: the guide's next start closes the old one (and announces it) first."""
    start_q001(bot)
    bot.say("B", user="zhaoliu")
    assert bot.later(90).say("竞猜 开始 q002", user="guide01").startswith("【有奖竞猜】本周主打水果")
    (result,) = bot.pushed()
    assert "第 1 名 zhaoliu +10 分" in result.payload["content"]
    assert bot.close_due() == 0


def test_answer_after_the_deadline_is_not_counted(bot: QuizBot) -> None:
    """Between the deadline and the minute job's close, answers are refused at once, without closing in the callback."""
    start_q001(bot)
    bot.say("B", user="zhaoliu")
    assert bot.later(61).say("B", user="late") == "本题已截止，结果马上公布。"
    assert [a.user_id for a in bot.answers()] == ["zhaoliu"]
    assert bot.pushed() == []
    assert bot.close_due() == 1
    assert "共 1 人参与" in bot.pushed()[0].payload["content"]


def test_open_quiz_survives_a_restart_and_closes_on_time(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    """The process dies mid-quiz; a new one over the same database closes it at its deadline."""
    path = write_yaml(tmp_path / "config.yaml", quiz_config())
    first = QuizBot(make_services(path), clock)
    start_q001(first, seconds=300)
    first.later(10).say("B", user="zhaoliu")
    del first

    second = QuizBot(make_services(path), clock)
    assert second.say("B", user="sunqi").startswith("收到你的答案")
    assert second.later(200).close_due() == 0
    assert second.later(90).close_due() == 1  # 10:05:00, the deadline set before the restart
    (result,) = second.pushed()
    assert "第 1 名 zhaoliu +10 分\n第 2 名 sunqi +5 分" in result.payload["content"]


def test_open_quiz_keeps_its_question_when_the_yaml_changes(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    """An admin edits q001 while it runs: the open quiz is judged and announced as it was asked."""
    path = write_yaml(tmp_path / "config.yaml", quiz_config())
    bot = QuizBot(make_services(path), clock)
    start_q001(bot)
    edited = quiz_config()
    edited["quiz"]["questions"] = [{**edited["quiz"]["questions"][0], "answers": ["A"], "explain": "改过了"}]
    write_yaml(path, edited)
    assert bot.services.config().quiz.questions[0].answers == ["A"]  # the new file is live
    bot.say("B", user="zhaoliu")
    bot.later(60).close_due()
    assert bot.balance("zhaoliu") == 10
    assert "正确答案：B（中午 12 点）\n解析：中午 12 点前下单" in bot.pushed()[0].payload["content"]


def test_board_this_week_and_all_time(bot: QuizBot) -> None:
    """竞猜 排行 counts prizes won and quiz points per group; last week's wins only show under 累计."""
    start_q001(bot)  # Sunday 22 Nov: last business week
    bot.say("B", user="zhaoliu")
    bot.say("B", user="sunqi")
    bot.later(60).close_due()
    bot.clock.set(bot.clock.now() + timedelta(days=1))  # Monday: a new week
    bot.say("竞猜 开始 q002", user="guide01")
    bot.say("阳光玫瑰", user="sunqi")
    bot.later(60).close_due()
    bot.say("竞猜 开始 q001", user="guide01", chat=OTHER_GROUP)
    bot.say("B", user="wangwu", chat=OTHER_GROUP)
    bot.later(60).close_due()

    assert bot.say("竞猜 排行", user="lisi") == (
        "「一号群」竞猜排行\n本周：\n1. sunqi：获奖 1 次，20 分\n"
        "累计：\n1. sunqi：获奖 2 次，25 分\n2. zhaoliu：获奖 1 次，10 分"
    )
    assert bot.say("竞猜 排行", user="lisi", chat=OTHER_GROUP) == (
        "「二号群」竞猜排行\n本周：\n1. wangwu：获奖 1 次，10 分\n累计：\n1. wangwu：获奖 1 次，10 分"
    )
    everywhere = bot.say("竞猜 排行", user="lisi", chat=None)
    assert everywhere == (
        "「全部群」竞猜排行\n本周：\n1. sunqi：获奖 1 次，20 分\n2. wangwu：获奖 1 次，10 分\n"
        "累计：\n1. sunqi：获奖 2 次，25 分\n2. wangwu：获奖 1 次，10 分\n2. zhaoliu：获奖 1 次，10 分"
    )
    assert bot.say("竞猜 排行 二号群", user="lisi", chat=None).startswith("「二号群」竞猜排行")
    assert bot.say("竞猜 排行 不存在的群", user="lisi", chat=None) == "找不到群「不存在的群」。"


def test_empty_board(bot: QuizBot) -> None:
    assert bot.say("竞猜 排行") == "「一号群」竞猜排行\n本周：\n暂无记录\n累计：\n暂无记录"


# --- customer groups: the bot cannot hear the group ----------------------------------------------


def join(bot: QuizBot, chat: str, users: list[str]) -> None:
    """Customer-group joins arrive on the app callback, as WeCom sends them."""
    sender = factories.app_sender()
    signed = sender.xml_post(factories.make_member_joined(chat, users))
    resp = bot.client.post(f"/wecom/callback?{signed.query_string}", data=signed.body, content_type="text/xml")
    assert resp.status_code == 200


def test_customer_group_quiz_runs_one_to_one(bot: QuizBot, engine: Engine) -> None:
    """The guide starts it 1:1 naming the group; the question and the result go out as the group's task."""
    join(bot, CUSTOMER_GROUP, ["wmcust1", "wmcust2"])
    ack = bot.say("竞猜 开始 福利群 q001 120", user="guide01", chat=None)
    assert ack == "已在「福利群」开始竞猜（题号 q001），10:02:00 自动结束；题目按该群的推送方式发出。"
    (question,) = bot.pushed(CUSTOMER_GROUP)
    assert "私聊我回复答案" in question.payload["content"]

    assert bot.say("答 B", user="wmcust1", chat=None).startswith("收到你的答案")
    assert bot.say("A", user="wmcust2", chat=None).startswith("收到你的答案")
    # Someone in no quizzing group chats 1:1 as usual.
    assert bot.say("发货", user="stranger", chat=None) == "48小时内发货"

    assert bot.say("竞猜 结束 福利群", user="guide01", chat=None) == "已结束「福利群」的竞猜，结果已发到群里。"
    result = bot.pushed(CUSTOMER_GROUP)[-1]
    # An unnamed customer is shown as a friendly stand-in, never as their opaque external userid.
    assert "共 2 人参与，1 人答对。\n第 1 名 新朋友 +10 分" in result.payload["content"]
    assert bot.balance("wmcust1") == 10


def test_one_to_one_answer_with_two_quizzing_groups_asks_which(bot: QuizBot) -> None:
    join(bot, CUSTOMER_GROUP, ["wmcust1"])
    join(bot, CUSTOMER_GROUP_2, ["wmcust1"])
    bot.say("竞猜 开始 福利群 q001", user="guide01", chat=None)
    bot.say("竞猜 开始 福利二群 q001", user="guide01", chat=None)
    assert bot.say("B", user="wmcust1", chat=None) == (
        "你所在的 2 个群都在竞猜（福利群、福利二群），请在答案前写群名，例如「福利群 B」。"
    )
    assert bot.answers() == []
    assert bot.say("福利二群 B", user="wmcust1", chat=None).startswith("收到你的答案")
    (answer,) = bot.answers()
    assert answer.quiz_id == bot.quizzes()[1].id and answer.correct


def test_guide_one_to_one_must_name_a_known_group(bot: QuizBot) -> None:
    assert bot.say("竞猜 开始", user="guide01", chat=None) == "私聊时请写明群名，例如「竞猜 开始 群名」。"
    assert bot.say("竞猜 开始 火星群 q001", user="guide01", chat=None) == "找不到群「火星群」。"
    assert bot.quizzes() == []
