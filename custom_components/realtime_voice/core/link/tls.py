"""TLS for the link (stdlib ``ssl``): the satellite serves a self-signed certificate, HA does not
verify it against any authority but binds its SHA-256 fingerprint into the access-key proof (see
docs/link-protocol.md, "Encryption"). A relay that presents its own certificate makes the proofs fail.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_client_context: ssl.SSLContext | None = None


@dataclass(frozen=True, slots=True)
class LinkCertificate:
    """The satellite's certificate and private key (PEM files) and the certificate's fingerprint."""

    cert_file: Path
    key_file: Path
    fingerprint: str  # SHA-256 of the DER certificate, 64 lowercase hex


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def server_context(certificate: LinkCertificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(certificate.cert_file, certificate.key_file)
    return context


def client_context() -> ssl.SSLContext:
    """TLS 1.3 without certificate verification: the proof, not a CA, authenticates the satellite.

    Made once; it loads no files (so it is safe in HA's event loop)."""
    global _client_context  # noqa: PLW0603
    if _client_context is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        _client_context = context
    return _client_context


def peer_fingerprint(transport: Any) -> str | None:
    """The fingerprint of the certificate the peer presented on ``transport`` (None: no TLS)."""
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return fingerprint(der) if der else None
