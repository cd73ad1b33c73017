"""Registry redirects (--redirect FROM=TO): what they rewrite and what they refuse."""

from __future__ import annotations

import pytest

from hubpub.errors import PlanError
from hubpub.redirects import Redirects
from hubpub.reference import parse_reference

DIGEST = "sha256:" + "a" * 64


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
