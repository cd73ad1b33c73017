"""hubpub's OCI registry client (issue 4; docs/contracts.md, "registry").

    client.py       RegistryClient: manifests, tags, blobs, uploads, copies, the thread pool
    transport.py    sessions per registry, TLS, retries (429 / 5xx / resets), redirects, errors
    auth.py         challenges, scopes, the token cache, the auth flow (a generator)
    credentials.py  the Docker config and credential helpers, environment variables first
    models.py       RegistryOptions, ManifestInfo, Manifest, Descriptor, media types

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
