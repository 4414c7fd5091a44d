"""Check a proof that a decision is in the signed decision log, with nothing of the rules engine.

    python3 check_proof.py proof.json "audit.example.org/rules-log+1a2b3c4d+AUL..."

proof.json is what `rules audit prove REF --checkpoint FILE --public-key KEY` (or the service) gives; the key is
the auditor's published public key. Python's standard library and `cryptography` only: RFC 9162 (2.1.3.2)
for the inclusion proof, C2SP signed-note and tlog-checkpoint for the signature. Exit 0 when it holds.
"""
import base64
import hashlib
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def opened_note(note: str, key_text: str) -> str:
    """The text of the signed note, if the key's signature on it verifies (else ValueError)."""
    name, key_id, blob = key_text.strip().split("+", 2)
    raw = base64.b64decode(blob)
    if raw[:1] != b"\x01" or hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() != key_id:
        raise ValueError("the public key's id does not match the key")
    text, _, signatures = note.rpartition("\n\n")
    for line in signatures.splitlines():
        signer, _, encoded = line.removeprefix("\u2014 ").partition(" ")
        signature = base64.b64decode(encoded)
        if signer == name and signature[:4].hex() == key_id:
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(signature[4:], (text + "\n").encode())
            return text + "\n"
    raise ValueError(f"the checkpoint is not signed by {name}")


def root_from_path(index: int, size: int, leaf: bytes, path: list) -> bytes:
    """RFC 9162, 2.1.3.2: the root the inclusion path leads to from the leaf at ``index`` (ValueError if none)."""
    if index >= size:
        raise ValueError("the leaf is not in a tree of this size")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ValueError("the inclusion path is too long")
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("the inclusion path is too short")
    return r


def check(proof: dict, key_text: str) -> str:
    origin, size, root = opened_note(proof["checkpoint"], key_text).split("\n")[:3]
    if int(size) != proof["tree_size"] or base64.b64decode(root) != base64.b64decode(proof["root"]):
        raise ValueError("the proof is not for the signed tree")
    leaf = hashlib.sha256(b"\x00" + bytes.fromhex(proof["record_hash"])).digest()  # the record's chain hash
    path = [base64.b64decode(p) for p in proof["proof"]]
    if root_from_path(proof["leaf_index"], int(size), leaf, path) != base64.b64decode(root):
        raise ValueError("the record is not in the signed tree")
    return f"record {proof['record_id']} is record {proof['leaf_index'] + 1} of the {size} of {origin}, as signed"


if __name__ == "__main__":
    try:
        with open(sys.argv[1], encoding="utf-8") as handle:
            print("ok: " + check(json.load(handle), sys.argv[2]))
    except Exception as exc:  # noqa: BLE001 - whatever is wrong, the proof does not hold
        sys.exit(f"not proven: {exc}")
