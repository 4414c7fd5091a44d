"""The decision log on PostgreSQL: a connection that speaks the SQL the log speaks to SQLite.

``DecisionLog`` keeps its chain logic in one place; this adapter gives it what differs on
PostgreSQL (psycopg 3): placeholders, the write lock (an advisory lock on the chain's head, taken
inside the transaction that appends, so appends from several machines are serialised), the layout
check against the catalogue, and errors translated to the ``sqlite3`` exception types the log
already maps to clear messages. The same records, canonical bytes and hashes, on either.
"""
from __future__ import annotations

import re
import sqlite3
from typing import Any
from urllib.parse import urlsplit, urlunsplit

CHAIN_LOCK = 7_470_626  # the advisory lock that serialises appends to the chain

SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, kind TEXT NOT NULL, encoding TEXT NOT NULL, content BYTEA NOT NULL)",
    "CREATE TABLE records (seq BIGINT PRIMARY KEY, decision_id TEXT NOT NULL, recorded_at TEXT NOT NULL, "
    "engine_version TEXT NOT NULL, evaluator TEXT NOT NULL, ruleset_id TEXT NOT NULL, ruleset_version TEXT NOT NULL, "
    "ruleset_sha256 TEXT NOT NULL, schema_sha256 TEXT NOT NULL, facts_sha256 TEXT NOT NULL, as_of TEXT NOT NULL, "
    "overrides TEXT NOT NULL, applicants BIGINT NOT NULL, allocated_fte TEXT NOT NULL, output_sha256 TEXT NOT NULL, "
    "output_encoding TEXT NOT NULL, output BYTEA NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, "
    "extra TEXT NOT NULL DEFAULT '{}')",
    "CREATE INDEX records_decision ON records (decision_id)",
    "CREATE TABLE tokens (name TEXT PRIMARY KEY, role TEXT NOT NULL, sha256 TEXT NOT NULL UNIQUE, "
    "created_at TEXT NOT NULL, revoked_at TEXT)",
)
# format 3: the idempotency keys (see ``audit.UPGRADE_TO_3``)
UPGRADE_TO_3 = ("CREATE TABLE idempotency (key TEXT PRIMARY KEY, request_sha256 TEXT NOT NULL, seq BIGINT NOT NULL, "
                "created_at TEXT NOT NULL)",
                "CREATE TABLE sessions (sha256 TEXT PRIMARY KEY, token TEXT NOT NULL, created_at TEXT NOT NULL, "
                "seen_at TEXT NOT NULL, expires_at TEXT NOT NULL)")

# format 4: the drafts (see ``audit.UPGRADE_TO_4``)
UPGRADE_TO_4 = ("CREATE TABLE drafts (name TEXT PRIMARY KEY, ruleset_id TEXT NOT NULL, text TEXT NOT NULL, "
                "revision BIGINT NOT NULL, author TEXT NOT NULL, state TEXT NOT NULL, updated_at TEXT NOT NULL)",
                "CREATE INDEX records_texts ON records (ruleset_sha256, schema_sha256)")

# format 5: the index of approvals only (see ``audit.UPGRADE_TO_5``)
UPGRADE_TO_5 = ("DROP INDEX records_texts",
                "CREATE INDEX records_approvals ON records (ruleset_sha256, schema_sha256, seq) "
                "WHERE applicants = 0 AND evaluator = '-'")

_OBJECTS = """
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'view'
                      WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'table' ELSE c.relkind::text END,
       c.relname,
       coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                   || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY a.attnum)
                 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
UNION ALL SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
UNION ALL SELECT 'trigger', t.tgname, '' FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND NOT t.tgisinternal
UNION ALL SELECT 'rule', rulename, '' FROM pg_rules WHERE schemaname = current_schema()
UNION ALL SELECT 'policy', policyname, '' FROM pg_policies WHERE schemaname = current_schema()
"""

