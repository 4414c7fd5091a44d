"""Signed approvals: an approver signs the exact text they approve with a key of their own.

An approval record holds who approved (a token's name); whoever owns the log's database can add such a row.
A signed approval also holds a C2SP signed note, made with the approver's Ed25519 key (``rules audit keygen
NAME``, NAME being the approver's name), of this statement::

    rules approval
    <ruleset id> <version>
    rule-text <sha256 of the rule text>
    facts-schema <sha256 of the facts schema>
    by <approver>

The public keys of the approvers are listed in an *allowed signers* file (one public key per line, as keygen
prints it; ``#`` starts a comment), as git's ``gpg.ssh.allowedSignersFile`` lists them. Kept by whoever must be
able to distrust the database's owner, it makes an approval count only when its signature opens with a key
of that file named as the approver, over the statement of the very text it approves.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError, Location
from ..record.audit import person
from ..record.checkpoint import BadNote, Signer, Verifier, open_note, verifier


def statement(ruleset_id: str, version: str, rule_sha256: str, schema_sha256: str, by: str) -> str:
    """What an approver signs: the text approved, by its hashes, and who approves it."""
    return (f"rules approval\n{ruleset_id} {version}\nrule-text {rule_sha256}\nfacts-schema {schema_sha256}\n"
            f"by {by}\n")


def sign(signer: Signer, approval: dict) -> str:
    """The signed note of an approval's statement (``approval``: the record's ``approval`` object)."""
    return signer.sign(_statement_of(approval))


def check_signature(note: str, approval: dict, allowed: tuple[Verifier, ...] = ()) -> None:
    """A signature sent with an approval (made elsewhere, with ``rules audit sign-approval``): it must be a signed
    note of this very approval's statement, and, when ``allowed`` keys are known, open with the approver's."""
    cut = note.rfind("\n\n") if isinstance(note, str) else -1
    if cut < 0 or not note.endswith("\n"):
        raise InputError.at(Location("signature"), "not a signed note: its text, a blank line, then its signature")
    if note[:cut + 1] != _statement_of(approval):
        raise InputError.at(Location("signature"), "the signed statement is not this approval's (another text, "
                            "version or approver): sign it with 'rules audit sign-approval "
                            f"{approval.get('ruleset')}@{approval.get('version')} --key KEY'")
    if allowed and signed_by(dict(approval, signature=note), allowed) is None:
        raise InputError.at(Location("signature"), f"the signature is not by an allowed key of {approval.get('by')}")


def read_allowed(path: str | Path) -> tuple[Verifier, ...]:
    """The allowed signers: one public key per line (blank lines and ``#`` comments skipped), each checked."""
    label = str(path)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError.at(Location(label), f"cannot read the allowed signers: {getattr(exc, 'strerror', exc)}") from None
    keys = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            keys.append(verifier(text))
        except BadNote as exc:
            raise InputError.at(Location(label, number, 1), f"not a public key: {exc}") from None
    if not keys:
        raise InputError.at(Location(label), "lists no public key: an approval could never count")
    return tuple(keys)


def signed_by(approval: dict, allowed: tuple[Verifier, ...]) -> Verifier | None:
    """The allowed key, named as the approver, whose signature the approval carries over its own statement;
    None when it carries none, or none that opens, or one over another statement."""
    note = approval.get("signature")
    if not isinstance(note, str):
        return None
    for key in allowed:
        if person(key.name) != person(str(approval.get("by", ""))):
            continue
        try:
            if open_note(note, key) == _statement_of(approval):
                return key
        except BadNote:
            continue
    return None


def _statement_of(approval: dict) -> str:
    return statement(str(approval.get("ruleset")), str(approval.get("version")), str(approval.get("ruleset_sha256")),
                     str(approval.get("facts_schema_sha256")), str(approval.get("by")))
