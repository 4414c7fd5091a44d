"""The log's Merkle tree put to use: signed checkpoints of it, and proofs that a record is in it.

Each record is a leaf: the leaf's data is the record's chain hash (32 bytes), so the tree commits to
every record and to their order. A checkpoint signed by someone other than the database's owner
pins the tree at a size; the log must still hold that tree (the same root at that size), or its
history was rewritten or cut. An inclusion proof shows one record in a signed tree without the log.
"""
from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from .audit import DecisionLog, Entry
from .checkpoint import BadNote, Checkpoint, Signer, Verifier, open_checkpoint
from .tree import Tree, leaf_hash, verify_inclusion
from ..errors import AuditFailure, InputError, Location

BUNDLE_FORMAT = "rules-inclusion-proof/1"


def log_tree(log: DecisionLog) -> Tree:
    """The Merkle tree of the log's records, as they are now."""
    return Tree(leaf_hash(bytes.fromhex(digest)) for digest in log.chain_hashes())


def sign_checkpoint(log: DecisionLog, signer: Signer, origin: str | None = None,
                    now: dt.datetime | None = None) -> str:
    """A signed checkpoint of the log's whole tree, as a C2SP signed note."""
    tree = log_tree(log)
    moment = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).replace(microsecond=0)
    point = Checkpoint(origin or signer.name, tree.size, tree.root(), (f"time {moment.isoformat().replace('+00:00', 'Z')}",))
    return signer.sign(point.body)


def check_checkpoint(log: DecisionLog, note: str, verifier: Verifier, label: str = "the checkpoint") -> Checkpoint:
    """The checkpoint, once its signature verifies and the log still holds its tree; AuditFailure if not."""
    point = _opened(note, verifier, label)
    tree = log_tree(log)
    if tree.size < point.size:
        raise AuditFailure(f"{label} signed a tree of {point.size} records; the log holds {tree.size}: records were removed")
    if tree.root(point.size) != point.root:
        raise AuditFailure(f"the log's first {point.size} records are not those {label} signed: the history was rewritten")
    return point


def _opened(note: str, verifier: Verifier, label: str) -> Checkpoint:
    try:
        return open_checkpoint(note, verifier)
    except BadNote as exc:
        raise InputError.at(Location(label), str(exc)) from None


def inclusion_bundle(log: DecisionLog, entry: Entry, note: str | None = None,
                     verifier: Verifier | None = None) -> dict:
    """A proof that ``entry`` is in the log's tree: against a signed checkpoint (checked first), or the
    tree as it is now. Everything a reader needs to check it without the log."""
    tree = log_tree(log)
    size, point = tree.size, None
    if note is not None and verifier is not None:
        point = check_checkpoint(log, note, verifier)
        size = point.size
    if entry.seq > size:
        raise AuditFailure(f"record {entry.record_id} came after the checkpoint ({size} records): sign a newer one")
    proof = tree.inclusion(entry.seq - 1, size)
    return {"format": BUNDLE_FORMAT, "record_id": entry.record_id, "record_hash": entry.hash,
            "leaf_index": entry.seq - 1, "tree_size": size, "root": _b64(tree.root(size)),
            "proof": [_b64(p) for p in proof], "checkpoint": note if point else None}


def check_bundle(bundle: Any, verifier: Verifier, label: str = "the proof") -> dict:
    """What a proof shows, once it verifies against its checkpoint signed by ``verifier``; AuditFailure
    (or InputError for a malformed bundle) otherwise. Needs no log."""
    fields = _bundle_fields(bundle, label)
    point = _opened(fields["checkpoint"], verifier, f"{label}: its checkpoint")
    if point.size != fields["tree_size"] or point.root != fields["root"]:
        raise AuditFailure(f"{label} is for a tree of {fields['tree_size']} records, not the signed one of {point.size}")
    leaf = leaf_hash(bytes.fromhex(fields["record_hash"]))
    if not verify_inclusion(fields["leaf_index"], point.size, leaf, fields["proof"], point.root):
        raise AuditFailure(f"{label} does not show record {fields['record_id']} in the signed tree: it was changed")
    return {"record_id": fields["record_id"], "record_hash": fields["record_hash"], "tree_size": point.size,
            "origin": point.origin, "time": point.time, "signed_by": verifier.name}


def _bundle_fields(bundle: Any, label: str) -> dict:
    def bad(message: str) -> InputError:
        return InputError.at(Location(label), message)
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise bad(f"not an inclusion proof (its 'format' is {BUNDLE_FORMAT})")
    if not isinstance(bundle.get("checkpoint"), str):
        raise bad("the proof holds no signed checkpoint: make it with `rules audit prove REF --checkpoint FILE`")
    try:
        digest = bundle["record_hash"]
        fields = {"record_id": str(bundle["record_id"]), "record_hash": digest, "checkpoint": bundle["checkpoint"],
                  "leaf_index": int(bundle["leaf_index"]), "tree_size": int(bundle["tree_size"]),
                  "root": base64.b64decode(bundle["root"], validate=True),
                  "proof": [base64.b64decode(p, validate=True) for p in bundle["proof"]]}
        bytes.fromhex(digest)
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"a field of the proof is missing or malformed ({exc})") from None
    return fields


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
