"""The on-disk cache of the content-key labels of manifests."""

from __future__ import annotations

from pathlib import Path

from hubpub.labelcache import LabelCache

DIGEST = "sha256:" + "a" * 64
KEY = "sha256:" + "1" * 64


def test_label_cache_round_trip(tmp_path: Path) -> None:
    cache = LabelCache.default({"XDG_CACHE_HOME": str(tmp_path)})
    assert cache.get(DIGEST) == (False, None)
    cache.put(DIGEST, KEY)
    assert cache.get(DIGEST) == (True, KEY)
    other = "sha256:" + "b" * 64
    cache.put(other, None)  # "no label" is an answer too
    assert cache.get(other) == (True, None)
    assert (tmp_path / "hubpub" / "labels" / "sha256" / ("a" * 64)).is_file()
    # Another process reads what this one wrote.
    assert LabelCache.default({"XDG_CACHE_HOME": str(tmp_path)}).get(DIGEST) == (True, KEY)


def test_label_cache_ignores_garbage_and_odd_digests(tmp_path: Path) -> None:
    cache = LabelCache(tmp_path)
    path = tmp_path / "sha256" / ("c" * 64)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert cache.get("sha256:" + "c" * 64) == (False, None)
    cache.put("sha256:../../etc", KEY)  # never a path outside the cache
    assert cache.get("sha256:../../etc") == (False, None)
    assert LabelCache(None).get(DIGEST) == (False, None)
