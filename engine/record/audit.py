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
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator
from urllib.parse import quote

from .audit_pg import PostgresConnection, display, is_postgres
from ..errors import AuditFailure, KeyReused, LogError, LookupFailure, RulesError, printable

FORMAT = "rules-decision-log"
FORMAT_VERSION = 5  # 2 adds the column ``extra`` (further hashed fields, canonical JSON); 3 the idempotency keys;
# 4 the drafts of rule texts (outside the chain: saved as often as an editor likes); 5 an index of approvals only
GENESIS = "0" * 64
BUSY_TIMEOUT_MS = 60_000
MAX_STORED_BYTES = 1 << 30  # a stored text that unpacks to more is not one this engine wrote

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
# Format 1 logs are upgraded by these statements on their next append; new logs are made the same
# way, so every format 2 log has the same layout, byte for byte, in sqlite_master.
UPGRADE_TO_2 = (
    "ALTER TABLE records ADD COLUMN extra TEXT NOT NULL DEFAULT '{}'",
    "CREATE TABLE tokens (name TEXT PRIMARY KEY, role TEXT NOT NULL, sha256 TEXT NOT NULL UNIQUE, "
    "created_at TEXT NOT NULL, revoked_at TEXT)",
)

# Format 3: the Idempotency-Key of each request that appended a record, so that a retry answers the first
# response again. The record itself holds its key too (a hashed field), so a row here that points at a record
# without that key is seen by verify.
UPGRADE_TO_3 = (
    "CREATE TABLE idempotency (key TEXT PRIMARY KEY, request_sha256 TEXT NOT NULL, seq INTEGER NOT NULL, "
    "created_at TEXT NOT NULL)",
    # the web pages' sign-in sessions: the sha256 of a random session id, never a token
    "CREATE TABLE sessions (sha256 TEXT PRIMARY KEY, token TEXT NOT NULL, created_at TEXT NOT NULL, "
    "seen_at TEXT NOT NULL, expires_at TEXT NOT NULL)",
)

# Format 4: drafts of rule texts, kept beside the chain (a draft changes what nothing decides with; its
# submission, approvals and publication are records in the chain). ``revision`` is what If-Match compares.
UPGRADE_TO_4 = (
    "CREATE TABLE drafts (name TEXT PRIMARY KEY, ruleset_id TEXT NOT NULL, text TEXT NOT NULL, "
    "revision INTEGER NOT NULL, author TEXT NOT NULL, state TEXT NOT NULL, updated_at TEXT NOT NULL)",
    # the approvals of a text, found by its hashes in time that does not grow with the log: an index that
    # disagreed with the table could only hide an approval (each found row is read from the table and checked)
    "CREATE INDEX records_texts ON records (ruleset_sha256, schema_sha256)",
)

# Format 5: the index of format 4 held every decision of a text, and every decision of a ruleset shares its text's
# hash, so finding a text's two approvals walked all its decisions (84 ms of a request at 100,000 records). This
# one holds the rows that can be approvals only (no applicants, no evaluator), in the order they were appended.
APPROVALS_WHERE = "applicants = 0 AND evaluator = '-'"
UPGRADE_TO_5 = (
    "DROP INDEX records_texts",
    f"CREATE INDEX records_approvals ON records (ruleset_sha256, schema_sha256, seq) WHERE {APPROVALS_WHERE}",
)


def upgrades(since: int, until: int = FORMAT_VERSION) -> tuple:
    """The statements that turn a log of format ``since`` into one of format ``until``."""
    steps = {2: UPGRADE_TO_2, 3: UPGRADE_TO_3, 4: UPGRADE_TO_4, 5: UPGRADE_TO_5}
    return tuple(statement for version in range(since + 1, until + 1) for statement in steps[version])

FIELDS = ("seq", "decision_id", "recorded_at", "engine_version", "evaluator", "ruleset_id", "ruleset_version",
          "ruleset_sha256", "schema_sha256", "facts_sha256", "as_of", "overrides", "applicants", "allocated_fte",
          "output_sha256", "prev_hash")
COLUMNS = FIELDS + ("output_encoding", "output", "hash")
# the fields ``extra`` may hold; each is hashed like the others
EXTRA_KEYS = ("facts_format", "requested_by", "kind", "reason", "idempotency_key")
KINDS = ("official", "simulation", "approval", "publication", "withdrawal", "submission")
NOT_DECISIONS = ("approval", "publication", "withdrawal", "submission")  # records of governance: nothing to replay or explain


