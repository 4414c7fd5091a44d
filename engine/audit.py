"""Stage 7, audit: the decision log, in SQLite, as a hash chain.

Every evaluation appends one record, committed before the decision is shown.
Each record stores what the decision depended on (ruleset id, version and
sha256, the facts schema's and the facts' sha256, as-of date, overrides,
engine version) and the full output; the exact rule, schema and facts texts
are stored once each, addressed by their sha256, so replay never depends on
files that may have changed since.

Tamper evidence: ``hash = sha256(prev_hash || canonical(record))``. A changed
byte, a removed, reordered or inserted record breaks the chain; a rewrite that
recomputes every hash is caught by comparing with a head (count and hash)
written down earlier. The log knows nothing of rules: it stores and checks
bytes and the fields it was given.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import AuditFailure, LogError, LookupFailure

FORMAT = "rules-decision-log"
FORMAT_VERSION = 1
GENESIS = "0" * 64
BUSY_TIMEOUT_MS = 60_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, kind TEXT NOT NULL, encoding TEXT NOT NULL,
                                  content BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    decision_id TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    engine_version TEXT NOT NULL,
    evaluator TEXT NOT NULL,
    ruleset_id TEXT NOT NULL,
    ruleset_version TEXT NOT NULL,
    ruleset_sha256 TEXT NOT NULL,
    schema_sha256 TEXT NOT NULL,
    facts_sha256 TEXT NOT NULL,
    as_of TEXT NOT NULL,
    overrides TEXT NOT NULL,
    applicants INTEGER NOT NULL,
    allocated_fte TEXT NOT NULL,
    output_sha256 TEXT NOT NULL,
    output_encoding TEXT NOT NULL,
    output BLOB NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_decision ON records (decision_id);
"""

FIELDS = ("seq", "decision_id", "recorded_at", "engine_version", "evaluator", "ruleset_id", "ruleset_version",
          "ruleset_sha256", "schema_sha256", "facts_sha256", "as_of", "overrides", "applicants", "allocated_fte",
          "output_sha256", "prev_hash")
COLUMNS = FIELDS + ("output_encoding", "output", "hash")