_COLUMNS = {
    "meta": "key text not null, value text not null",
    "blobs": "sha256 text not null, kind text not null, encoding text not null, content bytea not null",
    "records": ", ".join(f"{name} {kind} not null" for name, kind in (
        ("seq", "bigint"), ("decision_id", "text"), ("recorded_at", "text"), ("engine_version", "text"),
        ("evaluator", "text"), ("ruleset_id", "text"), ("ruleset_version", "text"), ("ruleset_sha256", "text"),
        ("schema_sha256", "text"), ("facts_sha256", "text"), ("as_of", "text"), ("overrides", "text"),
        ("applicants", "bigint"), ("allocated_fte", "text"), ("output_sha256", "text"), ("output_encoding", "text"),
        ("output", "bytea"), ("prev_hash", "text"), ("hash", "text"), ("extra", "text"))),
    "tokens": "name text not null, role text not null, sha256 text not null, created_at text not null, revoked_at text",
    "idempotency": "key text not null, request_sha256 text not null, seq bigint not null, created_at text not null",
    "sessions": "sha256 text not null, token text not null, created_at text not null, seen_at text not null, "
                "expires_at text not null",
    "drafts": "name text not null, ruleset_id text not null, text text not null, revision bigint not null, "
              "author text not null, state text not null, updated_at text not null",
}
_INDEXES = {"meta_pkey": ("UNIQUE ", "meta", "key"), "blobs_pkey": ("UNIQUE ", "blobs", "sha256"),
            "records_pkey": ("UNIQUE ", "records", "seq"), "records_decision": ("", "records", "decision_id"),
            "tokens_pkey": ("UNIQUE ", "tokens", "name"), "tokens_sha256_key": ("UNIQUE ", "tokens", "sha256"),
            "idempotency_pkey": ("UNIQUE ", "idempotency", "key"), "sessions_pkey": ("UNIQUE ", "sessions", "sha256"),
            "drafts_pkey": ("UNIQUE ", "drafts", "name"),
            "records_texts": ("", "records", "ruleset_sha256, schema_sha256"),
            "records_approvals": ("", "records", "ruleset_sha256, schema_sha256, seq")}
_WHERE = {"records_approvals": " WHERE ((applicants = 0) AND (evaluator = '-'::text))"}  # as pg_indexes shows it
_SINCE = {"idempotency": 3, "idempotency_pkey": 3, "sessions": 3, "sessions_pkey": 3, "drafts": 4, "drafts_pkey": 4,
          "records_texts": 4, "records_approvals": 5}  # objects a log of an earlier format does not have
_UNTIL = {"records_texts": 4}  # objects of an earlier format that a later one dropped: the last format that has them


def _in_format(name: str, version: int) -> bool:
    return _SINCE.get(name, 2) <= version <= _UNTIL.get(name, version)


def is_postgres(target: str) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def display(dsn: str) -> str:
    """A DSN without its password, for messages."""
    parts = urlsplit(dsn)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


_POOLS: dict = {}  # (dsn, readonly) -> psycopg_pool.ConnectionPool, once use_pools() was called in this process
_POOL_SIZE = 0


def use_pools(size: int = 4) -> None:
    """Keep up to ``size`` connections per database open in this process (a service worker), instead of one
    connection per log opened: a request then costs no connection set-up. The command line never calls it."""
    global _POOL_SIZE
    _POOL_SIZE = size


def close_pools() -> None:
    """Close every pool of this process (at the end of a worker, or of a test)."""
    for pool in _POOLS.values():
        pool.close()
    _POOLS.clear()


def _pool(dsn: str, options: str) -> Any:
    from psycopg_pool import ConnectionPool

    key = (dsn, options)
    if key not in _POOLS:
        _POOLS[key] = ConnectionPool(dsn, min_size=1, max_size=_POOL_SIZE, open=True, timeout=30,
                                     check=ConnectionPool.check_connection,  # a database restarted meanwhile
                                     kwargs={"autocommit": True, "options": options, "connect_timeout": 30})
    return _POOLS[key]


