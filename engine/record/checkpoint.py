"""Signed checkpoints of the log's Merkle tree, in the formats transparency logs share.

A checkpoint is the C2SP ``tlog-checkpoint`` body: the log's origin, the tree size, the root hash
(base64), then extension lines (here ``time <UTC>``). It is signed as a C2SP ``signed-note`` with
Ed25519: the body, a blank line, and one line per signature, ``— <key name> <base64(key id || sig)>``,
where the key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key). Keys are written as
Go's ``golang.org/x/mod/sumdb/note`` writes them (``PRIVATE+KEY+<name>+<id>+<base64>`` and
``<name>+<id>+<base64>``), so that any checkpoint or witness tool of that ecosystem reads them.

The signing key belongs to someone who does not run the log's database (an auditor): the database's
owner can then rewrite records and recompute the chain, but not sign a checkpoint that hides it.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space
NAME = re.compile(r"[^\s+]+")
MAX_NOTE = 1 << 20
MAX_SIGNATURES = 100


class BadNote(ValueError):
    """A key, a note or a checkpoint that cannot be read or does not verify; the message says why."""


@dataclass(frozen=True)
class Signer:
    name: str
    key_id: bytes
    key: Ed25519PrivateKey

    def sign(self, text: str) -> str:
        """``text`` (ending in a newline) as a signed note with this key's signature."""
        return sign_note(text, [self])


@dataclass(frozen=True)
class Verifier:
    name: str
    key_id: bytes
    key: Ed25519PublicKey

    @property
    def text(self) -> str:
        raw = self.key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(ED25519 + raw).decode()}"


def key_id(name: str, public: bytes) -> bytes:
    """The 4-byte id of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519 + public).digest()[:4]


def generate(name: str) -> tuple[str, str]:
    """A new key pair for ``name``: (the signer key text, to keep secret; the verifier key text, to publish)."""
    _check_name(name)
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = key_id(name, public).hex()
    return (f"PRIVATE+KEY+{name}+{kid}+{base64.b64encode(ED25519 + seed).decode()}",
            f"{name}+{kid}+{base64.b64encode(ED25519 + public).decode()}")


def signer(text: str) -> Signer:
    """A signer key, as ``generate`` writes it."""
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise BadNote("not a signing key: it starts with PRIVATE+KEY+<name>+<id>+")
    name, seed = parts[2], _key_bytes(parts[4])
    _check_name(name)
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    if parts[3] != key_id(name, public).hex():
        raise BadNote(f"the signing key's id {parts[3]} is not the id of its key")
    return Signer(name, key_id(name, public), key)


def verifier(text: str) -> Verifier:
    """A verifier (public) key, as ``generate`` writes it: ``<name>+<id>+<base64>``."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or text.startswith("PRIVATE+"):
        raise BadNote("not a public key: <name>+<id>+<base64 of 0x01 and the key>")
    name, public = parts[0], _key_bytes(parts[2])
    _check_name(name)
    if parts[1] != key_id(name, public).hex():
        raise BadNote(f"the public key's id {parts[1]} is not the id of its key")
    return Verifier(name, key_id(name, public), Ed25519PublicKey.from_public_bytes(public))


def _key_bytes(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadNote("the key is not valid base64") from None
    if len(raw) != 33 or raw[:1] != ED25519:
        raise BadNote("only Ed25519 keys (type 0x01, 32 bytes) are read")
    return raw[1:]


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise BadNote(f"a key name is non-empty text without spaces or '+': {name!r}")


def sign_note(text: str, signers: list) -> str:
    """The signed note of ``text``: it, a blank line, and one signature line per signer."""
    if not text.endswith("\n") or "\n\n" in text:
        raise BadNote("a note's text ends with a newline and holds no blank line")
    lines = []
    for s in signers:
        signature = s.key.sign(text.encode("utf-8"))
        lines.append(f"{SIGNATURE_PREFIX}{s.name} {base64.b64encode(s.key_id + signature).decode()}\n")
    return text + "\n" + "".join(lines)


def open_note(note: str, known: Verifier) -> str:
    """The text of a signed note that ``known`` signed; BadNote unless its signature verifies.

    Lines by other keys are ignored (witnesses may add theirs); a line by this key that does not
    verify refuses the whole note.
    """
    if len(note.encode("utf-8")) > MAX_NOTE:
        raise BadNote("the note is larger than 1 MB")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise BadNote("not a signed note: its text, a blank line, then its signatures")
    text, lines = note[:cut + 1], note[cut + 2:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise BadNote(f"more than {MAX_SIGNATURES} signatures")
    for line in lines:
        name, blob = _signature_line(line)
        if name == known.name and blob[:4] == known.key_id:
            try:
                known.key.verify(blob[4:], text.encode("utf-8"))
            except InvalidSignature:
                raise BadNote(f"the signature of {name} does not verify: the note was changed") from None
            return text
    raise BadNote(f"the note has no signature by {known.name} ({known.key_id.hex()})")


def _signature_line(line: str) -> tuple[str, bytes]:
    if not line.startswith(SIGNATURE_PREFIX) or line.count(" ") != 2:
        raise BadNote(f"not a signature line: {line[:60]!r}")
    name, encoded = line[len(SIGNATURE_PREFIX):].split(" ")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise BadNote(f"the signature of {name} is not valid base64") from None
    if len(blob) < 5:
        raise BadNote(f"the signature of {name} is too short")
    return name, blob


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log (origin), its size and root hash, and extension lines (``time ...``)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple = ()

    @property
    def body(self) -> str:
        head = f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
        return head + "".join(f"{line}\n" for line in self.extensions)

    @property
    def time(self) -> str | None:
        return next((line.split(" ", 1)[1] for line in self.extensions if line.startswith("time ")), None)


def parse_checkpoint(text: str) -> Checkpoint:
    """A checkpoint body (the text of its signed note)."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise BadNote("a checkpoint is the origin, the tree size and the root hash, one per line")
    origin, size, root = lines[0], lines[1], lines[2]
    if not origin or not re.fullmatch(r"0|[1-9][0-9]{0,18}", size):
        raise BadNote("a checkpoint's second line is the tree size, a whole number")
    try:
        digest = base64.b64decode(root, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 32:
        raise BadNote("a checkpoint's third line is the root hash, 32 bytes in base64")
    return Checkpoint(origin, int(size), digest, tuple(lines[3:-1]))


def open_checkpoint(note: str, known: Verifier) -> Checkpoint:
    """The checkpoint of a signed note, once ``known``'s signature on it verifies."""
    return parse_checkpoint(open_note(note, known))
