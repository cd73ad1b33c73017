"""Deterministic gzip and the layer cache, on files in a temporary folder."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import pytest

from hubpub.layers import CachedLayer, LayerCache, compress


def test_the_same_layer_compresses_to_the_same_bytes_with_no_name_and_no_time(
    tmp_path: Path,
) -> None:
    source = tmp_path / "layer.tar"
    source.write_bytes(os.urandom(300_000) + b"a" * 3_000_000)
    first = compress(source, tmp_path / "1.gz")
    second = compress(source, tmp_path / "2.gz")
    data = first.path.read_bytes()
    assert data == second.path.read_bytes()
    assert first.digest == second.digest == f"sha256:{hashlib.sha256(data).hexdigest()}"
    assert first.size == len(data)
    assert gzip.decompress(data) == source.read_bytes()
    # RFC 1952: FLG (no FNAME bit), MTIME zero.
    assert data[:3] == b"\x1f\x8b\x08"
    assert data[3] & 0x08 == 0
    assert data[4:8] == b"\x00\x00\x00\x00"


def test_an_empty_layer_compresses_too(tmp_path: Path) -> None:
    source = tmp_path / "empty.tar"
    source.write_bytes(b"")
    done = compress(source, tmp_path / "empty.gz")
    assert gzip.decompress(done.path.read_bytes()) == b""


DIFF = "sha256:" + "ab" * 32


def test_the_cache_keeps_one_entry_per_registry(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path)
    entry = CachedLayer("sha256:" + "cd" * 32, 123, "team/app")
    cache.put("localhost:5000", DIFF, entry)
    assert cache.get("localhost:5000", DIFF) == entry
    assert cache.get("localhost:5001", DIFF) is None
    assert cache.get("localhost:5000", "sha256:" + "ef" * 32) is None


@pytest.mark.parametrize("content", ["{not json", '{"digest": "x"}', "[]"])
def test_a_damaged_entry_is_a_miss(tmp_path: Path, content: str) -> None:
    cache = LayerCache(tmp_path)
    cache.put("r.example", DIFF, CachedLayer("sha256:" + "cd" * 32, 1, "a/b"))
    [path] = [p for p in tmp_path.rglob("*") if p.is_file()]
    path.write_text(content)
    assert cache.get("r.example", DIFF) is None


@pytest.mark.parametrize("diff_id", ["sha256:../../etc", "nohex", "sha256:"])
def test_a_diff_id_that_is_not_a_digest_is_never_a_path(tmp_path: Path, diff_id: str) -> None:
    cache = LayerCache(tmp_path)
    cache.put("r.example", diff_id, CachedLayer("sha256:" + "cd" * 32, 1, "a/b"))
    assert cache.get("r.example", diff_id) is None
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_without_a_cache_folder_nothing_is_kept() -> None:
    cache = LayerCache.default({})
    cache.put("r.example", DIFF, CachedLayer("sha256:" + "cd" * 32, 1, "a/b"))
    assert cache.get("r.example", DIFF) is None
    assert LayerCache.default({"XDG_CACHE_HOME": "/c"}).folder == Path("/c/hubpub/layers")
