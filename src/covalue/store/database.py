"""Opening a database: URL resolution, engine settings and schema migrations.

SQLite is the default (one file, nothing to install); PostgreSQL is for teams. The URL comes
from ``--db``, then ``COVALUE_DATABASE_URL``, then ``./covalue.db``. A bare path is taken
as an SQLite file.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from covalue.errors import StoreError

ENV_VAR = "COVALUE_DATABASE_URL"
DEFAULT_FILE = "covalue.db"


def resolve_url(db: str | Path | None = None) -> str:
    """The SQLAlchemy URL for ``db``, the environment, or the default file."""
    value = str(db) if db is not None else os.environ.get(ENV_VAR) or DEFAULT_FILE
    if "://" not in value:
        return f"sqlite:///{Path(value).expanduser()}"
    if value.startswith("postgresql://") or value.startswith("postgres://"):
        # psycopg 3 is the driver we ship; spell it out so SQLAlchemy does not look for psycopg2.
        value = "postgresql+psycopg://" + value.split("://", 1)[1]
    return value


def database_exists(url: str) -> bool:
    """False only for an SQLite file that is not there (servers are asked when connecting)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return True
    return Path(parsed.database).exists()


def create_db_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not Path(database).parent.exists():
            raise StoreError(f"folder of database file {database!r} does not exist")
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise StoreError(f"the driver for {parsed.get_backend_name()} is not installed: {exc.name}") from exc


def _sqlite_connect(dbapi_connection, _record) -> None:
    """Foreign keys on (cascades work), WAL (readers do not block the writer).

    Python's sqlite3 driver opens transactions lazily, at the first INSERT, and commits a
    SAVEPOINT released before that; savepoint-based rollbacks then leave rows behind. Turning
    its implicit handling off and emitting BEGIN ourselves (SQLAlchemy's documented recipe)
    makes every transaction and savepoint behave as on PostgreSQL.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection) -> None:
    connection.exec_driver_sql("BEGIN")


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("covalue.store") / "migrations"))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` inside one transaction."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
