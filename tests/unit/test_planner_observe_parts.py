"""The parts of observe: registry redirects, the on-disk label cache, the content keys."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import pytest

from hubpub.desired import BuildSpec, DesiredImage, DesiredTag
from hubpub.errors import PlanError
from hubpub.labelcache import LabelCache
from hubpub.observe import observe, observe_builds
from hubpub.redirects import Redirects
from hubpub.reference import Reference, Repository, parse_reference, parse_repository
from hubpub.registry.models import Manifest, ManifestInfo

T = TypeVar("T")
R = TypeVar("R")

DIGEST = "sha256:" + "a" * 64
KEY = "sha256:" + "1" * 64


def test_redirect_rewrites_the_registry_only() -> None:
    redirects = Redirects.parse(["index.docker.io=localhost:5000", "ghcr.io=127.0.0.1:5001"])
    assert redirects.mapping == {"docker.io": "localhost:5000", "ghcr.io": "127.0.0.1:5001"}
    assert str(redirects.reference(parse_reference("busybox:1.36"))) == (
        "localhost:5000/library/busybox:1.36"
    )
    assert str(redirects.reference(parse_reference("ghcr.io/o/app@" + DIGEST))) == (
        f"127.0.0.1:5001/o/app@{DIGEST}"
    )
    untouched = parse_reference("quay.io/o/app:1")
    assert redirects.reference(untouched) == untouched
    assert redirects.as_list() == ["docker.io=localhost:5000", "ghcr.io=127.0.0.1:5001"]
    assert not Redirects.parse([])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("docker.io", "invalid --redirect 'docker.io' (write FROM=TO, e.g. "),
        ("=localhost:5000", "invalid --redirect '=localhost:5000' (write FROM=TO, e.g. "),
        ("docker.io=", "invalid --redirect 'docker.io=' (write FROM=TO, e.g. "),
        ("a=b=c d", "invalid --redirect 'a=b=c d': 'b=c d' is not a registry host (write "),
        ("foo=localhost:5000", "invalid --redirect 'foo=localhost:5000': 'foo' is not a registry"),
    ],
)
def test_redirect_refuses_malformed(bad: str, message: str) -> None:
    with pytest.raises(PlanError) as caught:
        Redirects.parse([bad])
    assert str(caught.value).startswith(message)
    assert str(caught.value).endswith("docker.io=localhost:5000)")


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


class _EmptyRegistry:
    """A registry that holds nothing: every HEAD misses, every repository is empty."""

    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]:
        return dict.fromkeys(refs)

    def head_manifest(self, ref: Reference) -> ManifestInfo | None:
        return None

    def get_manifest(self, ref: Reference) -> Manifest:
        raise AssertionError("no manifest to read")

    def get_blob(self, repo: Repository, digest: str) -> bytes:
        raise AssertionError("no blob to read")

    def list_tags(self, repo: Repository, *, missing_ok: bool = False) -> list[str]:
        return []

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return [fn(item) for item in items]


def test_observe_keys_the_users_labels(tmp_path: Path) -> None:
    # A label changed in the config changes the image: the plan must build it again.
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY x /x\n")
    (tmp_path / "x").write_text("x")
    repo = parse_repository("localhost:5000/o/app")

    def image(labels: dict[str, str]) -> DesiredImage:
        spec = BuildSpec(tmp_path, tmp_path / "Dockerfile", None, {}, labels)
        tag = DesiredTag(repo.with_tag("main"), "tags[0]", False)
        return DesiredImage("app", (repo,), (tag,), spec, None, None)

    def key(labels: dict[str, str]) -> str:
        return observe([image(labels)], _EmptyRegistry()).observed.content_keys["app"]

    assert key({"org.example.a": "1"}) != key({"org.example.a": "2"})
    assert key({}) != key({"org.example.a": "1"})


def test_observe_builds_keys_only_the_images_named(tmp_path: Path) -> None:
    # apply of a saved plan keys again only the images the plan builds: the others' Dockerfiles
    # are not read, their bases not looked up, their contexts not hashed (here neither exists).
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY x /x\n")
    (tmp_path / "x").write_text("x")
    repo = parse_repository("localhost:5000/o/app")
    gone = tmp_path / "gone"

    def image(name: str, context: Path) -> DesiredImage:
        spec = BuildSpec(context, context / "Dockerfile", None, {}, {})
        tag = DesiredTag(repo.with_tag(name), "tags[0]", False)
        return DesiredImage(name, (repo,), (tag,), spec, None, None)

    images = [image("app", tmp_path), image("tagged", gone)]
    done = observe_builds(images, _EmptyRegistry(), building={"app"})
    full = observe(images[:1], _EmptyRegistry()).observed.content_keys
    assert done.observed.content_keys == full  # the key observe computes, nothing else
    assert done.bases == {"app": ()}
    assert [i.name for i in done.images] == ["app", "tagged"]  # every image, for the builds
    assert observe_builds(images, _EmptyRegistry(), building=()).observed.content_keys == {}
    with pytest.raises(PlanError, match="cannot read the Dockerfile"):
        observe_builds(images, _EmptyRegistry(), building={"tagged"})
