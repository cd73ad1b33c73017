"""The search of other tags, against a registry given as a table: which tags are looked at."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import pytest

from hubpub.contentkey import LABEL
from hubpub.desired import BuildSpec, DesiredImage, DesiredTag
from hubpub.labelcache import LabelCache
from hubpub.othertags import MAX_OTHER_TAGS, search_other_tags
from hubpub.reference import Reference, Repository, parse_repository
from hubpub.registry.models import DOCKER_MANIFEST, Manifest, ManifestInfo
from hubpub.staged import staging_ref

T = TypeVar("T")
R = TypeVar("R")

REPO = parse_repository("registry.test/team/app")
KEY = "sha256:" + "ab" * 32
OTHER_KEY = "sha256:" + "cd" * 32
CONFIG = "sha256:" + "11" * 32


def _digest(tag: str) -> str:
    return "sha256:" + format(abs(hash(tag)), "x").rjust(64, "0")[:64]


class _TableRegistry:
    """Tags -> digests, each image's config labelled with the key of ``keyed`` (else none);
    records the tags HEADed."""

    def __init__(self, tags: list[str], keyed: dict[str, str]) -> None:
        self.tags = tags
        self.keyed = keyed  # tag -> content key of the image it points to
        self.headed: list[str] = []

    def resolve(self, refs: Iterable[Reference]) -> dict[Reference, ManifestInfo | None]:
        out: dict[Reference, ManifestInfo | None] = {}
        for ref in refs:
            assert ref.tag is not None
            self.headed.append(ref.tag)
            out[ref] = ManifestInfo(_digest(ref.tag), DOCKER_MANIFEST, 100)
        return out

    def get_manifest(self, ref: Reference) -> Manifest:
        body = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": ref.digest,
                "size": 1,
            },
            "layers": [],
        }
        return Manifest.from_bytes(json.dumps(body).encode(), DOCKER_MANIFEST)

    def get_blob(self, repo: Repository, digest: str) -> bytes:
        tag = next((t for t in self.keyed if _digest(t) == digest), None)
        labels = {LABEL: self.keyed[tag]} if tag is not None else {}
        return json.dumps(
            {"architecture": "amd64", "os": "linux", "config": {"Labels": labels}}
        ).encode()

    def list_tags(self, repo: Repository, *, missing_ok: bool = False) -> list[str]:
        return list(self.tags)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return [fn(item) for item in items]


def _image(tmp_path: Path) -> DesiredImage:
    build = BuildSpec(context=tmp_path, dockerfile=tmp_path / "Dockerfile", target=None)
    tag = DesiredTag(REPO.with_tag("main"), rule="tags[0]", immutable=False)
    return DesiredImage("app", (REPO,), (tag,), build, None, None)


VERSIONS = [f"1.0.{n:03d}" for n in range(MAX_OTHER_TAGS + 50)]
OWN = staging_ref(REPO, KEY).tag or ""
SOMEONE_ELSES = [staging_ref(REPO, OTHER_KEY).tag or "", "hubpub-0123456789ab-linux-arm64"]


@pytest.mark.parametrize(
    ("tags", "keyed", "found"),
    [
        # The staging tag of the key searched for is looked at, however long the list is (it
        # sorts among the user's tags; here it would fall outside the window).
        (["0.1", OWN, *VERSIONS], {OWN: KEY}, OWN),
        # Another content's staging tags take no place of the window: the user's newest tag
        # holding the key is found.
        ([*VERSIONS[:-1], *SOMEONE_ELSES, VERSIONS[-1]], {VERSIONS[-1]: KEY}, VERSIONS[-1]),
        # Nothing holds the key: nothing found.
        ([*VERSIONS, *SOMEONE_ELSES], {}, None),
    ],
)
def test_the_search_looks_at_the_own_staging_tag_and_skips_the_others(
    tmp_path: Path, tags: list[str], keyed: dict[str, str], found: str | None
) -> None:
    registry = _TableRegistry(tags, keyed)
    labels: dict[str, str | None] = {}
    cache = LabelCache(tmp_path / "cache")
    image = _image(tmp_path)
    others = search_other_tags(
        [image], {image.tags[0].ref: None}, {"app": KEY}, labels, None, registry, cache
    )
    assert not set(SOMEONE_ELSES) & set(registry.headed)
    assert len([t for t in registry.headed if not t.startswith("hubpub-")]) <= MAX_OTHER_TAGS
    holders = [ref.tag for ref, digest in others["app"] if labels.get(digest) == KEY]
    assert holders == ([found] if found else [])
