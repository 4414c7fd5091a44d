"""Issue 22: the Merkle tree over the log, against published test vectors and an independent slow computation.

The vectors are those of transparency-dev/merkle (proof/verify_test.go), the Go library behind Certificate
Transparency and the Go checksum database: eight leaves, the root of each tree of 1 to 8 of them, and
inclusion and consistency proofs. The slow computation below is the RFC 6962 §2.1 definition written
out directly, recursion on lists of data, sharing nothing with ``engine/record/tree.py``.
"""
from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.record.tree import (EMPTY, Tree, leaf_hash, root_from_inclusion, verify_consistency,
                                      verify_inclusion)

h = bytes.fromhex
LEAVES = [h(""), h("00"), h("10"), h("2021"), h("3031"), h("40414243"), h("5051525354555657"),
          h("606162636465666768696a6b6c6d6e6f")]
ROOTS = [h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
         h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
         h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
         h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
         h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
         h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
         h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
         h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
INCLUSION = [  # (leaf index, tree size, proof)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]
CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]


def slow_root(data: list) -> bytes:
    """MTH as RFC 6962 §2.1 writes it: on the data, recursively."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < len(data):
        k *= 2
    return hashlib.sha256(b"\x01" + slow_root(data[:k]) + slow_root(data[k:])).digest()


def tree_of(data: list) -> Tree:
    return Tree(leaf_hash(d) for d in data)


@pytest.mark.parametrize("size", range(1, 9))
def test_the_root_of_every_published_tree(size):
    assert tree_of(LEAVES).root(size) == ROOTS[size - 1] == tree_of(LEAVES[:size]).root() == slow_root(LEAVES[:size])


def test_the_empty_tree():
    assert Tree().root() == EMPTY == hashlib.sha256(b"").digest()
    assert EMPTY.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("index, size, proof", INCLUSION)
def test_the_published_inclusion_proofs(index, size, proof):
    proof = [h(p) for p in proof]
    assert tree_of(LEAVES).inclusion(index, size) == proof
    assert verify_inclusion(index, size, leaf_hash(LEAVES[index]), proof, ROOTS[size - 1])


@pytest.mark.parametrize("old, new, proof", CONSISTENCY)
def test_the_published_consistency_proofs(old, new, proof):
    proof = [h(p) for p in proof]
    assert tree_of(LEAVES).consistency(old, new) == proof
    assert verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


@pytest.mark.parametrize("index, size, proof", [v for v in INCLUSION if v[2]])
def test_a_corrupted_inclusion_proof_fails(index, size, proof):
    # the probes of verify_test.go's corruptInclusionProof
    proof, root, leaf = [h(p) for p in proof], ROOTS[size - 1], leaf_hash(LEAVES[index])
    some = h("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [(index - 1, size, root, leaf, proof), (index + 1, size, root, leaf, proof),
              (index ^ 2, size, root, leaf, proof), (index, size * 2, root, leaf, proof),
              (index, size // 2, root, leaf, proof), (index, size, root, b"WrongLeaf", proof),
              (index, size, EMPTY, leaf, proof), (index, size, some, leaf, proof),
              (index, size, root, leaf, proof + [b""]), (index, size, root, leaf, proof + [root]),
              (index, size, root, leaf, [b""] + proof), (index, size, root, leaf, [root] + proof),
              (index, size, root, leaf, proof[:-1])]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, root, leaf, flipped))
    if len(proof) > 1:
        probes.append((index, size, root, leaf, [proof[0], some] + proof[1:]))
    for i, s, r, leaf_, p in probes:
        assert not verify_inclusion(i, s, leaf_, p, r), (i, s)


@pytest.mark.parametrize("old, new, proof", [v for v in CONSISTENCY if v[2]])
def test_a_corrupted_consistency_proof_fails(old, new, proof):
    proof, r1, r2 = [h(p) for p in proof], ROOTS[old - 1], ROOTS[new - 1]
    probes = [(old - 1, new, r1, r2, proof), (old + 1, new, r1, r2, proof), (old ^ 2, new, r1, r2, proof),
              (old, new * 2, r1, r2, proof), (old, new // 2, r1, r2, proof), (old, new, b"WrongRoot", r2, proof),
              (old, new, r1, b"WrongRoot", proof), (old, new, r2, r1, proof), (old, new, r1, r2, []),
              (old, new, r1, r2, proof + [b""]), (old, new, r1, r2, proof + [r1]), (old, new, r1, r2, proof + [r2]),
              (old, new, r1, r2, [b""] + proof), (old, new, r1, r2, [r1] + proof), (old, new, r1, r2, [r2] + proof),
              (old, new, r1, r2, [proof[0]] + proof), (old, new, r1, r2, proof[:-1])]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((old, new, r1, r2, flipped))
    for probe in probes:
        assert not verify_consistency(*probe), probe


@pytest.mark.parametrize("old, new, r1, r2, proof, ok", [
    (0, 0, b"a", b"a", [], True), (0, 1, b"a", b"b", [], True), (1, 1, b"b", b"b", [], True),
    (0, 0, b"a", b"b", [], False), (1, 1, b"a", b"b", [], False), (1, 0, b"a", b"b", [], False),
    (2, 1, b"a", b"b", [], False), (1, 2, b"a", b"b", [], False), (0, 1, EMPTY, EMPTY, [EMPTY], False),
    (1, 1, EMPTY, EMPTY, [EMPTY], False),
])
def test_the_edges_of_consistency(old, new, r1, r2, proof, ok):
    assert verify_consistency(old, new, r1, r2, proof) is ok


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_every_proof_of_any_tree_verifies_against_the_slow_root(data, draw):
    tree = tree_of(data)
    size = draw.draw(st.integers(1, len(data)))
    index = draw.draw(st.integers(0, size - 1))
    root = slow_root(data[:size])
    assert tree.root(size) == root
    proof = tree.inclusion(index, size)
    assert root_from_inclusion(index, size, leaf_hash(data[index]), proof) == root
    assert not verify_inclusion(index, size, leaf_hash(data[index] + b"x"), proof, root)
    old = draw.draw(st.integers(0, size))
    assert verify_consistency(old, size, slow_root(data[:old]), root, tree.consistency(old, size))
    if 0 < old < size and data[:old] != data[:old - 1] + [data[old - 1] + b"x"]:
        changed = data[:old - 1] + [data[old - 1] + b"x"]
        assert not verify_consistency(old, size, slow_root(changed), root, tree.consistency(old, size))


def test_sizes_beyond_the_tree_are_refused():
    tree = tree_of(LEAVES[:3])
    for call in (lambda: tree.root(4), lambda: tree.inclusion(3, 3), lambda: tree.inclusion(0, 4),
                 lambda: tree.consistency(4, 3), lambda: tree.consistency(2, 4), lambda: tree.inclusion(-1, 3)):
        with pytest.raises(ValueError):
            call()
