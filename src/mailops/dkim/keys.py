"""DKIM key material: generation, the DNS TXT value, the private key file format.

Everything cryptographic happens in process with ``cryptography``; nothing
shells out to openssl.

Private key files (what OpenDKIM 2.11 reads from a KeyTable entry):

- OpenDKIM's ``dkim_privkey_load()`` (libopendkim/dkim.c) hands a key that
  starts with ``-----`` to OpenSSL's ``PEM_read_bio_PrivateKey()`` and anything
  else to ``d2i_PrivateKey_bio()`` (DER). ``PEM_read_bio_PrivateKey`` accepts
  both PKCS#1 (``BEGIN RSA PRIVATE KEY``) and PKCS#8 (``BEGIN PRIVATE KEY``),
  for RSA and — with OpenSSL >= 1.1.1, as on Debian 12 — for Ed25519.
- RSA: we write PKCS#1 PEM, the format ``opendkim-genkey`` has always written.
  dkimpy's ``parse_pem_private_key`` reads it too (it also reads PKCS#8).
- Ed25519: we write PKCS#8 PEM (``BEGIN PRIVATE KEY``, the format of
  ``openssl genpkey -algorithm ed25519``). A bare base64 32-byte seed, which
  some guides show, is NOT PEM, so OpenDKIM would try to parse it as DER and
  fail. dkimpy, on the other hand, signs Ed25519 with ``nacl.signing.SigningKey``
  built from the base64 of the raw 32-byte seed; :func:`dkimpy_private_key`
  converts the PEM file into that form for probes and tests.
  Checked in the lab (tests/lab/test_lab_dkim_rotation.py): Debian 12's opendkim
  2.11.0~beta2-8+deb12u1 signs with a PKCS#8 Ed25519 key under
  ``SignatureAlgorithm ed25519-sha256``, and the signatures verify.

DNS TXT values are derived from the key itself, never typed in:

- RSA (RFC 6376 §3.6.1): ``v=DKIM1; k=rsa; p=<base64 DER SubjectPublicKeyInfo>``.
- Ed25519 (RFC 8463 §4): ``v=DKIM1; k=ed25519; p=<base64 raw 32-byte public key>``.

DUAL SIGNING (checked in the lab, see above): RFC 8463 §5 suggests signing with
both RSA and Ed25519 while Ed25519 support spreads. Debian 12's OpenDKIM 2.11
cannot: with ``MultipleSignatures yes`` it signs once per SigningTable match, but
every signature uses the ONE instance-wide ``SignatureAlgorithm`` — an Ed25519
key under ``rsa-sha256`` makes it tempfail the message ("451 4.7.0 resource
unavailable"), an RSA key under ``ed25519-sha256`` yields an a=ed25519-sha256
signature that never verifies. So a domain has exactly ONE signing algorithm
(``Domain.dkim_algorithm``), all domains of a host share one family, and the
keystore keeps one active key per domain. Supporting dual signing with another
signer would mean one active key per (domain, algorithm) — the state machine is
per key and would run once per algorithm.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

ALGORITHMS = ("rsa-2048", "rsa-3072", "rsa-4096", "ed25519")
DEFAULT_ALGORITHM = "rsa-2048"

# The a= tag of the DKIM-Signature each key type produces (RFC 6376 §3.3, RFC 8463 §3).
SIGNATURE_ALGORITHMS = {
    "rsa-2048": "rsa-sha256",
    "rsa-3072": "rsa-sha256",
    "rsa-4096": "rsa-sha256",
    "ed25519": "ed25519-sha256",
}


class KeyFormatError(ValueError):
    """A private key file is not what the keystore wrote."""


def check_algorithm(algorithm: str) -> str:
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"DKIM algorithm: found {algorithm!r}; expected one of {', '.join(ALGORITHMS)}"
        )
    return algorithm


class PrivateKeyPem:
    """Private key bytes in memory, on their way to a 0600 file.

    Deliberately opaque: ``repr``/``str`` never show the bytes, and it is not a
    dataclass, so nothing auto-generated can print them either.
    """

    __slots__ = ("_pem", "algorithm")

    def __init__(self, pem: bytes, algorithm: str):
        self._pem = pem
        self.algorithm = algorithm

    def to_bytes(self) -> bytes:
        return self._pem

    def __repr__(self) -> str:
        return f"<PrivateKeyPem {self.algorithm} (hidden)>"

    __str__ = __repr__

    def __reduce__(self):  # no pickling of secrets into caches or logs
        raise TypeError("private key material cannot be pickled")


@dataclass(frozen=True)
class NewKey:
    algorithm: str
    private: PrivateKeyPem
    txt_value: str


def generate(algorithm: str) -> NewKey:
    """A fresh key pair for ``algorithm`` with its PEM file bytes and TXT value."""
    check_algorithm(algorithm)
    if algorithm == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    else:
        bits = int(algorithm.split("-")[1])
        # e = 65537: the only exponent RFC 8017 implementations all accept.
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1
            serialization.NoEncryption(),
        )
    return NewKey(algorithm, PrivateKeyPem(pem, algorithm), txt_value_for(key))


def txt_value_for(key) -> str:
    """The DKIM key record (RFC 6376 §3.6.1, RFC 8463 §4) for a private or public key."""
    public = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode('ascii')}"
    if isinstance(public, rsa.RSAPublicKey):
        der = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"
    raise KeyFormatError(f"unsupported key type {type(public).__name__}")


def load_private(pem: bytes):
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        # Never include the bytes in the message.
        raise KeyFormatError(
            f"not a readable unencrypted PEM private key ({type(e).__name__})") from None


def algorithm_of(pem: bytes) -> str:
    """The keystore algorithm name of a PEM private key."""
    key = load_private(pem)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        name = f"rsa-{key.key_size}"
        if name in ALGORITHMS:
            return name
    raise KeyFormatError(f"unsupported key type {type(key).__name__}")


def txt_value_from_pem(pem: bytes) -> str:
    return txt_value_for(load_private(pem))


def dkimpy_private_key(pem: bytes) -> bytes:
    """The ``privkey`` argument dkimpy's ``dkim.sign`` expects for this key.

    RSA: the PEM itself. Ed25519: base64 of the raw 32-byte private key (seed),
    which dkimpy feeds to ``nacl.signing.SigningKey``.
    """
    key = load_private(pem)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(raw)
    return pem


def signature_algorithm(algorithm: str) -> str:
    return SIGNATURE_ALGORITHMS[check_algorithm(algorithm)]
