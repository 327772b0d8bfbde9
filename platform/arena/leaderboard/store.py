"""The leaderboard database: connect to it, and create or upgrade its tables with the shipped migrations.

SQLite and PostgreSQL (`postgresql+psycopg://`) are supported. A bad URL or a database that cannot
be reached is an ArenaError naming the URL with its password masked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from arena.errors import ArenaError, mask_secrets

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant works; it keeps two processes from migrating one PostgreSQL database at once.
_PG_MIGRATION_LOCK = 0x4152454E41
_WRITE = "arena_write"  # execution option: take SQLite's write lock when the transaction begins
REVISION_KEY = "revision"  # leaderboard_state row: how many write transactions the database has committed
# Raised by every write transaction as its last statement, so a reader (the dashboard's cache) sees that
# something changed with one small query; last, so it holds that row's lock only until the commit.
_BUMP_REVISION = text(
    "INSERT INTO leaderboard_state (key, number) VALUES (:key, 1) "
    "ON CONFLICT (key) DO UPDATE SET number = COALESCE(leaderboard_state.number, 0) + 1"
)


@dataclass(frozen=True)
class Store:
    """An open leaderboard database: the engine and the URL to show users (password masked)."""

    engine: Engine
    url: str

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection inside a read transaction."""
        with self._guard(), self.engine.connect() as connection, connection.begin():
            yield connection

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        """A connection inside a write transaction (SQLite: BEGIN IMMEDIATE, so writers queue up) that raises the revision."""
        with self._guard(), self.engine.connect().execution_options(**{_WRITE: True}) as connection:
            with connection.begin():
                yield connection
                connection.execute(_BUMP_REVISION, {"key": REVISION_KEY})

    def revision(self) -> int:
        """A number every write transaction through `writing` raises on commit (0 before the first)."""
        with self.reading() as connection:
            number = connection.scalar(text("SELECT number FROM leaderboard_state WHERE key = :key"), {"key": REVISION_KEY})
        return number or 0

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn a lost or refused database connection into an ArenaError naming the URL."""
        try:
            yield
        except DBAPIError as error:
            reason = first_line(error.orig)
            if error.connection_invalidated or _is_connection_problem(error):
                raise ArenaError(f"cannot reach the leaderboard database {self.url}: {reason}; check ARENA_DB_URL") from None
            if _is_busy(error):
                raise ArenaError(f"the leaderboard database {self.url} is busy: another writer (a sync or a migration) "
                                 f"held it longer than this one waits ({reason}); try again when it is done") from None
            if _is_full(error):
                raise ArenaError(f"the leaderboard database {self.url} cannot grow: {reason}; free some disk space") from None
            raise


def connect(db_url: str) -> Store:
    """An engine on the database at `db_url`, its tables not yet checked (`opening.open_store` does that)."""
    url = _parse(db_url)
    shown = url.render_as_string(hide_password=True)
    try:
        return Store(engine=_create_engine(url), url=shown)
    except (NoSuchModuleError, ModuleNotFoundError, ArgumentError) as error:
        raise ArenaError(f"unsupported leaderboard database URL {shown}: {first_line(error)}") from None


def migrate(store: Store) -> str:
    """Bring the schema to the newest revision (a no-op when it is there); return that revision."""
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    head = scripts.get_current_head()
    assert head is not None, "the leaderboard ships at least one migration"
    with store.reading() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current == head:
        return head
    if current is not None and current not in {script.revision for script in scripts.walk_revisions()}:
        raise ArenaError(
            f"the leaderboard database {store.url} was written by a newer arena (schema {current}; this arena "
            f"knows up to {head}): upgrade arena, or point ARENA_DB_URL at another database"
        )
    with store.writing() as connection:
        if store.dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return head


def _parse(db_url: str) -> URL:
    """Parse the URL; plain postgresql:// means the psycopg (3) driver arena installs."""
    try:
        url = make_url(db_url)
    except ArgumentError:
        raise ArenaError(
            f"bad leaderboard database URL {mask_secrets(db_url)!r}: expected e.g. sqlite:///path/leaderboard.db"
            " or postgresql+psycopg://user@host:5432/arena"
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ArenaError(f"cannot create the folder of the leaderboard database {url}: {error}") from None
    return url


def _create_engine(url: URL) -> Engine:
    """An engine tuned for the backend: SQLite in WAL mode with queued writers, PostgreSQL with timeouts."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
            dbapi_connection.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN itself
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            immediate = connection.get_execution_options().get(_WRITE, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    return create_engine(url)


def _is_connection_problem(error: DBAPIError) -> bool:
    """True for errors that mean the database is not there (refused, unknown host, bad password, no file)."""
    name = type(error.orig).__name__
    message = str(error.orig).lower()
    return name == "OperationalError" and any(
        hint in message
        for hint in ("connect", "unable to open", "authentication", "does not exist", "timeout", "resolve", "refused")
    )


def _is_busy(error: DBAPIError) -> bool:
    """True when SQLite's write lock stayed taken past busy_timeout."""
    return "database is locked" in str(error.orig).lower()


def _is_full(error: DBAPIError) -> bool:
    """True when the database ran out of room (SQLite's SQLITE_FULL, PostgreSQL's disk_full)."""
    message = str(error.orig).lower()
    return "database or disk is full" in message or "no space left" in message or type(error.orig).__name__ == "DiskFull"


def first_line(error: object) -> str:
    """The first line of an exception's message."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
