"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, configs, the app, a frozen clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from ruamel.yaml import YAML
from sqlalchemy.engine import Engine, make_url

from bot.app import create_app
from bot.clock import FrozenClock
from bot.services import Services, build_services
from models import Base, migrate
from models.db import make_engine
from tests import factories
from tests.factories import load_handlers

# "ci" keeps property tests quick on a shared two-core runner; `--hypothesis-profile=long` digs deeper.
# `ci` draws the same examples on every run, so a landing never hinges on luck; `long` explores afresh each run.
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "long", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile("ci")

PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parent.parent


def _pg_target() -> tuple[str, bool]:
    url = os.environ.get("GROUPBOT_TEST_DATABASE_URL")
    return (url, True) if url else (PG_DEFAULT_URL, False)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A private schema in the test PostgreSQL; skipped when none is reachable unless one was required."""
    url, required = _pg_target()
    parsed = make_url(url).set(drivername="postgresql")
    conninfo = parsed.render_as_string(hide_password=False)
    try:
        admin = psycopg.connect(conninfo, connect_timeout=3, autocommit=True)
    except psycopg.Error as exc:
        if required:
            pytest.fail(f"GROUPBOT_TEST_DATABASE_URL is set but PostgreSQL is not reachable: {exc}")
        pytest.skip("PostgreSQL not reachable (set GROUPBOT_TEST_DATABASE_URL to require it)")
    schema = f"gbtest_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


_ENGINES: dict[str, Engine] = {}


def _migrated(url: str) -> Engine:
    if url not in _ENGINES:
        engine = make_engine(url)
        migrate.upgrade(engine)
        _ENGINES[url] = engine
    return _ENGINES[url]


def _wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/groupbot-test.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated, empty database; every test using it runs once per backend."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = _migrated(database_url)
    _wipe(engine)
    yield engine
    _wipe(engine)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """PostgreSQL only: for proofs that need real parallel connections."""
    engine = _migrated(pg_url)
    _wipe(engine)
    yield engine
    _wipe(engine)


@pytest.fixture
def wide_pg(pg_engine: Engine, pg_url: str) -> Iterator[Engine]:
    """The migrated, wiped PostgreSQL schema behind a pool of 50, so 50 workers each hold a connection at once."""
    engine = make_engine(pg_url, pool_size=50, max_overflow=0)
    yield engine
    engine.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for engine in _ENGINES.values():
        engine.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))


def base_config(database_url: str = "sqlite:///unused.db") -> dict[str, Any]:
    """A complete config with both channels configured with the test credentials."""
    return {
        "timezone": "Asia/Shanghai",
        "database_url": database_url,
        "wecom": {
            "corp_id": factories.CORP_ID,
            "agent_id": factories.AGENT_ID,
            "secret": "test-secret",
            "token": factories.APP_TOKEN,
            "encoding_aes_key": factories.APP_AES_KEY,
            "api_base": "http://127.0.0.1:9",
        },
        "aibot": {"token": factories.AIBOT_TOKEN, "encoding_aes_key": factories.AIBOT_AES_KEY},
        "roles": {"admins": ["boss"], "guides": ["guide01"]},
        "keywords": [{"match": ["发货", "快递"], "reply": "48小时内发货"}],
    }


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    yaml = YAML()
    yaml.allow_unicode = True
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(data, fh)
    return path


@pytest.fixture
def config_file(tmp_path: Path, database_url: str) -> Path:
    return write_yaml(tmp_path / "config.yaml", base_config(database_url))


@pytest.fixture
def make_services(engine: Engine, clock: FrozenClock) -> Callable[..., Services]:
    def make(config_path: Path, **kwargs: Any) -> Services:
        # Tests edit and use the file at once; the settle time has tests of its own (tests/bot/config/test_guard.py).
        kwargs.setdefault("config_settle_seconds", 0)
        return build_services(str(config_path), registry=load_handlers(), clock=clock, engine=engine, **kwargs)

    return make


@pytest.fixture
def services(make_services: Callable[..., Services], config_file: Path) -> Services:
    return make_services(config_file)


@pytest.fixture
def client(services: Services):  # type: ignore[no-untyped-def]
    return create_app(services).test_client()


def count_rows(engine: Engine, model: type[Base]) -> int:
    from sqlalchemy import func, select

    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()