def default_path() -> Path:
    """``$RULES_LOG``, else ``$XDG_DATA_HOME/rules/decisions.sqlite`` (``~/.local/share/...``)."""
    if os.environ.get("RULES_LOG"):
        return Path(os.environ["RULES_LOG"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "rules" / "decisions.sqlite"


@dataclass(frozen=True)
class Entry:
    """One record of the log."""

    seq: int
    decision_id: str
    recorded_at: str
    engine_version: str
    evaluator: str
    ruleset_id: str
    ruleset_version: str
    ruleset_sha256: str
    schema_sha256: str
    facts_sha256: str
    as_of: str
    overrides: str
    applicants: int
    allocated_fte: str
    output_sha256: str
    prev_hash: str
    output_encoding: str
    output: bytes  # as stored (see ``output_encoding``); ``text`` is the decision itself
    hash: str

    @property
    def text(self) -> bytes:
        """The stored decision output, unpacked."""
        return unpack(self.output_encoding, self.output, f"record {self.seq}: the stored output")

    def hashed_fields(self) -> dict:
        return {name: getattr(self, name) for name in FIELDS}

    @property
    def override_map(self) -> dict:
        return json.loads(self.overrides)


def record_hash(fields: dict) -> str:
    """sha256 over the previous hash and the canonical bytes of the record's fields."""
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(fields["prev_hash"].encode("ascii") + b"\n" + body).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack(data: bytes) -> tuple[str, bytes]:
    """Stored texts are zlib-compressed (fast level): JSON decisions shrink about 20 times."""
    return "zlib", zlib.compress(data, 1)


def unpack(encoding: str, data: bytes, what: str) -> bytes:
    if encoding == "identity":
        return bytes(data)
    if encoding != "zlib":
        raise AuditFailure(f"{what} has an unknown encoding {encoding!r}")
    try:
        return zlib.decompress(data)
    except zlib.error:
        raise AuditFailure(f"{what} is corrupt (it does not decompress)") from None


@dataclass(frozen=True)
class Submission:
    """What the caller hands the log for one decision."""

    decision_id: str
    engine_version: str
    evaluator: str
    ruleset_id: str
    ruleset_version: str
    rule_text: bytes
    schema_text: bytes
    facts: bytes
    as_of: str
    overrides: dict
    applicants: int
    allocated_fte: str
    output: bytes


class DecisionLog:
    """An append-only, hash-chained decision log in one SQLite file."""

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise LogError(f"{self.path}: no decision log here (evaluate something first, or pass --log)")
        if self.path.is_dir():
            raise LogError(f"{self.path}: is a folder, not a decision log")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _retry_when_busy(self._prepare)
        except sqlite3.DatabaseError as exc:
            raise LogError(f"{self.path}: not a decision log ({exc})") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "DecisionLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _prepare(self) -> None:
        tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(str.strip, SCHEMA.split(";")):
                    self.db.execute(statement)
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?), ('version', ?)",
                                (FORMAT, str(FORMAT_VERSION)))
                self.db.execute("COMMIT")
            except sqlite3.DatabaseError:
                self.db.execute("ROLLBACK")
                raise
            return
        self._check_format(tables)

    def _check_format(self, tables: set) -> None:
        if "meta" not in tables or "records" not in tables:
            raise LogError(f"{self.path}: an SQLite database, but not a decision log of this tool")
        meta = dict(self.db.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT:
            raise LogError(f"{self.path}: not a decision log of this tool (format {meta.get('format')!r})")
        version = int(meta.get("version", "0"))
        if version > FORMAT_VERSION:
            raise LogError(f"{self.path}: decision log format {version} is newer than this engine reads "
                           f"({FORMAT_VERSION}); upgrade the rules engine")

    def append(self, sub: Submission, now: dt.datetime | None = None) -> Entry:
        """Append one record; returns once it is committed."""
        return _retry_when_busy(lambda: self._append(sub, now))

    def _append(self, sub: Submission, now: dt.datetime | None) -> Entry:
        recorded_at = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        blobs = [(sha256(data), kind, data) for kind, data in
                 (("ruleset", sub.rule_text), ("schema", sub.schema_text), ("facts", sub.facts))]
        encoding, packed_output = pack(sub.output)
        self.db.execute("BEGIN IMMEDIATE")  # the write lock, before reading the previous hash
        try:
            last = self.db.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
            fields = {"seq": seq, "decision_id": sub.decision_id, "recorded_at": recorded_at,
                      "engine_version": sub.engine_version, "evaluator": sub.evaluator, "ruleset_id": sub.ruleset_id,
                      "ruleset_version": sub.ruleset_version, "ruleset_sha256": blobs[0][0],
                      "schema_sha256": blobs[1][0], "facts_sha256": blobs[2][0], "as_of": sub.as_of,
                      "overrides": json.dumps(sub.overrides, sort_keys=True), "applicants": sub.applicants,
                      "allocated_fte": sub.allocated_fte, "output_sha256": sha256(sub.output), "prev_hash": prev}
            digest = record_hash(fields)
            for digest_, kind, data in blobs:  # stored once each: only pack what is new
                if self.db.execute("SELECT 1 FROM blobs WHERE sha256 = ?", (digest_,)).fetchone() is None:
                    self.db.execute("INSERT INTO blobs VALUES (?, ?, ?, ?)", (digest_, kind, *pack(data)))
            self.db.execute(f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                            [fields[f] for f in FIELDS] + [encoding, packed_output, digest])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return Entry(**fields, output_encoding=encoding, output=packed_output, hash=digest)

    def entries(self, ruleset: str | None = None, since: str | None = None, until: str | None = None) -> Iterator[Entry]:
        """Records in sequence order, optionally filtered by ruleset id and recording date."""
        sql = f"SELECT {', '.join(COLUMNS)} FROM records WHERE 1=1"
        args: list = []
        if ruleset:
            sql += " AND ruleset_id = ?"
            args.append(ruleset)
        if since:
            sql += " AND recorded_at >= ?"
            args.append(since)
        if until:
            sql += " AND recorded_at < ?"
            args.append(until)
        for row in self.db.execute(sql + " ORDER BY seq", args):
            yield _entry(row)

    def get(self, ref: str) -> Entry:
        """A record by sequence number or (a unique prefix of) its decision id; the latest if repeated."""
        ref = str(ref).strip()
        if ref.isdigit() and len(ref) < 12:
            rows = list(self._select("seq = ?", int(ref)))
        elif len(ref) >= 6:
            rows = list(self._select("decision_id LIKE ?", ref.lower() + "%"))
            if len({r.decision_id for r in rows}) > 1:
                raise LookupFailure(f"'{ref}' matches {len({r.decision_id for r in rows})} decisions; give more of the id")
        else:
            raise LookupFailure(f"'{ref}': give a sequence number or at least 6 characters of a decision id")
        if not rows:
            raise LookupFailure(f"no record '{ref}' in {self.path}")
        return rows[-1]

    def _select(self, where: str, arg) -> Iterator[Entry]:
        sql = f"SELECT {', '.join(COLUMNS)} FROM records WHERE {where} ORDER BY seq"
        for row in self.db.execute(sql, (arg,)):
            yield _entry(row)

    def blob(self, digest: str) -> bytes:
        row = self.db.execute("SELECT encoding, content FROM blobs WHERE sha256 = ?", (digest,)).fetchone()
        if row is None:
            raise AuditFailure(f"{self.path}: stored text {digest[:16]}... is missing from the log")
        return unpack(row[0], row[1], f"stored text {digest[:16]}...")

    def head(self) -> tuple[int, str]:
        row = self.db.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    def verify(self, head: tuple[int, str] | None = None) -> int:
        """Check the whole chain and every stored text; AuditFailure names the first bad record."""
        prev, expected_seq = GENESIS, 1
        for entry in self.entries():
            _check_entry(entry, prev, expected_seq)
            for digest, what in ((entry.ruleset_sha256, "rule text"), (entry.schema_sha256, "facts schema"),
                                 (entry.facts_sha256, "facts")):
                if sha256(self.blob(digest)) != digest:
                    raise AuditFailure(f"record {entry.seq}: the stored {what} does not match its sha256 "
                                       f"{digest[:16]}... (changed after it was logged)")
            if head and entry.seq == head[0] and entry.hash != head[1]:
                raise AuditFailure(f"record {entry.seq}: hash {entry.hash[:16]}... differs from the head written "
                                   f"down ({head[1][:16]}...): the history up to it was rewritten")
            prev, expected_seq = entry.hash, expected_seq + 1
        if head and head[0] >= expected_seq:
            raise AuditFailure(f"the log has {expected_seq - 1} records, fewer than the {head[0]} of the head written "
                               "down: records were removed")
        return expected_seq - 1


def _retry_when_busy(action):
    """Run ``action``, again if SQLite says the database is busy without waiting for the busy timeout.

    SQLite skips its busy handler where waiting could deadlock (e.g. two connections switching a new
    file to WAL at once); the caller is then meant to retry, from the start of the transaction.
    """
    for attempt in range(40):
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or attempt == 39:
                raise
            time.sleep(0.01 * (attempt + 1))
    return None


def _entry(row: tuple) -> Entry:
    values = dict(zip(COLUMNS, row))
    output = values["output"]
    values["output"] = output.encode("utf-8") if isinstance(output, str) else bytes(output)
    return Entry(**values)


def _check_entry(entry: Entry, prev: str, expected_seq: int) -> None:
    if entry.seq != expected_seq:
        what = "removed" if entry.seq > expected_seq else "duplicated"
        raise AuditFailure(f"record {expected_seq}: missing (next is {entry.seq}): a record was {what}")
    if entry.prev_hash != prev:
        raise AuditFailure(f"record {entry.seq}: does not follow record {entry.seq - 1} (previous-hash mismatch): "
                           "records were removed, reordered or inserted")
    if record_hash(entry.hashed_fields()) != entry.hash:
        raise AuditFailure(f"record {entry.seq}: its content does not match its hash: the record was changed")
    if sha256(entry.text) != entry.output_sha256:
        raise AuditFailure(f"record {entry.seq}: its stored output does not match its sha256: the output was changed")


def parse_head(text: str) -> tuple[int, str]:
    """``COUNT:HASH`` as printed by ``rules audit head``."""
    count, _, digest = text.partition(":")
    if not count.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise LookupFailure(f"--head must be COUNT:HASH as printed by 'rules audit head', not '{text}'")
    return int(count), digest
