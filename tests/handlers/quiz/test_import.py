"""`groupbot quiz import`: the question bank from a CSV or XLSX into the config file, checked, idempotent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from openpyxl import Workbook

from handlers.quiz.config import QUIZ_SECTION
from tests.factories import load_config

ROOT = Path(__file__).resolve().parents[3]
HEADER = "题号,题目,A,B,C,D,答案,解析,积分,标签"


def run(*args: str) -> Result:
    from bot.cli.main import main

    environment = {"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None}
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The shipped example config (comments, flow lists, q001 and q002 in its bank)."""
    path = tmp_path / "config.yaml"
    shutil.copy(ROOT / "config.example.yaml", path)
    return path


def write_csv(path: Path, *rows: str, bom: bool = True) -> Path:
    path.write_text(("\ufeff" if bom else "") + "\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def questions(config: Path) -> dict[str, object]:
    return {q.id: q for q in QUIZ_SECTION.of(load_config(config)).questions}


GOOD = (
    'q003,哪种水果富含维生素C？,苹果,猕猴桃,西瓜,,B,猕猴桃的维C很高。,"20,10",水果 健康',
    "q001,我们的生鲜订单几点前下单可以当日达？,上午 10 点,中午 12 点,下午 3 点,晚上 8 点,B,改为中午 12 点前。,,配送",
    "q004,本店的吉祥物叫什么？,,,,,小橙|橙子,,,",
)


def test_import_appends_new_updates_known_and_keeps_the_rest_of_the_file(config: Path, tmp_path: Path) -> None:
    before = config.read_text(encoding="utf-8")
    table = write_csv(tmp_path / "bank.csv", *GOOD)

    result = run("quiz", "import", str(table), "--config", str(config))

    assert result.exit_code == 0, result.output
    assert "added 2, updated 1, 0 unchanged" in result.output and "+ q003" in result.output
    bank = questions(config)
    assert list(bank) == ["q001", "q002", "q003", "q004"]
    assert bank["q001"].explain == "改为中午 12 点前。"  # type: ignore[attr-defined]
    q3 = bank["q003"]
    assert q3.options == {"A": "苹果", "B": "猕猴桃", "C": "西瓜"}  # type: ignore[attr-defined]
    assert q3.points == [20, 10] and q3.tags == ["水果", "健康"] and q3.correct("猕猴桃")  # type: ignore[attr-defined]
    assert bank["q004"].answers == ["小橙", "橙子"] and bank["q004"].correct("橙子")  # type: ignore[attr-defined]
    after = config.read_text(encoding="utf-8")
    # Comments and the other sections are as the admin wrote them; q002 untouched.
    assert "# points of the 1st, 2nd, 3rd correct answer" in after
    assert "points: [20, 10, 5]       # this question's own points by rank" in after
    assert before.split("quiz:")[0] == after.split("quiz:")[0]
    assert before.split("# ---- group-buys")[1] == after.split("# ---- group-buys")[1]


def test_a_rerun_changes_nothing(config: Path, tmp_path: Path) -> None:
    table = write_csv(tmp_path / "bank.csv", *GOOD)
    assert run("quiz", "import", str(table), "--config", str(config)).exit_code == 0
    written = config.read_bytes()

    again = run("quiz", "import", str(table), "--config", str(config))

    assert again.exit_code == 0, again.output
    assert "added 0, updated 0, 3 unchanged" in again.output
    assert config.read_bytes() == written


def test_dry_run_shows_what_would_change_and_writes_nothing(config: Path, tmp_path: Path) -> None:
    before = config.read_bytes()
    table = write_csv(tmp_path / "bank.csv", *GOOD)

    result = run("quiz", "import", str(table), "--dry-run", "--config", str(config))

    assert result.exit_code == 0, result.output
    assert "would add 2, would update 1" in result.output
    assert "+ q003" in result.output and "+ q004" in result.output and "~ q001" in result.output
    assert config.read_bytes() == before


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ("q005,哪个对？,甲,乙,,,,,,", "row 3: 答案/answers is empty"),
        ("q005,哪个对？,甲,乙,,,E,,,", "row 3 (q005): 答案/answers: answer 'E' names no option"),
        ("q003,又一题,,,,,好,,,", "row 3: question id 'q003' appears again (first on row 2)"),
        ("123,纯数字题号,,,,,好,,,", "row 3 (123): 题号/id: a question id needs at least one letter"),
        ("q005,积分不对,,,,,好,,-1,", "row 3 (q005): 积分/points: points cannot be negative"),
        ("q005,只有一个选项,甲,,,,A,,,", "row 3 (q005): A–D: a choice question needs at least two options"),
    ],
)
def test_a_bad_row_is_named_and_nothing_is_written(config: Path, tmp_path: Path, row: str, said: str) -> None:
    before = config.read_bytes()
    table = write_csv(tmp_path / "bank.csv", GOOD[0], row)

    result = run("quiz", "import", str(table), "--config", str(config))

    assert result.exit_code == 1
    assert said in result.output, result.output
    assert "nothing imported" in result.output
    assert config.read_bytes() == before