class PostgresConnection:
    """What ``DecisionLog`` needs of a connection, on PostgreSQL."""

    kind = "postgresql"

    def __init__(self, dsn: str, readonly: bool):
        try:
            import psycopg
        except ImportError:
            raise sqlite3.OperationalError("unable to open: PostgreSQL needs psycopg (pip install 'psycopg[binary]')") from None
        self._psycopg = psycopg
        options = "-c default_transaction_read_only=on" if readonly else ""
        self._pool = None
        try:
            self.conn = self._pooled(dsn, options) if _POOL_SIZE else None
            if self.conn is None:
                self.conn = psycopg.connect(dsn, autocommit=True, options=options, connect_timeout=30)
        except Exception as exc:  # psycopg.Error, or the pool's PoolTimeout: the database is not reachable
            raise sqlite3.OperationalError(f"unable to open: {_first_line(exc)}") from None

    def _pooled(self, dsn: str, options: str) -> Any:
        """A connection of this process's pool; None when all are in use for a moment (a request that opens the
        log twice must never wait for itself: it then connects on its own)."""
        from psycopg_pool import PoolTimeout

        pool = _pool(dsn, options)
        try:
            connection = pool.getconn(timeout=0.5)
        except PoolTimeout:
            return None
        self._pool = pool
        return connection

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE

    def execute(self, sql: str, args: tuple | list = ()) -> Any:
        if sql.startswith("PRAGMA"):
            return _Empty()
        if sql == "BEGIN IMMEDIATE":  # the write lock of the chain, before the previous hash is read
            self._run("BEGIN")
            return self._run("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
        return self._run(sql.replace(" NOT INDEXED", "").replace("?", "%s"), args)

    def _run(self, sql: str, args: tuple | list = ()) -> Any:
        try:
            return self.conn.execute(sql, tuple(args))
        except self._psycopg.errors.UniqueViolation as exc:
            raise sqlite3.IntegrityError(_first_line(exc)) from None
        except self._psycopg.errors.DiskFull as exc:
            raise sqlite3.OperationalError(f"database or disk is full: {_first_line(exc)}") from None
        except self._psycopg.errors.ReadOnlySqlTransaction as exc:
            raise sqlite3.OperationalError(f"attempt to write a readonly database: {_first_line(exc)}") from None
        except self._psycopg.OperationalError as exc:
            raise sqlite3.OperationalError(f"unable to open: {_first_line(exc)}") from None
        except self._psycopg.Error as exc:
            raise sqlite3.DatabaseError(_first_line(exc)) from None

    def schema_objects(self) -> frozenset:
        return frozenset(tuple(row) for row in self._run(_OBJECTS))

    def expected_layout(self, version: int) -> frozenset:
        schema = self._run("SELECT current_schema()").fetchone()[0]
        tables = {("table", name, columns) for name, columns in _COLUMNS.items() if _in_format(name, version)}
        indexes = {("index", name, f"CREATE {unique}INDEX {name} ON {schema}.{table} USING btree ({column})"
                    + _WHERE.get(name, ""))
                   for name, (unique, table, column) in _INDEXES.items() if _in_format(name, version)}
        return frozenset(tables | indexes)

    def create(self) -> None:
        for statement in SCHEMA + self.upgrade_statements(2):
            self._run(statement)

    def upgrade_statements(self, version: int) -> tuple:
        """What turns a log of ``version`` into the current format (PostgreSQL logs start at format 2)."""
        steps = {3: UPGRADE_TO_3, 4: UPGRADE_TO_4, 5: UPGRADE_TO_5}
        return tuple(statement for number in range(version + 1, max(steps) + 1) for statement in steps[number])

    def close(self) -> None:
        if self._pool is None:
            self.conn.close()
            return
        if self.in_transaction:  # an append that failed half-way: nothing of it stays, and the lock goes with it
            self.conn.rollback()
        self._pool.putconn(self.conn)


class _Empty:
    def fetchone(self):
        return None

    def __iter__(self):
        return iter(())


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return re.sub(r"\s+", " ", text[0]) if text else type(exc).__name__