def _layout(version: int) -> frozenset:
    """What sqlite_master holds in a log of this format: (type, name, table, sql) of every object."""
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    for statement in upgrades(1, version):
        db.execute(statement)
    rows = frozenset(db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    db.close()
    return rows


LAYOUTS = {version: _layout(version) for version in range(1, FORMAT_VERSION + 1)}


def default_path() -> str | Path:
    """``$RULES_LOG`` (a file, or a ``postgresql://`` URL), else ``$XDG_DATA_HOME/rules/decisions.sqlite``."""
    if os.environ.get("RULES_LOG"):
        value = os.environ["RULES_LOG"]
        return value if is_postgres(value) else Path(value)
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
    extra: str = "{}"  # canonical JSON of the further hashed fields (format 2); "{}" in format 1 records

    @property
    def record_id(self) -> str:
        """The record's own public id: its number and the start of its chain hash (``17-3fa2c9d1e0b4``).

        Two records of the same decision (the same ``decision_id``, the content hash) have two ids; the
        id is derived, so records logged before it existed have one too.
        """
        return f"{self.seq}-{self.hash[:12]}"

    def head(self, size: int = 64) -> bytes:
        """The first bytes of the stored output (enough to read its format), without unpacking all of it."""
        if self.output_encoding != "zlib":
            return bytes(self.output[:size])
        try:
            return zlib.decompressobj().decompress(self.output, size)
        except zlib.error:
            return b""

    @property
    def text(self) -> bytes:
        """The stored decision output, unpacked."""
        return unpack(self.output_encoding, self.output, f"record {self.seq}: the stored output")

    @functools.cached_property
    def extras(self) -> dict:
        """The further hashed fields (e.g. ``facts_format``); AuditFailure if they are not what was written."""
        value = _mapping(self.extra, self.seq, "extra fields")
        if set(value) - set(EXTRA_KEYS) or not all(isinstance(v, str) for v in value.values()):
            raise AuditFailure(f"record {self.seq}: its extra fields are damaged: the record was changed")
        return value

    def hashed_fields(self) -> dict:
        return {**{name: getattr(self, name) for name in FIELDS}, **self.extras}

    @property
    def override_map(self) -> dict:
        return _mapping(self.overrides, self.seq, "overrides")

    @property
    def facts_format(self) -> str | None:
        """``json`` or ``yaml``, as the facts were parsed; None for records written before it was kept."""
        return self.extras.get("facts_format")

    @property
    def kind(self) -> str:
        """official, simulation or approval; records from before kinds existed were official decisions."""
        return self.extras.get("kind", "official")

    @property
    def reason(self) -> str | None:
        return self.extras.get("reason")

    @property
    def requested_by(self) -> str | None:
        """The name of the token that asked for the decision (service); None from the command line."""
        return self.extras.get("requested_by")


def _mapping(text: str, seq: int, what: str) -> dict:
    """A JSON mapping stored in a record; AuditFailure if it is anything else."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise AuditFailure(f"record {seq}: its {what} are damaged: the record was changed")
    return value


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
    """A stored text, unpacked; at most MAX_STORED_BYTES, so a planted zlib bomb cannot fill memory."""
    if encoding == "identity":
        return bytes(data)
    if encoding != "zlib":
        raise AuditFailure(f"{what} has an unknown encoding {printable(str(encoding))!r}")
    try:
        inflater = zlib.decompressobj()
        out = inflater.decompress(data, MAX_STORED_BYTES)
        if inflater.unconsumed_tail or not inflater.eof:
            raise AuditFailure(f"{what} is damaged: it does not unpack to at most {MAX_STORED_BYTES:,} bytes")
        return out
    except zlib.error:
        raise AuditFailure(f"{what} is corrupt (it does not decompress)") from None


@dataclass(frozen=True)
class Packed:
    """A text packed for the log part by part as it was written (``pack_parts``): never held whole, unpacked."""

    encoding: str
    data: bytes
    sha256: str  # of the text itself
    size: int  # its length in bytes

    def parts(self, chunk: int = 1 << 24) -> Iterator[bytes]:
        """The text again, ``chunk`` bytes at most at a time."""
        inflater = zlib.decompressobj()
        part = inflater.decompress(self.data, chunk)
        while part:
            yield part
            part = inflater.decompress(inflater.unconsumed_tail, chunk)


def pack_parts(parts: Iterable[bytes]) -> Packed:
    """The parts of a text packed as ``pack`` packs the text, each part dropped once it is packed (a million
    decisions are 800 MB of text: never held whole). LogError if the text is longer than a log keeps."""
    deflater, digest, packed, size = zlib.compressobj(1), hashlib.sha256(), [], 0
    for part in parts:
        size += len(part)
        _keeps(size)
        digest.update(part)
        packed.append(deflater.compress(part))
    packed.append(deflater.flush())
    return Packed("zlib", b"".join(packed), digest.hexdigest(), size)


def _keeps(size: int) -> None:
    """LogError if a text of ``size`` bytes (or more) is longer than a log keeps: it could not be read back."""
    if size > MAX_STORED_BYTES:
        raise LogError(f"the decision's text is at least {size:,} bytes; a log keeps texts of at most "
                       f"{MAX_STORED_BYTES:,} bytes: decide it without the log (--no-log), or in smaller calls")


def _stored(output: bytes | Packed) -> tuple[str, bytes, str]:
    """(encoding, packed bytes, sha256 of the text) of a submission's output."""
    if isinstance(output, Packed):
        return output.encoding, output.data, output.sha256
    _keeps(len(output))
    return (*pack(output), sha256(output))


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
    output: bytes | Packed  # the decision's text, or that text packed as it was written
    facts_format: str | None = None  # "json" or "yaml": how replay must parse the stored facts
    requested_by: str | None = None  # who asked (the service's token name); in the chain, not in decision_id
    kind: str | None = None  # official, simulation or approval
    reason: str | None = None  # why (or an approval's note), in the asker's words
    idempotency_key: str | None = None  # the caller's key: a second append with it answers the first record
    request_sha256: str | None = None  # what was asked with that key: the same key for another request is refused


class DecisionLog:
    """An append-only, hash-chained decision log in one SQLite file.

    Opened for reading (``create=False``) the file is opened read-only. Every open checks that the
    database holds exactly the tables and indexes this engine creates, and nothing else (no trigger,
    view, extra index or planner statistics); records are always read from the table, never from an
    index, so an index that disagrees with the table cannot show a reader other records.
    """

    def __init__(self, path: str | Path, create: bool = True):
        self.target = str(path)
        self.pg = is_postgres(self.target)
        self.path = display(self.target) if self.pg else Path(path)  # what messages name
        self.readonly = not create
        self.version = FORMAT_VERSION
        if not self.pg:
            self._check_path(create)
        try:
            self.db = self._connect()
            _retry_when_busy(self._prepare)
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None

    def _check_path(self, create: bool) -> None:
        try:
            exists, is_dir = self.path.exists(), self.path.is_dir()
            if is_dir:
                raise LogError(f"{self.path}: is a folder, not a decision log")
            if not exists and not create:
                raise LogError(f"{self.path}: no decision log here (evaluate something first, or pass --log)")
            if exists and not create and self.path.stat().st_size == 0:
                raise LogError(f"{self.path}: an empty file, not a decision log (a log is never empty once made)")
            if exists and not self.path.is_file():
                raise LogError(f"{self.path}: not a regular file, so not a decision log")
            if create:
                _private_folder(self.path.parent)
                if not exists:  # SQLite gives its -wal and -shm files the mode of the database
                    os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise LogError(f"{self.path}: cannot use this path for the decision log: {exc.strerror or exc}") from None

    def _connect(self) -> sqlite3.Connection:
        if self.pg:
            return PostgresConnection(self.target, self.readonly)
        if self.readonly:
            # Never immutable=1: SQLite would then ignore the -wal file, and with it every record committed since
            # the last checkpoint. A reader that cannot use the -wal and -shm files is told so (``_error``).
            uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
            db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        else:
            db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA trusted_schema = OFF")
        return db

    def _error(self, exc: Exception) -> RulesError:
        """An SQLite or decoding error as a clear message naming the file."""
        text = str(exc)
        if isinstance(exc, UnicodeDecodeError) or "decode to UTF-8" in text:
            return AuditFailure(f"{self.path}: the log holds text that is not UTF-8: it was damaged or changed")
        if "full" in text:
            return LogError(f"{self.path}: the disk (or the database) is full: {text}; nothing was logged")
        if "readonly" in text or "read-only" in text:
            return LogError(f"{self.path}: the decision log cannot be written here ({text})")
        if "unable to open" in text and self.readonly and not self.pg and not can_write(self.path.parent):
            return LogError(f"{self.path}: cannot read the log's latest records: they may still be in its write-ahead "
                            f"file ({self.path.name}-wal), which SQLite can only read with a {self.path.name}-shm file "
                            "beside it, and this folder cannot be written. Ask for write access to the folder, or "
                            "read a copy made with 'rules audit copy'")
        if "unable to open" in text:
            return LogError(f"{self.path}: the decision log cannot be opened ({text})")
        if "not a database" in text:
            return LogError(f"{self.path}: not a decision log ({text})")
        if "malformed" in text or "corrupt" in text:
            return AuditFailure(f"{self.path}: the database is damaged ({text})")
        if "locked" in text or "busy" in text:
            return LogError(f"{self.path}: the decision log stayed locked by another process ({text})")
        return LogError(f"{self.path}: not a usable decision log ({printable(text, 200)})")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "DecisionLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _prepare(self) -> None:
        objects = self._objects()
        if not objects:
            if self.readonly:
                raise LogError(f"{self.path}: an SQLite database without tables, not a decision log")
            self._create()
            return
        self._check_format(objects)
        if self.version < FORMAT_VERSION and not self.readonly:
            self._upgrade()

    def _objects(self) -> frozenset:
        if self.pg:
            return self.db.schema_objects()
        return frozenset(self.db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))

    def _create(self) -> None:
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if not self._objects():  # another process may have made it meanwhile
                if self.pg:
                    self.db.create()
                for statement in [] if self.pg else [*filter(str.strip, SCHEMA.split(";")), *upgrades(1)]:
                    self.db.execute(statement)
                self.db.execute("INSERT INTO meta VALUES ('format', ?), ('version', ?)", (FORMAT, str(FORMAT_VERSION)))
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self._check_format(self._objects())

    def _upgrade(self) -> None:
        """Format 1 to 2: one column more; 2 to 3: the table of idempotency keys; 3 to 4: the drafts; 4 to 5: the
        index of approvals. Records already written keep their bytes and hashes."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._check_format(self._objects())
            if self.version < FORMAT_VERSION:
                for statement in (self.db.upgrade_statements(self.version) if self.pg else upgrades(self.version)):
                    self.db.execute(statement)
                self.db.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(FORMAT_VERSION),))
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self.version = FORMAT_VERSION

    def _check_format(self, objects: frozenset) -> None:
        names = {row[1] for row in objects if row[0] == "table"}
        if "meta" not in names or "records" not in names:
            raise LogError(f"{self.path}: an SQLite database, but not a decision log of this tool")
        meta = dict(self.db.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT:
            raise LogError(f"{self.path}: not a decision log of this tool (format {printable(str(meta.get('format')))!r})")
        version = meta.get("version")
        if not isinstance(version, str) or not version.isdigit() or set(meta) != {"format", "version"}:
            raise AuditFailure(f"{self.path}: the log's meta table was changed (version {printable(str(version))!r})")
        if int(version) > FORMAT_VERSION:
            raise LogError(f"{self.path}: decision log format {version} is newer than this engine reads "
                           f"({FORMAT_VERSION}); upgrade the rules engine")
        self.version = int(version)
        self._check_layout(objects)

    def _check_layout(self, objects: frozenset) -> None:
        expected = self.db.expected_layout(self.version) if self.pg else LAYOUTS.get(self.version)
        if expected is None:
            raise AuditFailure(f"{self.path}: unknown decision log format {self.version}")
        foreign = sorted(objects - expected, key=lambda row: (row[0], row[1]))
        missing = sorted(expected - objects, key=lambda row: (row[0], row[1]))
        if foreign or missing:
            what = [f"{kind} '{printable(str(name))}' that this engine did not make" for kind, name, *_ in foreign]
            what += [f"{kind} '{name}' missing or altered" for kind, name, *_ in missing]
            raise AuditFailure(f"{self.path}: the database structure was changed: " + "; ".join(what))

    def append(self, sub: Submission, now: dt.datetime | None = None) -> Entry:
        """Append one record; returns once it is committed and read back with the same hash."""
        return self.append_once(sub, now)[0]

    def append_once(self, sub: Submission, now: dt.datetime | None = None) -> tuple[Entry, bool]:
        """Append one record, unless ``sub.idempotency_key`` appended one already: (the record, whether it is new).

        The key is looked up under the chain's write lock, so two servers that get one key at the same moment
        append one record. The same key for another request (``request_sha256``) is a ``KeyReused``.
        """
        if self.readonly:
            raise LogError(f"{self.path}: opened for reading only")
        try:
            return _retry_when_busy(lambda: self._append(sub, now))
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None

    def idempotent(self, key: str, request_sha256: str) -> Entry | None:
        """The record a key appended (checked: hash and link), None if it appended none; ``KeyReused`` if the
        key was used for another request."""
        if self.version < 3:
            return None
        try:
            row = self.db.execute("SELECT request_sha256, seq FROM idempotency WHERE key = ?", (key,)).fetchone()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._error(exc) from None
        if row is None:
            return None
        if row[0] != request_sha256:
            raise KeyReused("this Idempotency-Key was used for another request; use a new key for a new request")
        entry = next(self._select("seq = ?", int(row[1])), None)
        if entry is None or entry.extras.get("idempotency_key") != key:
            raise AuditFailure(f"{self.path}: the idempotency key of record {row[1]} does not match the record: "
                               "the table of keys was changed")
        return self.checked(entry)

    def _rollback(self) -> None:
        if self.db.in_transaction:  # SQLite may have rolled back already (a full disk does)
            self.db.execute("ROLLBACK")

    def _append(self, sub: Submission, now: dt.datetime | None) -> Entry:
        recorded_at = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        blobs = [(sha256(data), kind, data) for kind, data in
                 (("ruleset", sub.rule_text), ("schema", sub.schema_text), ("facts", sub.facts))]
        encoding, packed_output, output_sha256 = _stored(sub.output)
        extra = {key: value for key, value in (("facts_format", sub.facts_format), ("requested_by", sub.requested_by),
                                               ("kind", sub.kind), ("reason", sub.reason),
                                               ("idempotency_key", sub.idempotency_key)) if value}
        self.db.execute("BEGIN IMMEDIATE")  # the write lock, before reading the previous hash
        try:
            self._check_format(self._objects())  # what another process may have done since we opened
            if sub.idempotency_key:
                earlier = self.idempotent(sub.idempotency_key, sub.request_sha256 or "")
                if earlier is not None:
                    self.db.execute("COMMIT")
                    return earlier, False
            last, prev = self._last()
            seq = last + 1
            fields = {"seq": seq, "decision_id": sub.decision_id, "recorded_at": recorded_at,
                      "engine_version": sub.engine_version, "evaluator": sub.evaluator, "ruleset_id": sub.ruleset_id,
                      "ruleset_version": sub.ruleset_version, "ruleset_sha256": blobs[0][0],
                      "schema_sha256": blobs[1][0], "facts_sha256": blobs[2][0], "as_of": sub.as_of,
                      "overrides": json.dumps(sub.overrides, sort_keys=True), "applicants": sub.applicants,
                      "allocated_fte": sub.allocated_fte, "output_sha256": output_sha256, "prev_hash": prev}
            digest = record_hash({**fields, **extra})
            for digest_, kind, data in blobs:  # stored once each: only pack what is new
                if self.db.execute("SELECT 1 FROM blobs WHERE sha256 = ?", (digest_,)).fetchone() is None:
                    self.db.execute("INSERT INTO blobs VALUES (?, ?, ?, ?)", (digest_, kind, *pack(data)))
            columns = COLUMNS + ("extra",)
            self.db.execute(f"INSERT INTO records ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                            [fields[f] for f in FIELDS] + [encoding, packed_output, digest, _canonical(extra)])
            if sub.idempotency_key:
                self.db.execute("INSERT INTO idempotency VALUES (?, ?, ?, ?)",
                                (sub.idempotency_key, sub.request_sha256 or "", seq, recorded_at))
            entry = self._read_back(seq, digest)
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return entry, True

    def _read_back(self, seq: int, digest: str) -> Entry:
        """The record just inserted, from the table: it must be there, with the hash it was given."""
        rows = list(self._select("seq = ?", seq))
        if len(rows) != 1 or rows[0].hash != digest or record_hash(rows[0].hashed_fields()) != digest:
            raise AuditFailure(f"{self.path}: record {seq} did not read back as it was written: "
                               "something in the database changes what is written; nothing was logged")
        return rows[0]

    def _last(self) -> tuple[int, str]:
        row = self.db.execute("SELECT seq, hash FROM records NOT INDEXED ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    def _columns(self) -> str:
        return ", ".join(COLUMNS + ("extra",)) if self.version >= 2 else ", ".join(COLUMNS) + ", '{}'"

    def entries(self, ruleset: str | None = None, since: str | None = None, until: str | None = None,
                after: int = 0, limit: int | None = None) -> Iterator[Entry]:
        """Records in sequence order, optionally filtered by ruleset id and recording date, after seq ``after``."""
        where, args = ["seq > ?"], [after]
        for clause, value in (("ruleset_id = ?", ruleset), ("recorded_at >= ?", since), ("recorded_at < ?", until)):
            if value:
                where.append(clause)
                args.append(value)
        return self._select(" AND ".join(where), *args, limit=limit)

    def get(self, ref: str) -> Entry:
        """A record by its id (``17-3fa2c9d1e0b4``), its number, or a prefix of its decision id that names one
        record only (a decision logged twice has two records: the error lists their ids)."""
        ref = str(ref).strip()
        number, dash, digest = ref.partition("-")
        if dash and number.isdigit() and len(number) < 19 and 6 <= len(digest) <= 64 and _hex(digest):
            rows = [r for r in self._select("seq = ?", int(number)) if r.hash.startswith(digest.lower())]
        elif ref.isdigit() and len(ref) < 12:
            rows = list(self._select("seq = ?", int(ref)))
        elif len(ref) >= 6 and _hex(ref):
            prefix = ref.lower()
            rows = list(self._select("substr(decision_id, 1, ?) = ?", len(prefix), prefix))
            if len(rows) > 1:
                ids = ", ".join(r.record_id for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
                raise LookupFailure(f"'{ref}' matches {len(rows)} records: {ids}; name one by its record id")
        else:
            raise LookupFailure(f"'{printable(ref)}': give a record id (such as 17-3fa2c9d1e0b4), a sequence number "
                                "or at least 6 hexadecimal characters of a decision id")
        if not rows:
            raise LookupFailure(f"no record '{printable(ref)}' in {self.path}")
        return rows[-1]

    def _select(self, where: str, *args, limit: int | None = None) -> Iterator[Entry]:
        # NOT INDEXED: the rows come from the table itself, never from an index that could disagree with it
        sql = f"SELECT {self._columns()} FROM records NOT INDEXED WHERE {where} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        try:
            for row in self.db.execute(sql, args):
                yield _entry(row)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._error(exc) from None

    def kinds_after(self, seq: int) -> list[tuple[int, str]]:
        """(seq, kind) of the records after ``seq`` that have no applicants and no evaluator (approvals,
        publications, withdrawals: the registry looks for its records this way), read without their outputs and,
        in format 5, found through the index of such records, never by reading every decision's row. A record
        whose kind cannot be read says so."""
        source = ("records INDEXED BY records_approvals" if self.version >= 5 else "records NOT INDEXED") \
            if not self.pg else "records"
        try:
            rows = self.db.execute(f"SELECT seq, extra FROM {source} WHERE seq > ? AND {APPROVALS_WHERE} ORDER BY seq",
                                   (seq,)).fetchall()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._error(exc) from None
        return [(number, _mapping(extra or "{}", number, "extra fields").get("kind", "")) for number, extra in rows]

    def chain_hashes(self) -> list[str]:
        """The chain hash of every record, in order (the leaves of the log's Merkle tree)."""
        try:
            return [row[0] for row in self.db.execute("SELECT hash FROM records NOT INDEXED WHERE seq >= 1 ORDER BY seq")]
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._error(exc) from None

    def blob(self, digest: str) -> bytes:
        try:
            row = self.db.execute("SELECT encoding, content FROM blobs WHERE sha256 = ?", (digest,)).fetchone()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._error(exc) from None
        if row is None:
            raise AuditFailure(f"{self.path}: stored text {digest[:16]}... is missing from the log")
        return unpack(row[0], row[1], f"stored text {digest[:16]}...")

    def head(self) -> tuple[int, str]:
        try:
            return self._last()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._error(exc) from None

    def approvals(self, ruleset_sha256: str, schema_sha256: str, exclude: str | None = None,
                  before: int | None = None, accept: Callable[[Entry], bool] | None = None) -> list[dict]:
        """The first approval by each person of this exact rule text and schema (not ``exclude``'s),
        among the records before seq ``before`` (with ``accept``, the first it accepts); each approval's own
        hash is checked first."""
        found: dict[str, dict] = {}
        excluded = person(exclude) if exclude is not None else None
        for entry in self._approval_rows(ruleset_sha256, schema_sha256, before if before is not None else 1 << 62):
            if entry.kind != "approval" or entry.requested_by is None:
                continue
            who = person(entry.requested_by)  # 'Ann', 'ann ' and 'ann' are one person
            if who in (excluded, "") or who in found:
                continue
            if record_hash(entry.hashed_fields()) != entry.hash:
                raise AuditFailure(f"record {entry.seq}: an approval that does not match its hash: it was changed")
            self._linked(entry)
            if accept is None or accept(entry):
                found[who] = {"seq": entry.seq, "by": entry.requested_by, "recorded_at": entry.recorded_at}
        return list(found.values())

    def _approval_rows(self, ruleset_sha256: str, schema_sha256: str, before: int) -> Iterator[Entry]:
        """The records that may be approvals of this text, read in full; found first by their numbers, through the
        index of approvals (format 5; in format 4 the index of the texts' hashes, before it from the columns that
        come before the stored output: an approval has no applicants and no evaluator), so that the decisions'
        outputs are never read to find them."""
        source = {5: "records INDEXED BY records_approvals", 4: "records INDEXED BY records_texts"}.get(
            self.version, "records NOT INDEXED") if not self.pg else "records"
        try:
            numbers = [row[0] for row in self.db.execute(
                f"SELECT seq FROM {source} WHERE ruleset_sha256 = ? AND schema_sha256 = ? AND seq < ? "
                f"AND {APPROVALS_WHERE} ORDER BY seq", (ruleset_sha256, schema_sha256, before))]
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._error(exc) from None
        for number in numbers:
            yield from self._select("seq = ?", number)

    def checked(self, entry: Entry) -> Entry:
        """``entry`` once its hash, its link to the record before it, its output and its stored texts check out.

        What ``show``, ``explain`` and ``replay`` use; AuditFailure says what does not match.
        """
        _outside_chain(entry)
        if entry.seq == 1:
            previous = GENESIS
        else:
            before = next(self._select("seq = ?", entry.seq - 1), None)
            if before is None:
                raise AuditFailure(f"record {entry.seq}: the record before it is missing: records were removed")
            previous = before.hash
        _check_entry(entry, previous, entry.seq)
        self._check_texts(entry)
        return entry

    def _linked(self, entry: Entry) -> None:
        """``entry`` is in the chain: its number is one the chain has, and the record before it is its link."""
        _outside_chain(entry)
        before = next(self._select("seq = ?", entry.seq - 1), None) if entry.seq > 1 else None
        if entry.prev_hash != (before.hash if before is not None else GENESIS):
            raise AuditFailure(f"record {entry.seq}: does not follow record {entry.seq - 1}: it was inserted or changed")

    def _check_texts(self, entry: Entry) -> None:
        for digest, what in ((entry.ruleset_sha256, "rule text"), (entry.schema_sha256, "facts schema"),
                             (entry.facts_sha256, "facts")):
            if sha256(self.blob(digest)) != digest:
                raise AuditFailure(f"record {entry.seq}: the stored {what} does not match its sha256 "
                                   f"{digest[:16]}... (changed after it was logged)")

    def integrity(self) -> None:
        """SQLite's own check of every page, table and index; AuditFailure with its first findings.

        (PostgreSQL has no such check built in; its catalogue cannot hide an index, which the layout
        check sees, and records are read from the table.)
        """
        if self.pg:
            return
        try:
            rows = [row[0] for row in self.db.execute("PRAGMA integrity_check(20)")]
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._error(exc) from None
        if rows != ["ok"]:
            raise AuditFailure(f"{self.path}: the database does not pass SQLite's integrity check: "
                               + "; ".join(printable(str(r), 120) for r in rows[:3]))

    def verify(self, head: tuple[int, str] | None = None) -> int:
        """Check the structure, the database's integrity, the whole chain and every stored text.

        AuditFailure names the first bad record.
        """
        self._check_format(self._objects())
        self.integrity()
        prev, expected_seq, keys = GENESIS, 1, {}
        for entry in self._select("1 = 1"):  # every row, also those a chain read by seq > 0 would pass over
            _outside_chain(entry)
            _check_entry(entry, prev, expected_seq)
            if entry.extras.get("idempotency_key"):
                keys[entry.extras["idempotency_key"]] = entry.seq
            self._check_texts(entry)
            if head and entry.seq == head[0] and entry.hash != head[1]:
                raise AuditFailure(f"record {entry.seq}: hash {entry.hash[:16]}... differs from the head written "
                                   f"down ({head[1][:16]}...): the history up to it was rewritten")
            prev, expected_seq = entry.hash, expected_seq + 1
        if head and head[0] >= expected_seq:
            raise AuditFailure(f"the log has {expected_seq - 1} records, fewer than the {head[0]} of the head written "
                               "down: records were removed")
        self._check_keys(keys)
        rows = self._count_rows()
        if rows != expected_seq - 1:
            raise AuditFailure(f"the records table holds {rows} rows, but the chain has {expected_seq - 1}: rows outside "
                               "the chain were planted")
        return expected_seq - 1

    def _check_keys(self, keys: dict) -> None:
        """Every idempotency key points at the record that holds it, and every key a record holds is there."""
        if self.version < 3:
            return
        try:
            rows = dict(self.db.execute("SELECT key, seq FROM idempotency").fetchall())
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._error(exc) from None
        if rows != keys:
            wrong = sorted(set(rows.items()) ^ set(keys.items()), key=str)[0]
            raise AuditFailure(f"the idempotency key of record {wrong[1]} does not match the chain: the table of keys "
                               "was changed")

    def _count_rows(self) -> int:
        try:
            return int(self.db.execute("SELECT count(*) FROM records").fetchone()[0])
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._error(exc) from None


ROLES = ("evaluator", "policy-owner", "approver", "auditor", "admin")
TOKEN_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Token:
    """A bearer token of the service, as stored: its name, role and dates (the secret itself never)."""

    name: str
    role: str
    created_at: str
    revoked_at: str | None


class TokenStore:
    """Tokens live in the decision log's database: only the sha256 of each secret is stored."""

    def __init__(self, log: DecisionLog):
        self.log = log

    def add(self, name: str, role: str, now: dt.datetime | None = None) -> str:
        """Make a token; returns its secret, which is shown once and never stored."""
        if not TOKEN_NAME.fullmatch(name):
            raise LookupFailure(f"'{printable(name)}' is not a token name: lower-case letters, digits, '.', '_' "
                                "and '-', at most 64")
        if role not in ROLES:
            raise LookupFailure(f"'{printable(role)}' is not a role; roles: {', '.join(ROLES)}")
        secret = "rules_" + secrets.token_urlsafe(32)
        created = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            self.log.db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, NULL)", (name, role, sha256(secret.encode()), created))
        except sqlite3.IntegrityError:
            raise LookupFailure(f"a token named '{name}' exists already (revoke it, or choose another name)") from None
        except sqlite3.DatabaseError as exc:
            raise self.log._error(exc) from None
        return secret

    def all(self) -> list[Token]:
        return [Token(*row) for row in self._rows("SELECT name, role, created_at, revoked_at FROM tokens ORDER BY name")]

    def revoke(self, name: str, now: dt.datetime | None = None) -> None:
        revoked = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            cursor = self.log.db.execute("UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                                         (revoked, name))
        except sqlite3.DatabaseError as exc:
            raise self.log._error(exc) from None
        if cursor.rowcount != 1:
            raise LookupFailure(f"no active token named '{printable(name)}'")

    def named(self, name: str) -> Token | None:
        """The active token of this name, or None."""
        rows = self._rows("SELECT name, role, created_at, revoked_at FROM tokens WHERE name = ? AND revoked_at IS NULL",
                          name)
        return Token(*rows[0]) if rows else None

    def find(self, secret: str) -> Token | None:
        """The active token with this secret, or None. The digests are compared in constant time."""
        digest = sha256(secret.encode("utf-8", "replace"))
        rows = self._rows("SELECT name, role, created_at, revoked_at, sha256 FROM tokens WHERE sha256 = ?", digest)
        for name, role, created, revoked, stored in rows:
            if hmac.compare_digest(stored, digest) and revoked is None:
                return Token(name, role, created, revoked)
        return None

    def _rows(self, sql: str, *args) -> list:
        if self.log.version < 2:
            return []  # a format 1 log has no tokens yet
        try:
            return list(self.log.db.execute(sql, args))
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self.log._error(exc) from None


SESSION_HOURS = 8  # a sign-in lasts at most this long
SESSION_IDLE_MINUTES = 30  # and ends after this long without a request


class Sessions:
    """Sign-in sessions of the web pages, in the log's database: a random id in the browser's cookie, its sha256
    here, with the token's name, an absolute expiry and an idle timeout. Signing out, or revoking the token, ends it."""

    def __init__(self, log: DecisionLog):
        self.log = log

    def start(self, token: str, now: dt.datetime | None = None) -> str:
        """A new session of the token named ``token``; returns the id for the cookie (never stored)."""
        now = now or _now()
        session = secrets.token_urlsafe(32)
        self._run("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", sha256(session.encode()), token, _stamp(now),
                  _stamp(now), _stamp(now + dt.timedelta(hours=SESSION_HOURS)))
        self._run("DELETE FROM sessions WHERE expires_at < ?", _stamp(now))  # the ones that ended, while here
        return session

    def token(self, session: str, now: dt.datetime | None = None) -> Token | None:
        """The active token of a live session, or None (ended, expired, idle too long, or its token revoked)."""
        now = now or _now()
        digest = sha256(session.encode("utf-8", "replace"))
        rows = self._run("SELECT sha256, token, seen_at, expires_at FROM sessions WHERE sha256 = ?", digest)
        if not rows or not hmac.compare_digest(rows[0][0], digest):
            return None
        _digest, name, seen, expires = rows[0]
        if _stamp(now) >= expires or _stamp(now - dt.timedelta(minutes=SESSION_IDLE_MINUTES)) >= seen:
            self.end(session)
            return None
        if _stamp(now - dt.timedelta(minutes=1)) >= seen and not self.log.readonly:
            self._run("UPDATE sessions SET seen_at = ? WHERE sha256 = ?", _stamp(now), digest)
        return TokenStore(self.log).named(name)

    def end(self, session: str) -> None:
        if not self.log.readonly:
            self._run("DELETE FROM sessions WHERE sha256 = ?", sha256(session.encode("utf-8", "replace")))

    def _run(self, sql: str, *args) -> list:
        if self.log.version < 3:
            raise LogError(f"{self.log.path}: a log of format {self.log.version}; signing in needs format 3 "
                           "(open it once with a command that writes, such as 'rules token list')")
        try:
            return list(self.log.db.execute(sql, args))
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self.log._error(exc) from None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def copy_log(source: DecisionLog, target: DecisionLog) -> int:
    """Copy a whole log (records, stored texts, tokens) into an empty one; returns the records copied.

    The copy keeps every byte that is hashed: the target verifies with the source's head.
    """
    source.verify()
    if target.head()[0] or target.db.execute("SELECT count(*) FROM blobs").fetchone()[0]:
        raise LogError(f"{target.path}: not empty; copy into a new log")
    columns = COLUMNS + ("extra",)
    target.db.execute("BEGIN IMMEDIATE")
    try:
        for row in source.db.execute("SELECT sha256, kind, encoding, content FROM blobs ORDER BY sha256"):
            target.db.execute("INSERT INTO blobs VALUES (?, ?, ?, ?)", (row[0], row[1], row[2], bytes(row[3])))
        for row in source.db.execute(f"SELECT {source._columns()} FROM records NOT INDEXED ORDER BY seq"):
            values = [bytes(v) if isinstance(v, memoryview) else v for v in row]
            target.db.execute(f"INSERT INTO records ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                              values)
        for token in TokenStore(source)._rows("SELECT name, role, sha256, created_at, revoked_at FROM tokens"):
            target.db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?)", tuple(token))
        if source.version >= 3:
            for row in source.db.execute("SELECT key, request_sha256, seq, created_at FROM idempotency ORDER BY key"):
                target.db.execute("INSERT INTO idempotency VALUES (?, ?, ?, ?)", tuple(row))
        if source.version >= 4 and target.version >= 4:
            for row in source.db.execute("SELECT name, ruleset_id, text, revision, author, state, updated_at "
                                         "FROM drafts ORDER BY name"):
                target.db.execute("INSERT INTO drafts VALUES (?, ?, ?, ?, ?, ?, ?)", tuple(row))
        target.db.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        target._rollback()
        raise target._error(exc) from None
    except BaseException:
        target._rollback()
        raise
    return target.verify()


def _private_folder(folder: Path) -> None:
    """Make the log's folder readable by its owner only when this makes it; its parents are made as usual, and a
    folder that exists is left as it is."""
    if folder.exists():
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:  # made by another process meanwhile: it is theirs
        return
    os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask


def can_write(folder: Path) -> bool:
    return os.access(folder, os.W_OK)


def _canonical(value: dict) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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
    values = dict(zip(COLUMNS + ("extra",), row))
    output = values["output"]
    values["output"] = output.encode("utf-8") if isinstance(output, str) else bytes(output)
    if not isinstance(values["seq"], int) or not isinstance(values["extra"], str):
        raise AuditFailure(f"record {printable(str(values['seq']))}: a field has the wrong type: the record was changed")
    return Entry(**values)


def person(name: str) -> str:
    """A name as it identifies a person: Unicode NFKC, case folded, inner spaces single, trimmed."""
    import unicodedata

    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text.lower())


