"""Drafts of texts kept in the decision log's database, beside the chain (format 4).

A draft is saved as often as its editor likes; it decides nothing, so it is no record of the chain. Each save
raises its ``revision``, which is what a client sends back (``If-Match``) so that an edit made on a stale copy
is refused, never silently written over another. The store knows nothing of rules: a draft is a name, the id
it belongs to, a text, its author and a state word chosen by its caller.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from dataclasses import dataclass

from ..errors import LogError, LookupFailure, RulesError
from .audit import DecisionLog


class Conflict(RulesError):
    """A draft that exists already (or a version published already)."""


class Stale(Conflict):
    """A save made on a revision of the draft that is no longer the latest."""


@dataclass(frozen=True)
class Draft:
    name: str
    ruleset_id: str
    text: str
    revision: int
    author: str
    state: str
    updated_at: str

    @property
    def etag(self) -> str:
        """The draft's entity tag: its revision and a digest of its text."""
        return f'"{self.revision}-{hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]}"'


class DraftStore:
    """The drafts of one log."""

    def __init__(self, log: DecisionLog):
        if log.version < 4:
            raise LogError(f"{log.path}: a log of format {log.version} has no drafts; open it once with a command "
                           "that writes (such as 'rules token list') to bring it to format 4")
        self.log = log

    def create(self, name: str, ruleset_id: str, text: str, author: str, state: str = "draft",
               now: dt.datetime | None = None) -> Draft:
        try:
            self._count("INSERT INTO drafts VALUES (?, ?, ?, 1, ?, ?, ?)", name, ruleset_id, text, author, state,
                        _stamp(now))
        except sqlite3.IntegrityError:
            raise Conflict(f"a draft {name} exists already: edit it, or choose another version") from None
        return self.get(name)

    def get(self, name: str) -> Draft:
        rows = self._run("SELECT name, ruleset_id, text, revision, author, state, updated_at FROM drafts "
                         "WHERE name = ?", name)
        if not rows:
            raise LookupFailure(f"no draft {name}")
        return Draft(*rows[0])

    def all(self) -> list[Draft]:
        rows = self._run("SELECT name, ruleset_id, text, revision, author, state, updated_at FROM drafts ORDER BY name")
        return [Draft(*row) for row in rows]

    def of(self, ruleset_id: str) -> list[Draft]:
        rows = self._run("SELECT name, ruleset_id, text, revision, author, state, updated_at FROM drafts "
                         "WHERE ruleset_id = ? ORDER BY name", ruleset_id)
        return [Draft(*row) for row in rows]

    def save(self, name: str, text: str, etag: str, state: str | None = None, now: dt.datetime | None = None) -> Draft:
        """The draft with ``text`` (and ``state``), if ``etag`` is still its own; Conflict if it is not."""
        current = self.get(name)
        if etag.strip() != current.etag:
            raise Stale(f"draft {name} was saved since (it is now {current.etag}); load it again and redo the edit")
        changed = self._count("UPDATE drafts SET text = ?, state = ?, revision = revision + 1, updated_at = ? "
                              "WHERE name = ? AND revision = ?", text, state or current.state, _stamp(now), name,
                              current.revision)
        if changed != 1:  # another save came between the read and this write
            raise Stale(f"draft {name} was saved meanwhile; load it again and redo the edit")
        return self.get(name)

    def delete(self, name: str) -> None:
        self._count("DELETE FROM drafts WHERE name = ?", name)

    def _run(self, sql: str, *args) -> list:
        try:
            return list(self.log.db.execute(sql, args))
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self.log._error(exc) from None

    def _count(self, sql: str, *args) -> int:
        """Run a statement that changes rows; how many it changed (a duplicate name is IntegrityError)."""
        try:
            return self.log.db.execute(sql, args).rowcount
        except sqlite3.IntegrityError:
            raise
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self.log._error(exc) from None


def _stamp(now: dt.datetime | None) -> str:
    return (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
