"""SQLite schema of the memory store and its ``PRAGMA user_version`` migrations.

``MIGRATIONS[i]`` upgrades a database from version ``i`` to ``i + 1``; a new schema
change is a new function appended to the list, never an edit of an old one.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_LOGGER = logging.getLogger(__name__)


class SchemaError(RuntimeError):
    """The database file cannot be used with this version of the code."""


_V1_STATEMENTS = (
    """CREATE TABLE turns (
        id INTEGER PRIMARY KEY,
        user_text TEXT NOT NULL,
        reply TEXT NOT NULL,
        satellite TEXT NOT NULL,
        ts REAL NOT NULL,
        request_id TEXT,
        embedding BLOB NOT NULL
    )""",
    "CREATE INDEX turns_ts ON turns (ts)",
    "CREATE INDEX turns_satellite ON turns (satellite, id)",
    """CREATE TABLE facts (
        id INTEGER PRIMARY KEY,
        text TEXT NOT NULL,
        satellite TEXT,
        ts REAL NOT NULL,
        embedding BLOB NOT NULL
    )""",
    "CREATE INDEX facts_ts ON facts (ts)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # One full-text index for both kinds; kind/ref point back at the source row.
    """CREATE VIRTUAL TABLE docs_fts USING fts5(
        body, kind UNINDEXED, ref UNINDEXED, tokenize = 'porter unicode61'
    )""",
    # Triggers keep the index incremental: each insert adds one FTS row and nothing is
    # ever rebuilt.
    """CREATE TRIGGER turns_ai AFTER INSERT ON turns BEGIN
        INSERT INTO docs_fts (body, kind, ref)
        VALUES (new.user_text || ' ' || new.reply, 'turn', new.id);
    END""",
    """CREATE TRIGGER turns_ad AFTER DELETE ON turns BEGIN
        DELETE FROM docs_fts WHERE kind = 'turn' AND ref = old.id;
    END""",
    """CREATE TRIGGER facts_ai AFTER INSERT ON facts BEGIN
        INSERT INTO docs_fts (body, kind, ref) VALUES (new.text, 'fact', new.id);
    END""",
    """CREATE TRIGGER facts_ad AFTER DELETE ON facts BEGIN
        DELETE FROM docs_fts WHERE kind = 'fact' AND ref = old.id;
    END""",
)


def _v1_initial(conn: sqlite3.Connection) -> None:
    """Turns, facts, one FTS5 index over both (kept in sync by triggers), and meta."""
    for statement in _V1_STATEMENTS:
        conn.execute(statement)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1_initial]
"""Ordered upgrade steps; the schema version is ``len(MIGRATIONS)``."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The version this code writes."""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database up to ``SCHEMA_VERSION``, one transaction per step.

    Returns:
        The version the file had before.

    Raises:
        SchemaError: The file was written by a newer version.
    """
    (found,) = conn.execute("PRAGMA user_version").fetchone()
    if found > SCHEMA_VERSION:
        raise SchemaError(
            f"memory database has schema {found}, newer than this code's {SCHEMA_VERSION}; "
            "upgrade TARS or point MEMORY_DB_FILE at another file"
        )
    for version in range(found, SCHEMA_VERSION):
        _LOGGER.info("migrating memory database schema %s -> %s", version, version + 1)
        with transaction(conn):
            MIGRATIONS[version](conn)
            # PRAGMA takes no parameters; the value is an int we computed.
            conn.execute(f"PRAGMA user_version = {version + 1}")
    return int(found)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run a block in one write transaction (the connection is in autocommit mode)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def connect(path: str) -> sqlite3.Connection:
    """Open ``path`` in WAL mode for use from several threads (callers hold a lock).

    The connection is in autocommit mode; group writes with :func:`transaction`.
    """
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL is durable across application crashes in WAL mode; only a power cut can
    # lose the last commits, which is acceptable for conversation memory.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn
