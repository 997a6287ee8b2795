"""Read quiz questions from a CSV/XLSX table and merge them into the config file's `quiz.questions`.

Each row is checked with the same model the config loader uses (QuestionConfig); the YAML is edited
round-trip (ruamel.yaml), so comments, key order and every other section stay as the admin wrote them.
A question id already in the file is updated, a new one appended: importing the same table twice
changes nothing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.cli.sheets import Column
from bot.config.base import ConfigValueError
from handlers.quiz.config import OPTION_LETTERS, QuestionConfig, QuizConfig

# (English header, Chinese header) for each field; a table may use either.
ID: Column = ("id", "题号")
QUESTION: Column = ("question", "题目")
OPTIONS: dict[str, Column] = {letter: (letter.lower(), letter) for letter in OPTION_LETTERS}
ANSWERS: Column = ("answers", "答案")
EXPLAIN: Column = ("explain", "解析")
POINTS: Column = ("points", "积分")
TAGS: Column = ("tags", "标签")
COLUMNS: dict[str, Column] = {"id": ID, "question": QUESTION, "answers": ANSWERS, "explain": EXPLAIN}
COLUMNS.update({"points": POINTS, "tags": TAGS})
# Several answers, tags or rank points in one cell are separated by any of these.
SEPARATORS = re.compile(r"[|,，、;；\s]+")
ANSWER_SEPARATORS = re.compile(r"[|,，、;；]+")


@dataclass
class ImportPlan:
    """What an import does: the new YAML text, and which question ids it adds, updates or leaves alone."""

    text: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.added or self.updated)


class QuizImportError(Exception):
    """The table has problems; nothing is written. `problems` name each row and what is wrong."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def _cell(row: dict[str, str], column: Column) -> str:
    en, zh = column
    for name in (zh, en, en.upper()):
        if name in row:
            return row[name].strip()
    return ""


def _has(header: set[str], column: Column) -> bool:
    en, zh = column
    return bool({zh, en, en.upper()} & header)


def _split(value: str, pattern: re.Pattern[str] = SEPARATORS) -> list[str]:
    return [part.strip() for part in pattern.split(value) if part.strip()]


def _answers(value: str, choice: bool) -> list[str]:
    parts = _split(value, ANSWER_SEPARATORS)
    if not choice:
        return parts
    letters: list[str] = []
    for part in parts:
        upper = part.upper()
        # 多选 answers are often written as one run of letters: 「AC」 means A and C.
        if len(upper) > 1 and all(letter in OPTION_LETTERS for letter in upper):
            letters.extend(upper)
        else:
            letters.append(upper if upper in OPTION_LETTERS else part)
    return list(dict.fromkeys(letters))


def _points(value: str) -> list[int] | str:
    """Rank points 「10,5,3」 as integers, or the cell itself when it is not a list of whole numbers."""
    numbers: list[int] = []
    for part in _split(value):
        try:
            number = float(part)
        except ValueError:
            return value
        if number != int(number):
            return value
        numbers.append(int(number))
    return numbers


def row_fields(row: dict[str, str], header: set[str]) -> dict[str, Any]:
    """The question fields a row sets: only those whose column the table has (an empty cell clears the field)."""
    fields: dict[str, Any] = {"id": _cell(row, ID), "question": _cell(row, QUESTION)}
    if any(_has(header, column) for column in OPTIONS.values()):
        fields["options"] = {letter: text for letter, column in OPTIONS.items() if (text := _cell(row, column))}
    choice = bool(fields.get("options"))
    fields["answers"] = _answers(_cell(row, ANSWERS), choice)
    if _has(header, EXPLAIN):
        fields["explain"] = _cell(row, EXPLAIN)
    if _has(header, POINTS):
        raw = _cell(row, POINTS)
        fields["points"] = _points(raw) if raw else None
    if _has(header, TAGS):
        fields["tags"] = _split(_cell(row, TAGS))
    return fields


def _describe(error: Mapping[str, Any]) -> str:
    loc = [part for part in error.get("loc", ()) if not isinstance(part, int)]
    raised = (error.get("ctx") or {}).get("error")
    if not loc and isinstance(raised, ConfigValueError):
        # A check of the whole question names its key itself (answers that name no option).
        loc = [part for part in raised.config_path if not isinstance(part, int)]
    name = str(loc[0]) if loc else ""
    where = ""
    if name in COLUMNS:
        en, zh = COLUMNS[name]
        where = f"{zh}/{en}: "
    elif name == "options" and len(error.get("loc", ())) > 1:
        where = f"{error['loc'][1]}: "
    elif name == "options":
        where = "A–D: "
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return where + message


