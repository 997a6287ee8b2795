"""The `quiz:` section: the question bank loads, answers are judged as members type them, mistakes name their line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.config.loader import ConfigError, Problem
from handlers.quiz.config import QuestionConfig
from tests.conftest import ROOT, base_config
from tests.factories import config_from, group_features, load_config
from tests.handlers.quiz.chat import quiz_config


def problem_in(tmp_path: Path, quiz_yaml: str) -> Problem:
    path = tmp_path / "config.yaml"
    path.write_text("timezone: Asia/Shanghai\n" + textwrap.dedent(quiz_yaml).lstrip("\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    (problem,) = info.value.problems
    return problem


def test_example_quiz_section_loads() -> None:
    quiz = load_config(ROOT / "config.example.yaml", environ={}).quiz
    assert (quiz.default_seconds, quiz.points_by_rank, quiz.participation_points) == (60, [10, 5, 3], 1)
    assert [q.id for q in quiz.questions] == ["q001", "q002"]
    assert quiz.rank_points(quiz.questions[1]) == [20, 10, 5]
    assert [q.id for q in quiz.tagged("水果")] == ["q002"]


def test_duplicate_question_id_names_the_second(tmp_path: Path) -> None:
    problem = problem_in(
        tmp_path,
        """
        quiz:
          questions:
            - {id: q1, question: 一, answers: [甲]}
            - {id: Q1, question: 二, answers: [乙]}
        """,
    )
    assert (problem.line, problem.path) == (5, "quiz.questions[1].id")
    assert "listed twice" in problem.message


def test_letter_answer_must_name_an_option(tmp_path: Path) -> None:
    problem = problem_in(
        tmp_path,
        """
        quiz:
          questions:
            - id: q1
              question: 选哪个？
              options: {A: 甲, B: 乙}
              answers:
                - A
                - C
        """,
    )
    assert problem.line == 9
    assert problem.path == "quiz.questions[0].answers[1]"
    assert "names no option" in problem.message


def test_option_keys_are_letters_a_to_d(tmp_path: Path) -> None:
    problem = problem_in(
        tmp_path,
        """
        quiz:
          questions:
            - id: q1
              question: 选哪个？
              options:
                A: 甲
                E: 乙
              answers: [A]
        """,
    )
    assert (problem.line, problem.path) == (8, "quiz.questions[0].options.E")


def test_digit_only_id_is_refused_because_it_reads_as_seconds(tmp_path: Path) -> None:
    problem = problem_in(tmp_path, "quiz:\n  questions:\n    - {id: '60', question: 一, answers: [甲]}\n")
    assert problem.line == 4 and problem.path == "quiz.questions[0].id"
    assert "seconds" in problem.message


def test_negative_rank_points_name_the_entry(tmp_path: Path) -> None:
    problem = problem_in(tmp_path, "quiz:\n  points_by_rank:\n    - 10\n    - -5\n")
    assert (problem.line, problem.path) == (5, "quiz.points_by_rank[1]")


def test_default_duration_outside_bounds_is_refused(tmp_path: Path) -> None:
    problem = problem_in(tmp_path, "quiz:\n  default_seconds: 5\n  min_seconds: 10\n")
    assert (problem.line, problem.path) == (3, "quiz.default_seconds")


def test_missing_answers_is_refused(tmp_path: Path) -> None:
    problem = problem_in(tmp_path, "quiz:\n  questions:\n    - {id: q1, question: 一}\n")
    assert problem.path == "quiz.questions[0].answers" and problem.line == 4


def test_answers_fold_width_case_and_spaces() -> None:
    choice = QuestionConfig(id="q1", question="?", options={"A": "北京", "B": "上海"}, answers=["b"])
    assert [choice.correct(given) for given in ("B", " b ", "Ｂ", "上海", "A", "北京", "BB")] == [
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert choice.right_answer == "B（上海）"
    free = QuestionConfig(id="q2", question="?", answers=["Sunshine Rose", "阳光玫瑰"])
    assert free.correct("ＳＵＮＳＨＩＮＥ rose ") and free.correct("阳光玫瑰")
    assert not free.correct("玫瑰")


def test_quiz_feature_per_group_kind() -> None:
    """check-config says: live with aibot in internal groups, degraded (1:1 answers, task result) in customer groups."""
    config = config_from(quiz_config())
    states = {g.chat_id: next(s for s in group_features(config, g) if s.feature == "quiz") for g in config.groups}
    assert states["wrgroup0001"].state == "degraded"  # outbox.transport is console in the test config
    assert states["wrcustomer01"].state == "degraded"
    assert "1:1" in states["wrcustomer01"].why and "task" in states["wrcustomer01"].why
    wecom = config_from({**quiz_config(), "outbox": {"transport": "wecom"}})
    internal = next(s for s in group_features(wecom, wecom.groups[0]) if s.feature == "quiz")
    assert internal.state == "live"
    no_callbacks = {k: v for k, v in quiz_config().items() if k not in ("aibot", "wecom")}
    config = config_from(no_callbacks)
    assert {next(s for s in group_features(config, g) if s.feature == "quiz").state for g in config.groups} == {"off"}
    empty = config_from({**base_config(), "groups": quiz_config()["groups"]})
    state = next(s for s in group_features(empty, empty.groups[0]) if s.feature == "quiz")
    assert state.state == "off" and "questions" in state.why
