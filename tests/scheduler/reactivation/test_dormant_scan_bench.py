"""The dormant-scan benchmark's smoke mode runs and its plan reads the dormant window through the index."""

from __future__ import annotations

import pytest

from bench import dormant_scan


def test_smoke_run_on_sqlite_prints_an_index_plan_and_a_pass(capsys: pytest.CaptureFixture[str]) -> None:
    dormant_scan.main(["--count", "3000", "--groups", "20", "--backend", "sqlite"])
    out = capsys.readouterr().out
    assert "[sqlite] members 3,000" in out
    plan = out.split("[sqlite] plan:")[1].split("[sqlite] planning pass")[0]
    window_search = "SEARCH memberships USING INDEX ix_memberships_last_active_at (last_active_at>? AND "
    assert window_search in plan
    assert "SCAN memberships" not in plan
    assert "uq_reactivation_nudges_spell_step" in plan
    assert "[sqlite] planning pass:" in out and "nudged" in out


def test_smoke_run_on_postgresql_reads_the_window_through_the_index(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dormant_scan.main(["--count", "50000", "--groups", "50", "--backend", "postgresql", "--database-url", pg_url])
    out = capsys.readouterr().out
    plan = out.split("[postgresql] plan:")[1].split("[postgresql] planning pass")[0]
    assert "ix_memberships_last_active_at" in plan
    assert "Seq Scan on memberships" not in plan
    assert "[postgresql] planning pass:" in out