def check_rows(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Return each row's fields, checked with QuestionConfig; raise QuizImportError naming every bad row."""
    if not rows:
        raise QuizImportError(["the file has no rows (expected a header: 题号,题目,A,B,C,D,答案,解析,积分,标签)"])
    header = set(rows[0])
    missing = [f"{zh}/{en}" for en, zh in (ID, QUESTION, ANSWERS) if not _has(header, (en, zh))]
    if missing:
        raise QuizImportError([f"the header lacks the column(s) {', '.join(missing)}"])
    problems: list[str] = []
    seen: dict[str, int] = {}
    checked: list[dict[str, Any]] = []
    # Row numbers as a spreadsheet shows them: the header is row 1.
    for number, row in enumerate(rows, start=2):
        fields = row_fields(row, header)
        blank = [f"{zh}/{en}" for key, (en, zh) in COLUMNS.items() if key in ("id", "question") and not fields[key]]
        if not fields["answers"]:
            blank.append("答案/answers")
        if blank:
            problems.append(f"row {number}: {', '.join(blank)} is empty")
            continue
        folded = fields["id"].casefold()
        if folded in seen:
            problems.append(f"row {number}: question id {fields['id']!r} appears again (first on row {seen[folded]})")
            continue
        seen[folded] = number
        try:
            QuestionConfig.model_validate({k: v for k, v in fields.items() if v is not None})
        except ValidationError as exc:
            problems.append(f"row {number} ({fields['id']}): " + "; ".join(_describe(e) for e in exc.errors()))
            continue
        checked.append(fields)
    if problems:
        raise QuizImportError(problems)
    return checked


def _flow(key: str, value: Any) -> Any:
    if key == "options":
        options = CommentedMap(sorted(value.items()))
        options.fa.set_flow_style()
        return options
    if key in ("answers", "tags", "points"):
        seq = CommentedSeq(list(value))
        seq.fa.set_flow_style()
        return seq
    return value


def _empty(key: str, value: Any) -> bool:
    return value is None or (key in ("options", "tags", "explain") and not value)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def render(questions: list[dict[str, Any]], column: int) -> list[str]:
    """The YAML lines of `questions` as block-list items whose dash stands at `column` (lists kept on one line)."""
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=2, offset=0)
    items = CommentedSeq()
    for fields in questions:
        items.append(CommentedMap((k, _flow(k, v)) for k, v in fields.items() if not _empty(k, v)))
    out = io.StringIO()
    yaml.dump(items, out)
    return [" " * column + line + "\n" for line in out.getvalue().splitlines()]


def _is_filler(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: list[str], start: int, column: int) -> int:
    """The line after the block that starts at `start` and holds what is indented deeper than `column`,
    not counting the blank and comment lines at its end (they belong to what follows)."""
    end = start + 1
    while end < len(lines) and (_is_filler(lines[end]) or _indent(lines[end]) > column):
        end += 1
    while end > start + 1 and _is_filler(lines[end - 1]):
        end -= 1
    return end


def merge(text: str, rows: list[dict[str, Any]]) -> ImportPlan:
    """Merge checked rows into the YAML `text`: update questions by id, append new ones.

    The file is edited as text at the lines ruamel.yaml locates, so every other line (comments,
    quoting, indentation, the other sections) stays byte for byte; an updated question is written
    anew in place (comments inside that one question are not kept).
    """
    tree = YAML(typ="rt").load(text)
    if tree is None:
        tree = CommentedMap()
    if not isinstance(tree, CommentedMap):
        raise QuizImportError(["the config file must be a mapping of sections (key: value)"])
    section = tree.get("quiz")
    if "quiz" in tree and not (isinstance(section, CommentedMap) and section and not section.fa.flow_style()):
        raise QuizImportError(["quiz: in the config file must be a block mapping (one key per line) to import into"])
    questions = section.get("questions") if section is not None else None
    if questions is not None and not isinstance(questions, CommentedSeq):
        raise QuizImportError(["quiz.questions in the config file is not a list"])
    if questions and questions.fa.flow_style():
        raise QuizImportError(["quiz.questions in the config file must be a block list to import into"])
    existing = list(questions or [])
    by_id = {str(q.get("id")): index for index, q in enumerate(existing) if isinstance(q, dict)}
    plan = ImportPlan(text=text)
    replaced: dict[int, dict[str, Any]] = {}
    appended: list[dict[str, Any]] = []
    merged = [_plain(q) for q in existing]
    for fields in rows:
        index = by_id.get(fields["id"])
        if index is None:
            appended.append(fields)
            merged.append({k: v for k, v in fields.items() if not _empty(k, v)})
            plan.added.append(fields["id"])
            continue
        before = merged[index]
        after = {k: v for k, v in {**before, **fields}.items() if not _empty(k, v)}
        if QuestionConfig.model_validate(before) == QuestionConfig.model_validate(after):
            plan.unchanged.append(fields["id"])
            continue
        replaced[index] = merged[index] = after
        plan.updated.append(fields["id"])
    try:
        QuizConfig.model_validate({**_plain(section or {}), "questions": merged})
    except ValidationError as exc:
        raise QuizImportError([f"quiz: {_describe(e)}" for e in exc.errors()]) from None
    if not plan.changes:
        return plan
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    # Edit from the bottom up, so the line numbers ruamel.yaml gave stay right.
    edits: list[tuple[int, int, list[str]]] = []
    if existing:
        assert questions is not None
        starts = [questions.lc.item(i)[0] for i in range(len(existing))]
        dash = lines[starts[0]].index("-")
        ends = [*starts[1:], None]
        for index, start in enumerate(starts):
            stop = ends[index]
            end = _block_end(lines, start, dash) if stop is None else stop
            while end > start + 1 and _is_filler(lines[end - 1]):
                end -= 1
            if index in replaced:
                edits.append((start, end, render([replaced[index]], dash)))
            if stop is None and appended:
                edits.append((end, end, render(appended, dash)))
    elif section is not None:
        key_column = section.lc.key(next(iter(section)))[1]
        if questions is not None:
            line, column = section.lc.key("questions")
            # 「questions: []」 or 「questions:」 with nothing: the items go on the lines below.
            lines[line] = re.sub(r"(questions\s*:)\s*(\[\s*\]|null|~)?", r"\1", lines[line], count=1)
            edits.append((line + 1, line + 1, render(appended, column + 2)))
        else:
            quiz_line = tree.lc.key("quiz")[0]
            end = _block_end(lines, quiz_line, tree.lc.key("quiz")[1])
            edits.append((end, end, [" " * key_column + "questions:\n", *render(appended, key_column + 2)]))
    else:
        edits.append((len(lines), len(lines), ["quiz:\n", "  questions:\n", *render(appended, 4)]))
    for start, end, new in sorted(edits, key=lambda edit: edit[0], reverse=True):
        lines[start:end] = new
    plan.text = "".join(lines)
    return plan
