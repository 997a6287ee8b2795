"""The `quiz:` section: how long a quiz runs, what ranks earn, and the question bank."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from bot.config.base import ConfigValueError, Strict, require_unique
from bot.registry import Section
from bot.text import fold

OPTION_LETTERS = ("A", "B", "C", "D")
# The word that asks for a random question; an id or tag spelled like it could never be chosen.
RANDOM_WORD = "随机"


# An answer is compared folded: trimmed, full-width to half-width, case-insensitive.
fold_answer = fold


class QuestionConfig(Strict):
    id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    question: str = Field(min_length=1)
    # Choice questions name their options A–D; without options the answers are free texts.
    options: dict[str, str] = Field(default_factory=dict)
    answers: list[str] = Field(min_length=1)
    explain: str = ""
    # Points by rank for this question only; None uses quiz.points_by_rank.
    points: list[int] | None = None
    tags: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _not_only_digits(cls, value: str) -> str:
        # 「竞猜 开始 60」 means 60 seconds; an id of digits only could never be asked for by id.
        if value.isdigit():
            raise ValueError("a question id needs at least one letter (digits alone are read as seconds)")
        return value

    @field_validator("options")
    @classmethod
    def _letter_options(cls, options: dict[str, str]) -> dict[str, str]:
        for letter, text in options.items():
            if letter not in OPTION_LETTERS:
                raise ConfigValueError(f"option keys are the letters {', '.join(OPTION_LETTERS)}", letter)
            if not str(text).strip():
                raise ConfigValueError("an option needs text", letter)
        if len(options) == 1:
            raise ValueError("a choice question needs at least two options (or none for a free-text answer)")
        return options

    @field_validator("points")
    @classmethod
    def _points_not_negative(cls, points: list[int] | None) -> list[int] | None:
        return _check_rank_points(points) if points is not None else None

    @field_validator("tags")
    @classmethod
    def _plain_tags(cls, tags: list[str]) -> list[str]:
        for index, tag in enumerate(tags):
            if not tag.strip() or len(tag.split()) != 1:
                raise ConfigValueError("a tag is one word without spaces", index)
            if tag == RANDOM_WORD:
                raise ConfigValueError(f"「{RANDOM_WORD}」 already means a random question", index)
        return tags

    @model_validator(mode="after")
    def _answers_fit_options(self) -> QuestionConfig:
        for index, answer in enumerate(self.answers):
            if not answer.strip():
                raise ConfigValueError("an accepted answer cannot be blank", "answers", index)
            if self.options and answer.strip().upper() not in self.options:
                known = ", ".join(sorted(self.options))
                raise ConfigValueError(
                    f"answer {answer!r} names no option of this question (options: {known})", "answers", index
                )
        return self

    def correct(self, given: str) -> bool:
        """Tell whether a member's answer is accepted: a right letter (or its option's text), or an accepted text."""
        folded = fold_answer(given)
        if self.options:
            right = {answer.strip().upper() for answer in self.answers}
            accepted = {fold_answer(letter) for letter in right} | {fold_answer(self.options[x]) for x in right}
            return folded in accepted
        return folded in {fold_answer(answer) for answer in self.answers}

    @property
    def right_answer(self) -> str:
        """The right answer as the result shows it: 「B（北京）」 or the first accepted text."""
        if self.options:
            letters = sorted({answer.strip().upper() for answer in self.answers})
            return "、".join(f"{letter}（{self.options[letter]}）" for letter in letters)
        return self.answers[0].strip()


def _check_rank_points(points: list[int]) -> list[int]:
    if not points:
        raise ValueError("list the points of at least one winning rank")
    for index, value in enumerate(points):
        if value < 0:
            raise ConfigValueError("points cannot be negative", index)
    return points


class QuizConfig(Strict):
    default_seconds: int = Field(default=60, ge=1)
    min_seconds: int = Field(default=10, ge=1)
    max_seconds: int = Field(default=3600, ge=1)
    # Points of the 1st, 2nd, … correct answer; as many winners as entries.
    points_by_rank: list[int] = Field(default_factory=lambda: [10, 5, 3])
    # Points for a correct answer after the winners.
    participation_points: int = Field(default=1, ge=0)
    questions: list[QuestionConfig] = Field(default_factory=list)

    @field_validator("points_by_rank")
    @classmethod
    def _rank_points(cls, points: list[int]) -> list[int]:
        return _check_rank_points(points)

    @field_validator("questions")
    @classmethod
    def _unique_ids(cls, questions: list[QuestionConfig]) -> list[QuestionConfig]:
        require_unique(questions, lambda question: question.id, "question id", "id")
        return questions

    @model_validator(mode="after")
    def _seconds_in_bounds(self) -> QuizConfig:
        if self.min_seconds > self.max_seconds:
            raise ConfigValueError("min_seconds cannot be more than max_seconds", "min_seconds")
        if not self.min_seconds <= self.default_seconds <= self.max_seconds:
            raise ConfigValueError("default_seconds must lie between min_seconds and max_seconds", "default_seconds")
        return self

    def question(self, question_id: str) -> QuestionConfig | None:
        """Return the question whose id is `question_id` (case and width folded), or None."""
        wanted = fold(question_id)
        return next((q for q in self.questions if fold(q.id) == wanted), None)

    def tagged(self, tag: str) -> list[QuestionConfig]:
        """Return the questions carrying `tag` (case and width folded)."""
        wanted = fold(tag)
        return [q for q in self.questions if wanted in {fold(t) for t in q.tags}]

    def rank_points(self, question: QuestionConfig) -> list[int]:
        """Return the points by rank for `question`: its own override, else the section's."""
        return question.points if question.points is not None else self.points_by_rank


QUIZ_SECTION = Section("quiz", QuizConfig, QuizConfig, guards=(("questions", lambda quiz: len(quiz.questions)),))
