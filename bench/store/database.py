"""Where the results database is and how to open it: a URL, an engine, the schema version checked at connect.

The URL comes from ``--db``, else ``TORCHRIG_DB``, else the embedded SQLite file (bench/config.py: DB_DEFAULT).
A plain path means a SQLite file; ``postgresql://`` means psycopg 3. Credentials are never shown: every message
renders the URL with its password hidden (``display``).

Schema versions are Alembic revisions (migrations/ beside this file, run in code: no alembic.ini). At connect:
an empty database is created at the newest revision; an older SQLite file (the embedded default, one user) is
migrated; an older PostgreSQL database (shared by a fleet, other writers connected) is refused with the command
that migrates it; a database newer than this torchrig is refused.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bench import config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
UPGRADE_COMMAND = "python -m bench db upgrade"


class StoreError(RuntimeError):
    """The results database cannot be used: the message says what and how to fix it (never a password)."""


class StoreUsageError(ValueError):
    """A --db value that is not a database URL or path."""


def display(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def resolve_url(value: str | None = None, environ: dict[str, str] | None = None, default: str | None = None) -> URL:
    """``--db`` (value), else TORCHRIG_DB, else ``default`` (the embedded SQLite file, config.DB_DEFAULT); a
    path is a SQLite file."""
    environ = os.environ if environ is None else environ
    text = value or environ.get(config.DB_ENV) or default or config.DB_DEFAULT
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text)))
    try:
        url = make_url(text)
    except ArgumentError:
        raise StoreUsageError("--db: not a database URL or path (expected sqlite:///FILE, "
                              "postgresql://USER@HOST/DB or a file path)") from None
    backend = url.get_backend_name()
    if backend == "postgresql" and url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    elif backend not in ("sqlite", "postgresql"):
        raise StoreUsageError(f"--db {display(url)}: unsupported database {backend!r} (expected sqlite or postgresql)")
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")  # concurrent writers wait for each other instead of failing
    # write-ahead log: readers go on while a report is written, and a commit needs no fsync of the database
    # (synchronous=NORMAL keeps every committed report across a crash of the process; a power cut may lose the
    # last ones, whose JSON is on disk)
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            try:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"{display(url)}: cannot create its folder ({error.strerror or error})") from None
        engine = sqlalchemy.create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return sqlalchemy.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except (ImportError, ModuleNotFoundError):
        raise StoreError(f"{display(url)}: PostgreSQL needs psycopg 3: pip install 'torchrig[postgres]'") from None


def alembic_config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config(None)).walk_revisions()}


def current_revision(connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


@dataclasses.dataclass(frozen=True)
class SchemaState:
    current: str | None  # None: an empty database (no tables of ours)
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def upgrade(engine: Engine) -> SchemaState:
    """Migrate to the newest revision (``bench db upgrade``); refuses a database newer than this torchrig."""
    from alembic import command

    with engine.begin() as connection:
        state = SchemaState(current_revision(connection), head_revision())
        check_known(state, engine.url)
        if not state.up_to_date:
            command.upgrade(alembic_config(connection), "head")
    return state


def check_known(state: SchemaState, url: URL) -> None:
    if state.current is not None and state.current not in known_revisions():
        raise StoreError(f"{display(url)}: schema revision {state.current} is newer than this torchrig knows "
                         f"(its newest is {state.head}): upgrade torchrig")


def open_engine(url: URL) -> Engine:
    """An engine on a database at the newest schema: created if empty, migrated if it is an older SQLite file,
    else refused with the command that migrates it. StoreError when it cannot be reached."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            state = SchemaState(current_revision(connection), head_revision())
        check_known(state, url)
        if state.up_to_date:
            return engine
        if state.current is not None and url.get_backend_name() != "sqlite":
            raise StoreError(f"{display(url)}: schema revision {state.current} is older than {state.head}: "
                             f"migrate it with `{UPGRADE_COMMAND} --db URL` (once, while no torchrig writes to it)")
        upgrade(engine)
        return engine
    except SQLAlchemyError as error:
        engine.dispose()
        raise StoreError(f"{display(url)}: {describe(error)}") from None
    except StoreError:
        engine.dispose()
        raise


def describe(error: BaseException) -> str:
    """The first line of a driver's error, without the SQL or parameters SQLAlchemy appends (no secrets)."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0]}" if text else type(original).__name__
