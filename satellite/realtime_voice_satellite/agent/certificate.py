"""The satellite's own TLS certificate: made with ``cryptography`` on first start, kept beside its
configuration (``link-certificate.pem``, and ``link-key.pem`` readable by its owner only).

Self-signed, ECDSA P-256, valid for 100 years: nothing checks it against an authority; Home Assistant
binds its fingerprint into the access-key proof. Delete both files to get a new one (no re-pairing
needed).
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..link.tls import LinkCertificate, fingerprint

CERT_FILE = "link-certificate.pem"
KEY_FILE = "link-key.pem"
VALID_DAYS = 36_500


class CertificateError(Exception):
    """The certificate files cannot be read, written or used; the text says which and why."""


def ensure_certificate(directory: Path, name: str = "satellite") -> LinkCertificate:
    """The certificate in ``directory``, made there first if it is not yet."""
    cert_file, key_file = directory / CERT_FILE, directory / KEY_FILE
    if not cert_file.exists() or not key_file.exists():
        _generate(cert_file, key_file, name)
    try:
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
        serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (OSError, ValueError) as err:
        raise CertificateError(
            f"{cert_file} / {key_file}: cannot be used ({err}); delete both to get new ones"
        ) from None
    der = certificate.public_bytes(serialization.Encoding.DER)
    return LinkCertificate(cert_file, key_file, fingerprint(der))


def _generate(cert_file: Path, key_file: Path, name: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"realtime-voice {name}"[:64])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        cert_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_file.unlink(missing_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(key_pem)
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    except OSError as err:
        raise CertificateError(
            f"cannot write the link certificate in {cert_file.parent}: {err.strerror} "
            "(set link.state_dir to a directory the satellite may write)"
        ) from None
