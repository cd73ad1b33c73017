"""Image references: the standard-``re`` path (``_parse_common``) gives exactly what
docker-image-py gives, and leaves it everything else, errors included (reference.py's
docstring: docker-image-py is imported only when needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hubpub.errors import ReferenceError_
from hubpub.reference import (
    Reference,
    Repository,
    _parse_common,
    _parse_with_docker_image,
    parse_reference,
)

HEX = "0123456789abcdef"
SHA256 = "sha256:" + "0123456789abcdef" * 4


def authority(text: str) -> Reference | tuple[str, str]:
    """docker-image-py's answer: the reference, or the error's type and message (not only
    ReferenceError_: docker-image-py's InvalidDigest is no InvalidReference, and escapes)."""
    try:
        return _parse_with_docker_image(text)
    except Exception as exc:
        return type(exc).__name__, str(exc)


def answer(text: str) -> Reference | tuple[str, str]:
    try:
        return parse_reference(text)
    except Exception as exc:
        return type(exc).__name__, str(exc)


# Inputs the common path must take itself, and what distribution makes of them.
COMMON = [
    ("ubuntu", "docker.io", "library/ubuntu", None, None),
    ("ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", None),
    ("library/ubuntu", "docker.io", "library/ubuntu", None, None),
    ("jpetazzo/figlet:sha-1a2b3c4", "docker.io", "jpetazzo/figlet", "sha-1a2b3c4", None),
    ("docker.io/ubuntu", "docker.io", "library/ubuntu", None, None),
    ("index.docker.io/x/y", "docker.io", "x/y", None, None),
    ("index.docker.io/y", "docker.io", "library/y", None, None),
    ("registry-1.docker.io/x/y", "registry-1.docker.io", "x/y", None, None),
    ("localhost/x", "localhost", "x", None, None),
    ("localhost:5000/o/app:T_1", "localhost:5000", "o/app", "T_1", None),
    ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", None, None),
    ("ghcr.io/a/b@" + SHA256, "ghcr.io", "a/b", None, SHA256),
    ("a/b:t@" + SHA256, "docker.io", "a/b", "t", SHA256),
    ("Foo/bar", "Foo", "bar", None, None),  # an uppercase first component is a host
    ("my-host:80/a__b.c-d---e/f", "my-host:80", "a__b.c-d---e/f", None, None),
    ("  spaced/name  ", "docker.io", "spaced/name", None, None),
    ("x/" + "a" * 253, "docker.io", "x/" + "a" * 253, None, None),
    ("t:" + "v" * 128, "docker.io", "library/t", "v" * 128, None),
]

# Inputs left to docker-image-py: errors (with its reason), and forms the port leaves out.
DEFERRED = [
    "",
    "UPPER",
    "x/Y",
    "docker.io/X/y:SHA",
    "jpetazzo/Figlet",
    "Bad Ref",
    "a" * 64,
    "a/b:",
    "a/b@sha256:" + "A" * 64,
    "a/b@sha256:abc",
    "a/b@sha512:" + "0" * 128,  # valid, but not sha256
    "[::1]:5000/a/b",  # valid, an IPv6 host
    "x/" + "a" * 254,  # too long by one
    "t:" + "v" * 129,
    "a.b_c/x",
    "a_b:c/x",
    "foo:bar/x",
    "ex.com/a?b",
    "-a/b",
    "a//b",
    "a/b/",
    "héllo/x",
    "a\nb",
    "local host/x",
]


@pytest.mark.parametrize(("text", "registry", "path", "tag", "digest"), COMMON)
def test_common_form_is_parsed_without_docker_image(
    text: str, registry: str, path: str, tag: str | None, digest: str | None
) -> None:
    expected = Reference(Repository(registry, path), tag=tag, digest=digest)
    assert _parse_common(text.strip()) == expected
    assert authority(text) == expected
    assert parse_reference(text) == expected


@pytest.mark.parametrize("text", DEFERRED)
def test_the_rest_is_left_to_docker_image(text: str) -> None:
    assert _parse_common(text.strip()) is None
    assert answer(text) == authority(text)


def test_an_error_keeps_distributions_reason() -> None:
    with pytest.raises(ReferenceError_) as caught:
        parse_reference("docker.io/X/y:SHA")
    assert str(caught.value) == (
        "invalid image reference 'docker.io/X/y:SHA': invalid reference format: "
        "repository name (X/y) must be lowercase"
    )


def test_a_malformed_digest_is_a_reference_error_not_an_internal_one() -> None:
    # docker_image raises InvalidDigest (not an InvalidReference) for uppercase hex.
    with pytest.raises(ReferenceError_) as caught:
        parse_reference("a/b@sha256:" + "A" * 64)
    assert str(caught.value).startswith("invalid image reference 'a/b@sha256:AAAA")


def test_docker_image_is_not_imported_for_common_references() -> None:
    code = (
        "import sys; from hubpub.reference import parse_reference as p; "
        "p('ubuntu'); p('localhost:5000/a/b:1.0'); p('ghcr.io/o/x@" + SHA256 + "'); "
        "print('docker_image' in sys.modules, 'regex' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


# --- property: generated references, valid or nearly ---------------------------------------

# Two families: references built from the grammar (well formed, so that the common path's
# answers are compared often), and nearly well formed ones (each part possibly wrong).
_alnum = st.text("az09", min_size=1, max_size=4)
_separators = st.sampled_from([".", "_", "__", "-", "---"])
_path_component = st.builds(
    lambda first, more: first + "".join(sep + part for sep, part in more),
    _alnum,
    st.lists(st.tuples(_separators, _alnum), max_size=2),
)
_host_component = st.builds(
    "{}{}{}".format, st.text("aZ9", min_size=1, max_size=3), st.text("aZ9-", max_size=3), _alnum
)
_hosts = st.one_of(
    st.sampled_from(["localhost", "docker.io", "index.docker.io", "registry-1.docker.io"]),
    st.lists(_host_component, min_size=1, max_size=3).map(".".join),
).flatmap(lambda host: st.sampled_from([host, host + ":5000", host + ":1"]))
_tags = st.builds(str.__add__, st.text("aZ09_", min_size=1, max_size=1), st.text("aZ09_.-"))
_sha256 = st.text(HEX, min_size=64, max_size=64).map("sha256:".__add__)
_digests = st.one_of(_sha256, st.text(HEX, min_size=128, max_size=128).map("sha512:".__add__))

_near_path_components = st.one_of(
    _path_component, st.text("aZ0._-", max_size=5), st.sampled_from(["a..b", "a___b", "a-"])
)
_near_hosts = st.one_of(
    _hosts,
    st.sampled_from(["[::1]", "[::1]:5000", "a_b.c", "LOCALHOST", "-a.b", "a:", "a:x", "a.b:"]),
    st.text("aZ9.:-", min_size=1, max_size=6),
)
_near_tags = st.one_of(_tags, st.text("aZ_.:-/", max_size=3), st.just("v" * 129))
_near_digests = st.one_of(
    _digests,
    st.text(HEX + "ABCxyz", min_size=62, max_size=66).map("sha256:".__add__),
    st.tuples(st.text("az0+._-", max_size=6), st.text(HEX + "AF", max_size=40)).map(":".join),
)


@st.composite
def references(draw: st.DrawFn) -> str:
    near = draw(st.booleans())
    components = _near_path_components if near else _path_component
    text = "/".join(draw(st.lists(components, min_size=1, max_size=3)))
    if draw(st.booleans()):
        text = f"{draw(_near_hosts if near else _hosts)}/{text}"
    if draw(st.booleans()):
        text += f":{draw(_near_tags if near else _tags)}"
    if draw(st.booleans()):
        text += f"@{draw(_near_digests if near else _digests)}"
    if near and draw(st.booleans()):  # a character out of place
        spot = draw(st.integers(0, len(text)))
        text = text[:spot] + draw(st.sampled_from(list("/:@._-A?é \n[]"))) + text[spot:]
    return text


@settings(max_examples=1000, deadline=None)
@given(st.one_of(references(), st.text(max_size=40)))
@example("a" * 64)
@example("A/b")
@example("localhost:/x")
def test_common_path_agrees_with_docker_image(text: str) -> None:
    common = _parse_common(text.strip())
    expected = authority(text)
    if common is not None:
        assert common == expected, text
    if isinstance(expected, Reference) and _port_out_of_range(expected.registry):
        # distribution's grammar takes any digits; hubpub refuses a port no connection can use.
        assert answer(text)[0] == "ReferenceError_", text
        return
    assert answer(text) == expected, text


def _port_out_of_range(registry: str) -> bool:
    _host, colon, port = registry.rpartition(":")
    return bool(colon) and port.isdigit() and not 0 < int(port) < 65536


@pytest.mark.parametrize("text", ["127.0.0.1:99999/x", "example.com:0/x:1", "host.io:65536/a/b"])
def test_a_port_out_of_range_is_refused(text: str) -> None:
    with pytest.raises(ReferenceError_, match=r"port \d+ is out of range \(1-65535\)"):
        parse_reference(text)
