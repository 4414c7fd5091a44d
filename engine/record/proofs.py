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
from .tree import Tree, leaf_hash, verify_consistency, verify_inclusion
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


def tree_head(log: DecisionLog) -> dict:
    """The log's tree as it is now: its size and root hash (what a checkpoint signs)."""
    tree = log_tree(log)
    return {"size": tree.size, "root": _b64(tree.root())}


def inclusion_at(log: DecisionLog, entry: Entry, size: int | None = None) -> dict:
    """A proof that ``entry`` is in the tree of the first ``size`` records (default: all), for a reader who holds a
    checkpoint of that size: its root must be the checkpoint's."""
    tree = log_tree(log)
    size = tree.size if size is None else size
    if not entry.seq <= size <= tree.size:
        raise InputError.at(Location("size"), f"record {entry.record_id} is in the trees of {entry.seq} to {tree.size} "
                            f"records, not of {size}")
    return {"format": BUNDLE_FORMAT, "record_id": entry.record_id, "record_hash": entry.hash,
            "leaf_index": entry.seq - 1, "tree_size": size, "root": _b64(tree.root(size)),
            "proof": [_b64(p) for p in tree.inclusion(entry.seq - 1, size)], "checkpoint": None}


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


CONSISTENCY_FORMAT = "rules-consistency-proof/1"


def consistency_bundle(log: DecisionLog, old_size: int) -> dict:
    """The proof that the log's tree of ``old_size`` records is the start of its tree now (RFC 6962 PROOF), for a
    witness that saw a checkpoint of ``old_size``."""
    tree = log_tree(log)
    if not 0 <= old_size <= tree.size:
        raise AuditFailure(f"the log holds {tree.size} records, fewer than the {old_size} of the checkpoint: "
                           "records were removed")
    return {"format": CONSISTENCY_FORMAT, "old_size": old_size, "new_size": tree.size,
            "proof": [_b64(p) for p in tree.consistency(old_size, tree.size)]}


def witness(note: str, log_key: Verifier, witness_key: Signer, seen: str | None, proof: Any,
            label: str = "the checkpoint") -> str:
    """Cosign a checkpoint the log signed, as a witness: only if it is consistent with the last one this witness
    cosigned (``seen``, its note; None the first time). Returns the checkpoint with the witness's signature added
    (an Ed25519 signature line over the same text); AuditFailure if the log shows two histories."""
    new = _opened(note, log_key, label)
    if seen is not None:
        old = _opened(seen, log_key, "the checkpoint seen before")
        _check_consistent(old, new, proof, label)
    text = note[:note.rfind("\n\n") + 1]
    own = witness_key.sign(text).split("\n\n", 1)[1]
    return note + own


def _check_consistent(old: Checkpoint, new: Checkpoint, proof: Any, label: str) -> None:
    if old.origin != new.origin:
        raise AuditFailure(f"{label} is of the log '{new.origin}', not of '{old.origin}' seen before")
    if new.size < old.size:
        raise AuditFailure(f"{label} is of {new.size} records, fewer than the {old.size} seen before: records were removed")
    if new.size == old.size:
        if new.root != old.root:
            raise AuditFailure(f"two different trees of {new.size} records: the log shows two histories")
        return
    hashes = _consistency_hashes(proof, old.size, new.size, label)
    if not verify_consistency(old.size, new.size, old.root, new.root, hashes):
        raise AuditFailure(f"{label} ({new.size} records) does not extend the tree of {old.size} seen before: the "
                           "history was rewritten")


def _consistency_hashes(proof: Any, old: int, new: int, label: str) -> list:
    if not isinstance(proof, dict) or proof.get("format") != CONSISTENCY_FORMAT:
        raise InputError.at(Location(label), f"a consistency proof is needed ('format': {CONSISTENCY_FORMAT}): "
                            f"`rules audit consistency {old}` on the log")
    if proof.get("old_size") != old or proof.get("new_size") != new:
        raise InputError.at(Location(label), f"the proof is from {proof.get('old_size')} to {proof.get('new_size')} "
                            f"records, not from {old} to {new}")
    try:
        return [base64.b64decode(p, validate=True) for p in proof["proof"]]
    except (KeyError, TypeError, ValueError):
        raise InputError.at(Location(label), "the proof's hashes are not base64") from None