def test_a_header_without_the_answer_column_is_refused(config: Path, tmp_path: Path) -> None:
    table = tmp_path / "bank.csv"
    table.write_text("题号,题目\nq009,没有答案\n", encoding="utf-8")
    result = run("quiz", "import", str(table), "--config", str(config))
    assert result.exit_code == 1 and "lacks the column(s) 答案/answers" in result.output


def test_xlsx_with_english_headers_and_a_multiple_choice_answer(config: Path, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["id", "question", "a", "b", "c", "d", "answers", "explain", "points", "tags"])
    sheet.append(["q010", "哪些是柑橘类？", "橙子", "苹果", "柚子", "香蕉", "AC", "橙和柚。", 15, "水果"])
    path = tmp_path / "bank.xlsx"
    book.save(path)

    result = run("quiz", "import", str(path), "--config", str(config))

    assert result.exit_code == 0, result.output
    q10 = questions(config)["q010"]
    assert q10.answers == ["A", "C"] and q10.points == [15]  # type: ignore[attr-defined]
    assert q10.correct("柚子") and not q10.correct("B")  # type: ignore[attr-defined]


def test_csv_without_bom_and_a_config_without_quiz_section(tmp_path: Path) -> None:
    from tests.conftest import base_config, write_yaml

    config = write_yaml(tmp_path / "config.yaml", base_config())
    table = write_csv(tmp_path / "bank.csv", GOOD[2], bom=False)
    result = run("quiz", "import", str(table), "--config", str(config))
    assert result.exit_code == 0, result.output
    assert list(questions(config)) == ["q004"]


@pytest.mark.parametrize(
    ("quiz", "kept"),
    [
        ("quiz:\n  default_seconds: 30   # short quizzes\n", "  default_seconds: 30   # short quizzes\n"),
        ("quiz:\n  questions: []   # the bank\n", "  questions:   # the bank\n"),
        ("quiz:\n  questions:\n  - id: q1\n    question: 一\n    answers: [好]  # mine\n", "answers: [好]  # mine\n"),
    ],
)
def test_each_shape_of_quiz_section_takes_the_questions(tmp_path: Path, quiz: str, kept: str) -> None:
    from tests.conftest import base_config, write_yaml

    config = write_yaml(tmp_path / "config.yaml", base_config())
    config.write_text(config.read_text(encoding="utf-8") + quiz + "# the end\n", encoding="utf-8")
    table = write_csv(tmp_path / "bank.csv", GOOD[2])

    result = run("quiz", "import", str(table), "--config", str(config))

    assert result.exit_code == 0, result.output
    text = config.read_text(encoding="utf-8")
    assert kept in text and text.endswith("# the end\n"), text
    assert "q004" in questions(config)
