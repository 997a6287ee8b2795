"""mypy stays clean on the packages pyproject.toml's [tool.mypy] names, so `make test` (and CI) checks typing too."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_is_clean() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]' brings it); typing not checked")
    # No arguments: the files and settings come from [tool.mypy] in pyproject.toml, as for `make lint`.
    done = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"mypy found problems:\n{done.stdout}{done.stderr}"
