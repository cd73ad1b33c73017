"""Connections to one host: a pooled ``requests.Session`` and the TLS trust it uses.

Owns the session settings (no environment proxies or ``~/.netrc``, no retries of urllib3's
own: the transport retries) and Docker's trust rules: ``ca_file`` from hubpub.toml, else
``certs.d/<host>/ca.crt``, else the system bundle; a client certificate from ``certs.d``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from hubpub.registry.models import RegistryOptions


def certs_d_files(netloc: str, environ: Mapping[str, str]) -> list[Path]:
    """Docker's per-registry trust folders, in the order the engine reads them."""
    folders = [Path("/etc/docker/certs.d") / netloc]
    if environ.get("HOME"):
        folders.append(Path(environ["HOME"]) / ".docker" / "certs.d" / netloc)
    return folders


def new_session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # Proxies come from the environment hubpub was given, not requests' own reading of
    # os.environ, and ~/.netrc must never replace the Authorization hubpub chose.
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def trust_for(netloc: str, options: RegistryOptions, environ: Mapping[str, str]) -> str | bool:
    """``ca_file`` from hubpub.toml, else ``certs.d/<host>/ca.crt``, else the system bundle.
    Verification is never switched off, ``insecure`` included."""
    if options.ca_file is not None:
        return str(options.ca_file)
    for folder in certs_d_files(netloc, environ):
        if (folder / "ca.crt").is_file():
            return str(folder / "ca.crt")
    return True


def client_cert(netloc: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    for folder in certs_d_files(netloc, environ):
        cert, key = folder / "client.cert", folder / "client.key"
        if cert.is_file() and key.is_file():
            return (str(cert), str(key))
    return None
