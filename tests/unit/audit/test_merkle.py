"""RFC 9162 Merkle tree over the audit log: the Certificate Transparency test vectors, proofs
against a straightforward recursive implementation for random sizes, and tampered proofs."""
import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.audit import merkle

# The eight-leaf tree of the Certificate Transparency reference implementation's tests.
CT_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [  # (leaf index, tree size, path)
    (0, 1, []),
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
]
CT_CONSISTENCY = [  # (first, second, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


def hexes(hashes):
    return [h.hex() for h in hashes]


CT_HASHES = [merkle.leaf_hash(d) for d in CT_LEAVES]


def test_the_ct_roots_for_every_size_of_the_eight_leaf_tree():
    assert [merkle.root(CT_HASHES[:n]).hex() for n in range(1, 9)] == CT_ROOTS
    assert merkle.root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_the_ct_inclusion_proofs():
    for index, size, path in CT_INCLUSION:
        assert hexes(merkle.inclusion_path(index, CT_HASHES[:size])) == path, (index, size)
        assert merkle.verify_inclusion(CT_HASHES[index], index, size, [bytes.fromhex(p) for p in path],
                                       bytes.fromhex(CT_ROOTS[size - 1]))


def test_the_ct_consistency_proofs():
    for first, second, proof in CT_CONSISTENCY:
        assert hexes(merkle.consistency_proof(first, CT_HASHES[:second])) == proof, (first, second)
        assert merkle.verify_consistency(first, second, bytes.fromhex(CT_ROOTS[first - 1]),
                                         bytes.fromhex(CT_ROOTS[second - 1]), [bytes.fromhex(p) for p in proof])


# --- an independent, literal transcription of RFC 6962 §2.1 (recursive, slow, obvious) -----------

def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + d[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_inclusion_proofs_match_the_rfc_and_verify(n, data):
    d = leaves(n)
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    hashes = [merkle.leaf_hash(x) for x in d]
    assert merkle.root(hashes) == mth(d)
    proof = merkle.inclusion_path(m, hashes)
    assert proof == path(m, d)
    assert merkle.verify_inclusion(hashes[m], m, n, proof, mth(d))


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_consistency_proofs_match_the_rfc_and_verify(n, data):
    d = leaves(n)
    m = data.draw(st.integers(min_value=1, max_value=n))
    hashes = [merkle.leaf_hash(x) for x in d]
    proof = merkle.consistency_proof(m, hashes)
    assert proof == subproof(m, d, True)
    assert merkle.verify_consistency(m, n, mth(d[:m]), mth(d), proof)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=2, max_value=200), st.data())
def test_a_tampered_inclusion_proof_fails(n, data):
    d = leaves(n)
    hashes = [merkle.leaf_hash(x) for x in d]
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = merkle.inclusion_path(m, hashes)
    good_root = merkle.root(hashes)
    at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    bad = list(proof)
    bad[at] = bytes([bad[at][0] ^ 1]) + bad[at][1:]
    assert not merkle.verify_inclusion(hashes[m], m, n, bad, good_root)
    assert not merkle.verify_inclusion(hashes[m], m, n, proof[:-1], good_root)
    assert not merkle.verify_inclusion(hashes[m], m, n, proof + [good_root], good_root)
    other = (m + 1) % n
    assert not merkle.verify_inclusion(hashes[other], m, n, proof, good_root)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=2, max_value=200), st.data())
def test_a_tampered_consistency_proof_or_a_rewritten_leaf_fails(n, data):
    d = leaves(n)
    hashes = [merkle.leaf_hash(x) for x in d]
    m = data.draw(st.integers(min_value=1, max_value=n - 1))
    proof = merkle.consistency_proof(m, hashes)
    first_root, second_root = merkle.root(hashes[:m]), merkle.root(hashes)
    at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    bad = list(proof)
    bad[at] = bytes([bad[at][0] ^ 1]) + bad[at][1:]
    assert not merkle.verify_consistency(m, n, first_root, second_root, bad)
    # An event before `m` rewritten after the first root was signed: the new tree is not an extension.
    rewritten = list(hashes)
    rewritten[data.draw(st.integers(min_value=0, max_value=m - 1))] = merkle.leaf_hash(b"rewritten")
    assert not merkle.verify_consistency(m, n, first_root, merkle.root(rewritten),
                                         merkle.consistency_proof(m, rewritten))


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_streamed_roots_in_chunks_match_the_rfc(n, data):
    """What the API computes from the database: proofs and prefix roots in one pass over chunks."""
    d = leaves(n)
    hashes = [merkle.leaf_hash(x) for x in d]
    chunk = data.draw(st.sampled_from([1, 2, 3, 4, 7, 8, 64, 1000]))
    chunks = [hashes[i:i + chunk] for i in range(0, n, chunk)]
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    first = data.draw(st.integers(min_value=1, max_value=n))
    path_, roots = merkle.stream_roots(iter(chunks), merkle.inclusion_ranges(m, n), [n, first, 0])
    assert path_ == path(m, d)
    assert roots == {n: mth(d), first: mth(d[:first]), 0: mth([])}
    proof, _ = merkle.stream_roots(iter(chunks), merkle.consistency_ranges(first, n), [first])
    assert proof == subproof(first, d, True)
    accumulator = merkle.Accumulator()
    for piece in chunks:
        accumulator.extend(piece)
    assert accumulator.root() == mth(d)
