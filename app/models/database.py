"""Engine and session factory, usable from the API, the workers and the CLI alike."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import TextClause

CONNECT_TIMEOUT = 5  # seconds


class Database:
    """One engine per process. ``transaction()`` owns a unit of work: commit or roll back."""

    def __init__(self) -> None:
        # Given to every session as ``Session.info``: settings a read needs that a session can
        # carry (``component_aliases``, to read a stored definition as the services do).
        self.info: dict = {}
        self.engine: Engine | None = None
        # Postgres: single statements that commit on their own (``app/services/attempts.py``).
        self.statements: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._sql: dict[TextClause, str] = {}  # statement → its SQL for psycopg (``first``)
        self.url: str | None = None

    def configure(self, url: str) -> None:
        if self.engine is not None and self.url == url:
            return
        self.dispose()
        self._sql.clear()
        self.url = url
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            # Recycle instead of pinging on every checkout: a ping is a round trip per task.
            # A bounded connect: while the database is unreachable a request or a task fails
            # within seconds (503, or a retried write) instead of hanging on a dead socket.
            engine = create_engine(
                url,
                pool_recycle=300,
                pool_size=10,
                max_overflow=20,
                pool_timeout=10,
                connect_args={"connect_timeout": CONNECT_TIMEOUT},
            )
            # A few connections of their own, in autocommit (no BEGIN or COMMIT round trip), with
            # prepared statements from the first execution and generic plans: a CTE this size
            # would otherwise be planned again on every execution.
            self.statements = create_engine(
                url,
                isolation_level="AUTOCOMMIT",
                pool_recycle=300,
                pool_size=2,
                max_overflow=8,
                pool_timeout=10,
                connect_args={
                    "connect_timeout": CONNECT_TIMEOUT,
                    "prepare_threshold": 0,
                    "options": "-c plan_cache_mode=force_generic_plan",
                },
            )
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False, info=self.info)

    def dispose(self) -> None:
        """Drop pooled connections; called in each new worker process (never share sockets)."""
        for engine in (self.engine, self.statements):
            if engine is not None:
                engine.dispose()

    def first(self, statement: TextClause, params: Mapping[str, Any]) -> Any:
        """The first row (a named tuple) of one statement on a ``statements`` connection, or None.

        The statement goes to psycopg directly, compiled by SQLAlchemy once: SQLAlchemy's execution
        (its context, its result, its parameter and row processing) costs the client two to three
        times what psycopg does for the same prepared statement, and the workers send two of these
        per task. What SQLAlchemy would do on an error is done here: a broken connection leaves
        the pool, and the error is raised as SQLAlchemy's (``OperationalError``, …), which callers
        retry as they do any other statement's."""
        sql = self._sql.get(statement)
        if sql is None:
            sql = self._sql[statement] = str(statement.compile(dialect=self.statements.dialect))
        connection = None
        try:
            connection = self.statements.raw_connection()
            with connection.driver_connection.cursor(row_factory=namedtuple_row) as cursor:
                cursor.execute(sql, params)
                return cursor.fetchone()
        except psycopg.Error as exc:
            driver = connection and connection.driver_connection
            broken = driver is not None and (driver.broken or driver.closed)
            if broken:
                connection.invalidate(exc)
            raise DBAPIError.instance(
                sql, params, exc, psycopg.Error, connection_invalidated=bool(broken)
            ) from exc
        finally:
            if connection is not None:
                connection.close()

    @property
    def is_sqlite(self) -> bool:
        return bool(self.url and self.url.startswith("sqlite"))

    def session(self) -> Session:
        if self._sessions is None:
            raise RuntimeError("database is not configured")
        return self._sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
