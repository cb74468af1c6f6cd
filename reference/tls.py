"""TLS for the reference server: the configured certificate or a self-signed one.

A test server needs encryption to exercise STARTTLS, not a trusted identity. The
self-signed certificate (EC P-256: milliseconds to make, unlike RSA) is made on
first use and cached per set of names for the whole process, so starting an
embedded server stays fast and many instances share one certificate.
"""

from __future__ import annotations

import datetime
import ssl
import tempfile
from functools import lru_cache
from pathlib import Path

from reference.config import ConfigError, ServerConfig


def server_context(config: ServerConfig) -> ssl.SSLContext:
    """An SSL context for the server side, built once per certificate."""
    if config.certificate is not None:
        key = config.private_key or config.certificate
        return _context_from_files(str(config.certificate), str(key))
    names = (config.domain,) + ((config.muc_host,) if config.muc_host else ())
    return _self_signed_context(names)


@lru_cache(maxsize=16)
def _context_from_files(certificate: str, private_key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certificate, private_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the TLS certificate {certificate} with key {private_key}: {exc}"
        ) from None
    return context


@lru_cache(maxsize=16)
def _self_signed_context(names: tuple[str, ...]) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    # ssl loads certificates only from files: write them privately, load, delete.
    directory = Path(tempfile.mkdtemp(prefix="scansion-reference-tls-"))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert_path), str(key_path))
    cert_path.unlink()
    key_path.unlink()
    directory.rmdir()
    return context
