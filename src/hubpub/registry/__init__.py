"""hubpub's OCI registry client (docs/registry.md; docs/architecture.md#module-layout).

    client.py       RegistryClient: lifecycle, endpoints, manifests, tags, blob reads
    copy.py         registry-side copies: blobs once per registry, children first, tag last
    upload.py       blob uploads: mounts, upload sessions and their restarts
    transport.py    endpoints, request slots, the 429 gate, redirects, driving the auth flow
    probe.py        first contact: which scheme answers, and the challenge
    retry.py        RetryPolicy and the retry loop (429 / 5xx / resets)
    sessions.py     pooled sessions and TLS trust (ca_file, certs.d)
    urls.py         Link headers, loopback hosts, redirects that keep Authorization
    errors.py       what a failure means, and its message
    auth.py         the token cache, the auth flow (a generator)
    challenges.py   WWW-Authenticate challenges and token scopes
    credentials.py  the Docker config and credential helpers, environment variables first
    models.py       RegistryOptions, ManifestInfo, Manifest, Descriptor, media types

Layers: client -> (copy, upload) -> transport (with probe, retry, sessions) -> auth; errors,
challenges, urls and models are pure and used from below.

Errors raised are the registry children of :class:`hubpub.errors.RegistryError`.
"""

from hubpub.registry.challenges import read_scopes, write_scopes
from hubpub.registry.client import RegistryClient
from hubpub.registry.models import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MANIFEST_ACCEPT,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    ManifestInfo,
    RegistryOptions,
)
from hubpub.registry.retry import RetryPolicy

__all__ = [
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "MANIFEST_ACCEPT",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Descriptor",
    "Manifest",
    "ManifestInfo",
    "RegistryClient",
    "RegistryOptions",
    "RetryPolicy",
    "read_scopes",
    "write_scopes",
]
