"""Fixtures: one migrated database per session (SQLite or PostgreSQL, by LIFECYCLE_TEST_DB),
reset for every test; an app with its own instance folder; demo users; API and web helpers."""
from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from lifecycle import create_app
from lifecycle.extensions import db
from lifecycle.seeds import DEMO_PASSWORD
from lifecycle.actors import SystemActor

BACKEND = os.environ.get("LIFECYCLE_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("LIFECYCLE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FAST_HASH = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 64}


def _pg_unavailable_reason() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({type(exc).__name__}); PostgreSQL pass skipped"


def pytest_report_header(config):
    return f"lifecycle test database: {BACKEND}"


def pytest_collection_modifyitems(config, items):
    if BACKEND != "postgresql":
        return
    reason = _pg_unavailable_reason()
    if reason:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=reason))


def _migrate(url: str, instance: Path) -> None:
    from lifecycle.migrate import upgrade

    app = create_app({"INSTANCE_PATH": str(instance), "DATABASE_URL": url, "TESTING": True, **FAST_HASH})
    with app.app_context():
        upgrade()
    db.engine.dispose()


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    """Yields a function that gives each test a fresh, migrated database URL."""
    base = tmp_path_factory.mktemp("db")
    if BACKEND == "postgresql":
        name = f"lifecycle_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        _migrate(url, base / "instance")
        engine = create_engine(url)
        with engine.connect() as conn:
            tables = [r[0] for r in conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"))]
        truncate = "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"

        def fresh(_tmp: Path) -> str:
            with engine.begin() as conn:
                conn.execute(text(truncate))
            return url

        yield fresh
        engine.dispose()
        if db.engine is not None:
            db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        template = base / "template.db"
        _migrate(f"sqlite:///{template}", base / "instance")

        def fresh(tmp: Path) -> str:
            target = tmp / "lifecycle.db"
            shutil.copyfile(template, target)
            return f"sqlite:///{target}"

        yield fresh


@contextmanager
def running_app(database_url: str, instance: Path):
    """A test app inside its own app context, for as long as a fixture of any scope needs it."""
    application = create_app({
        "INSTANCE_PATH": str(instance), "DATABASE_URL": database_url, "TESTING": True,
        "WTF_CSRF_ENABLED": False, "BASE_URL": "http://lifecycle.test", "RATELIMIT_ENABLED": False,
        **FAST_HASH,
    })
    @application.before_request
    def forget_request_user():
        # The fixture keeps one app context open for the whole test, so `g` would otherwise carry
        # the previous request's user (Flask-Login's, the API's actor) into the next one.
        from flask import g
        g.pop("_login_user", None)
        g.pop("actor", None)

    with application.app_context():
        yield application
        db.session.remove()
    db.engine.dispose()


@pytest.fixture
def app(database, tmp_path):
    with running_app(database(tmp_path), tmp_path / "instance") as application:
        yield application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def world(app):
    """The demo departments, businesses and one user per role."""
    from lifecycle.auth.services import get_user
    from lifecycle.seeds import USERS, load_demo

    load_demo()
    return {login: get_user(login) for login, *_ in USERS}


class ApiClient:
    def __init__(self, client, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path, **kw):
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path, json=None, **kw):
        return self.client.post(path, json=json, headers=self.headers, **kw)


@pytest.fixture
def api(client, world):
    """api("registrar") → a client that sends that user's bearer token."""
    from lifecycle.auth.services import issue_token

    def for_user(login: str) -> ApiClient:
        return ApiClient(client, issue_token(SystemActor("system:test", "テスト"), login))

    return for_user


@pytest.fixture
def login(client, world):
    """login("admin") logs the test client in through the real login form."""
    def do(name: str, password: str = DEMO_PASSWORD):
        response = client.post("/login", data={"login": name, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    return do
