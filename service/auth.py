"""Who may do what, and who is asking: the roles, the tokens, and the names a request may use.

Both the API (``app``) and the web pages (``web``) check requests with these; neither imports the other
for them.
"""
from __future__ import annotations

import contextlib
import re
from typing import Any

from rules_engine.record.audit import DecisionLog, TokenStore
from rules_engine.errors import RulesError

from .problems import ProblemError, from_engine

# which roles may do what
ALLOWED = {
    "read": {"evaluator", "policy-owner", "approver", "auditor", "admin"},
    "approve": {"approver", "admin"},
    "evaluate": {"evaluator", "admin"},
    "dry-run": {"evaluator", "policy-owner", "admin"},
    "policy": {"policy-owner", "admin"},
    "drafts": {"policy-owner", "approver", "auditor", "admin"},  # read drafts (to write, review or check them)
    "audit": {"auditor", "admin"},
    "realisation": {"policy-owner", "auditor", "admin"},  # what became of a decision's allocations
    "read-own": {"evaluator", "auditor", "admin"},  # an evaluator reads the records it asked for, and only those
}


def find_token(settings: Any, secret: str):
    """The active token with this secret in the settings' log, or None."""
    if not settings.log_exists():
        return None
    try:
        with DecisionLog(settings.log_path, create=False) as log:
            return TokenStore(log).find(secret)
    except RulesError as exc:
        raise from_engine(exc) from None


SPEC = re.compile(r"[a-z][a-z0-9-]*(@[0-9A-Za-z][0-9A-Za-z._-]*)?")


def check_spec(value: str) -> str:
    """A ruleset id or id@version: never a path, so no request can make the server read a file of its choice."""
    if not SPEC.fullmatch(value):
        raise ProblemError(400, "Bad request", f"'{value[:60]}' is not a ruleset id or id@version")
    return value


@contextlib.contextmanager
def registry_log(settings: Any):
    """The decision log, read-only, for the registry it may hold (ids are then resolved from it, not from the
    rules folder); None when there is no log yet."""
    if not settings.log_exists():
        yield None
        return
    with DecisionLog(settings.log_path, create=False) as log:
        yield log
