"""Tables for an operations team: CSV (UTF-8 with BOM) or XLSX with real dates and numbers; and reading them back."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click
from openpyxl import Workbook, load_workbook

from bot.cli.common import CSV_ENCODING, safe_cells

# A column is (English header, Chinese header); exports show Chinese unless `--lang en`.
Column = tuple[str, str]
LANG_OPTION = click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default="zh",
    show_default=True,
    help="Column headers in Chinese (zh) or English (en).",
)
DATE_FORMAT = "yyyy-mm-dd hh:mm"
# The most rows an import reads; a larger file is split by the operator.
MAX_IMPORT_ROWS = 100_000


def headers(columns: Sequence[Column], lang: str) -> list[str]:
    """Return the header row in `lang`."""
    return [en if lang == "en" else zh for en, zh in columns]


def local_naive(at: datetime | None, zone: object) -> datetime | None:
    """Return `at` as wall-clock time in `zone` without tzinfo: what a spreadsheet stores as a date."""
    return at.astimezone(zone).replace(tzinfo=None) if at else None  # type: ignore[arg-type]


def _text(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    return "" if value is None else value


def write_csv(header: list[str], rows: Sequence[Sequence[object]], output: str | None) -> None:
    """Write a CSV with a BOM (Excel opens it as UTF-8) to `output`, or print it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(safe_cells([_text(v) for v in row]) for row in rows)
    if output:
        Path(output).write_text(buffer.getvalue(), encoding=CSV_ENCODING, newline="")
    else:
        click.echo(buffer.getvalue(), nl=False)


def write_xlsx(
    header: list[str],
    rows: Sequence[Sequence[object]],
    output: str,
    *,
    title: str,
    preamble: Sequence[str] = (),
) -> None:
    """Write one sheet: the `preamble` lines on top (a deal's title and terms), then the table.

    Dates are date cells (formatted in the configured zone's wall-clock time), numbers are numbers.
    """
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    for line in preamble:
        sheet.append(safe_cells([line]))
    if preamble:
        sheet.append([])
    sheet.append(header)
    for row in rows:
        sheet.append(safe_cells(["" if v is None else v for v in row]))
    for column in sheet.iter_cols(min_row=len(preamble) + 2):
        for cell in column:
            if isinstance(cell.value, datetime):
                cell.number_format = DATE_FORMAT
    # Keep the header row in view while scrolling a long roster.
    sheet.freeze_panes = f"A{len(preamble) + (2 if preamble else 1) + 1}"
    book.save(output)


def read_table(path: str) -> list[dict[str, str]]:
    """Read a CSV (UTF-8, with or without BOM) or XLSX table: one dict per row by its header, values as text."""
    if path.lower().endswith(".xlsx"):
        book = load_workbook(path, read_only=True, data_only=True)
        sheet = book.active
        assert sheet is not None
        raw = [["" if v is None else str(v).strip() for v in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
    else:
        with Path(path).open(encoding="utf-8-sig", newline="") as fh:
            raw = [[v.strip() for v in row] for row in csv.reader(fh)]
    raw = [row for row in raw if any(row)]
    if not raw:
        return []
    if len(raw) > MAX_IMPORT_ROWS + 1:
        raise click.UsageError(f"{path} has more than {MAX_IMPORT_ROWS} rows; split it")
    head = raw[0]
    return [{head[i]: (row[i] if i < len(row) else "") for i in range(len(head)) if head[i]} for row in raw[1:]]


def pick(row: dict[str, str], column: Column) -> str:
    """Return the row's value under either header of `column`."""
    en, zh = column
    return row.get(zh) or row.get(en) or ""
