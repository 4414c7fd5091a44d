"""Issue 22: signed notes and checkpoints, read and written as the transparency-log ecosystem does.

The known answer is the example of Go's golang.org/x/mod/sumdb/note (the reference implementation of the
C2SP signed-note format): its key, its text and the exact signed note. Ed25519 is deterministic, so our
signature of that text with that key must be those bytes.
"""
from __future__ import annotations

import base64

import pytest

from rules_engine.record.checkpoint import (BadNote, Checkpoint, generate, key_id, open_checkpoint, open_note,
                                            parse_checkpoint, signer, verifier)

GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"


def test_the_reference_example_byte_for_byte():
    s, v = signer(GO_SIGNER), verifier(GO_VERIFIER)
    assert s.key_id.hex() == v.key_id.hex() == "c74f20a3"
    assert s.sign(GO_TEXT) == GO_NOTE
    assert open_note(GO_NOTE, v) == GO_TEXT
    assert v.text == GO_VERIFIER


def test_a_key_id_is_the_start_of_the_hash_of_name_type_and_key():
    public = base64.b64decode(GO_VERIFIER.split("+")[2])[1:]
    assert key_id("PeterNeumann", public).hex() == "c74f20a3"
    assert key_id("PeterNeumann2", public).hex() != "c74f20a3"


def test_generated_keys_sign_and_verify_and_differ():
    secret, public = generate("auditor.example/rules-log")
    assert secret.startswith("PRIVATE+KEY+auditor.example/rules-log+") and public.startswith("auditor.example/rules-log+")
    note = signer(secret).sign("x\n")
    assert open_note(note, verifier(public)) == "x\n"
    other = verifier(generate("auditor.example/rules-log")[1])
    with pytest.raises(BadNote, match="has no signature by"):
        open_note(note, other)  # same name, another key: its id differs


@pytest.mark.parametrize("change, words", [
    (lambda n: n.replace("problem,", "problem;"), "does not verify"),
    (lambda n: n.replace("Zb6KE6", "Zb6KE7"), "does not verify"),
    (lambda n: n.replace("x08go", "y08go"), "has no signature by PeterNeumann"),  # the key id is changed
    (lambda n: n.replace("\u2014 PeterNeumann", "- PeterNeumann"), "not a signature line"),
    (lambda n: n.replace("\n\n", "\n"), "not a signed note"),
    (lambda n: n[:-1], "not a signed note"),
    (lambda n: n.replace("PeterNeumann x08", "PeterNeumann !x08"), "not valid base64"),
    (lambda n: n.replace("PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
                         "PeterNeumann AAAA"), "too short"),
    (lambda n: n.replace("PeterNeumann x", "Someone x"), "has no signature by PeterNeumann"),
])
def test_a_changed_note_is_refused_with_the_reason(change, words):
    with pytest.raises(BadNote, match=words):
        open_note(change(GO_NOTE), verifier(GO_VERIFIER))


def test_other_signatures_are_ignored_but_a_bad_one_by_the_key_is_not():
    other = signer(generate("witness.example")[0])
    cosigned = GO_NOTE + other.sign(GO_TEXT).split("\n\n", 1)[1]
    assert open_note(cosigned, verifier(GO_VERIFIER)) == GO_TEXT
    bad = GO_TEXT + "\n\u2014 PeterNeumann " + base64.b64encode(bytes.fromhex("c74f20a3") + b"\0" * 64).decode() + "\n"
    with pytest.raises(BadNote, match="does not verify"):
        open_note(bad + cosigned.split("\n\n", 1)[1], verifier(GO_VERIFIER))


@pytest.mark.parametrize("text, words", [
    ("PRIVATE+KEY+x+00000000+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "not the id of its key"),
    ("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEK", "only Ed25519 keys"),
    ("PRIVATE+KEY+PeterNeumann+c74f20a3+AYE!", "not valid base64"),
    ("PRIVATE+KEY+Peter Neumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "without spaces"),
    ("KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "not a signing key"),
])
def test_bad_signing_keys_are_refused(text, words):
    with pytest.raises(BadNote, match=words):
        signer(text)


@pytest.mark.parametrize("text, words", [
    (GO_SIGNER, "not a public key"),
    ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "not the id of its key"),
    ("PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "only Ed25519 keys"),
    ("PeterNeumann", "not a public key"),
])
def test_bad_public_keys_are_refused(text, words):
    with pytest.raises(BadNote, match=words):
        verifier(text)


def test_a_checkpoint_body_as_c2sp_writes_it():
    root = bytes(range(32))
    point = Checkpoint("rules.example/log", 12, root, ("time 2026-12-02T10:00:00Z",))
    assert point.body == ("rules.example/log\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
                          "time 2026-12-02T10:00:00Z\n")
    assert parse_checkpoint(point.body) == point and point.time == "2026-12-02T10:00:00Z"
    secret, public = generate("rules.example/log")
    note = signer(secret).sign(point.body)
    assert open_checkpoint(note, verifier(public)) == point
    with pytest.raises(BadNote):
        open_checkpoint(note, verifier(generate("rules.example/log")[1]))  # another key of that name


@pytest.mark.parametrize("body, words", [
    ("origin\n12\n", "the origin, the tree size and the root hash"),
    ("origin\n012\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", "the tree size"),
    ("origin\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", "the tree size"),
    ("origin\n12\nAAECAwQF\n", "32 bytes in base64"),
    ("\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", "the tree size"),
])
def test_bad_checkpoints_are_refused(body, words):
    with pytest.raises(BadNote, match=words):
        parse_checkpoint(body)
