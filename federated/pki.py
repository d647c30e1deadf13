"""Throwaway keys for a federation on loopback: a CA, the SuperLink's TLS certificate signed by it,
and one node-authentication key pair per clinic's SuperNode (Flower wants NIST-curve EC keys in
OpenSSH format). In production the hospital's CA issues the SuperLink certificate and each clinic
makes its own key pair; only the public key travels to the hospital (``flwr supernode register``).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_FOR = dt.timedelta(days=1)  # a loopback run's certificates are thrown away with it


@dataclass(frozen=True)
class ServerCertificates:
    ca: Path
    certificate: Path
    key: Path


@dataclass(frozen=True)
class NodeKeys:
    private: Path
    public: Path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_server_certificates(folder: Path, *, host: str = "127.0.0.1") -> ServerCertificates:
    """A CA and a SuperLink certificate for ``host`` (an IP address, also valid for ``localhost``)."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ildscreen federation CA (loopback)")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + VALID_FOR)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA384()))
    key = ec.generate_private_key(ec.SECP384R1())
    certificate = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
                   .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + VALID_FOR)
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)),
                                                               x509.DNSName("localhost")]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .sign(ca_key, hashes.SHA384()))
    folder.mkdir(parents=True, exist_ok=True)
    return ServerCertificates(_write(folder / "ca.pem", ca.public_bytes(serialization.Encoding.PEM)),
                              _write(folder / "superlink.pem", certificate.public_bytes(serialization.Encoding.PEM)),
                              _write(folder / "superlink.key", _pem_key(key)))


def make_node_keys(folder: Path, name: str) -> NodeKeys:
    """A clinic SuperNode's authentication key pair (P-384, OpenSSH format)."""
    key = ec.generate_private_key(ec.SECP384R1())
    folder.mkdir(parents=True, exist_ok=True)
    private = _write(folder / f"{name}.key", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    public = _write(folder / f"{name}.pub", key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH))
    return NodeKeys(private, public)