def _outside_chain(entry: Entry) -> None:
    if entry.seq < 1:
        raise AuditFailure(f"a record numbered {entry.seq} is outside the chain (records are numbered from 1): it was "
                           "planted in the database")


def _check_entry(entry: Entry, prev: str, expected_seq: int) -> None:
    if entry.seq != expected_seq:
        what = "removed" if entry.seq > expected_seq else "duplicated"
        raise AuditFailure(f"record {expected_seq}: missing (next is {entry.seq}): a record was {what}")
    if entry.prev_hash != prev:
        raise AuditFailure(f"record {entry.seq}: does not follow record {entry.seq - 1} (previous-hash mismatch): "
                           "records were removed, reordered or inserted")
    try:
        digest = record_hash(entry.hashed_fields())
    except (TypeError, ValueError, UnicodeError):
        digest = None
    if digest != entry.hash:
        raise AuditFailure(f"record {entry.seq}: its content does not match its hash: the record was changed")
    if sha256(entry.text) != entry.output_sha256:
        raise AuditFailure(f"record {entry.seq}: its stored output does not match its sha256: the output was changed")


def parse_head(text: str) -> tuple[int, str]:
    """``COUNT:HASH`` as printed by ``rules audit head``."""
    count, _, digest = text.partition(":")
    if not count.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise LookupFailure(f"--head must be COUNT:HASH as printed by 'rules audit head', not '{printable(text)}'")
    return int(count), digest
