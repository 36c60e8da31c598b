"""DKIM key material: TXT values derived from the key, file formats, real signatures."""

from __future__ import annotations

import base64
import pickle
from datetime import UTC, datetime

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailops.dkim import keys as keymod
from mailops.dkim.keystore import Keystore

DOMAIN = "example.com"

MESSAGE = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: Bob <bob@example.org>\r\n"
    b"Subject: DKIM probe\r\n"
    b"Date: Tue, 03 Nov 2026 12:00:00 +0000\r\n"
    b"Message-ID: <probe-1@example.com>\r\n"
    b"\r\n"
    b"Hello Bob,\r\n"
    b"this message is signed by the keystore's key.\r\n"
)


def _tags(txt: str) -> dict[str, str]:
    return dict(part.strip().split("=", 1) for part in txt.split(";"))


def _clock():
    return datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def test_rsa_txt_value_is_the_base64_der_subject_public_key_info_of_the_key():
    new = keymod.generate("rsa-2048")
    tags = _tags(new.txt_value)
    assert tags["v"] == "DKIM1" and tags["k"] == "rsa"
    public = serialization.load_der_public_key(base64.b64decode(tags["p"]))
    private = serialization.load_pem_private_key(new.private.to_bytes(), None)
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.public_numbers() == private.public_key().public_numbers()
    assert new.txt_value.startswith("v=DKIM1; k=rsa; p=")


def test_ed25519_txt_value_is_the_base64_of_the_raw_32_byte_public_key():
    new = keymod.generate("ed25519")
    tags = _tags(new.txt_value)
    assert tags["v"] == "DKIM1" and tags["k"] == "ed25519"
    raw = base64.b64decode(tags["p"])
    assert len(raw) == 32
    private = serialization.load_pem_private_key(new.private.to_bytes(), None)
    assert raw == private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def test_rsa_private_key_file_is_pkcs1_pem_which_opendkim_and_dkimpy_read():
    pem = keymod.generate("rsa-2048").private.to_bytes()
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    assert keymod.dkimpy_private_key(pem) == pem


def test_ed25519_private_key_file_is_pkcs8_pem_and_dkimpy_gets_the_base64_raw_seed():
    pem = keymod.generate("ed25519").private.to_bytes()
    # OpenDKIM passes anything starting with "-----" to PEM_read_bio_PrivateKey.
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    seed = base64.b64decode(keymod.dkimpy_private_key(pem))
    assert len(seed) == 32
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw() == (
        key.public_key().public_bytes_raw()
    )


@pytest.mark.parametrize("algorithm,bits", [("rsa-3072", 3072), ("rsa-4096", 4096)])
def test_larger_rsa_algorithms_generate_keys_of_that_size(algorithm, bits):
    new = keymod.generate(algorithm)
    assert keymod.algorithm_of(new.private.to_bytes()) == algorithm
    key = serialization.load_pem_private_key(new.private.to_bytes(), None)
    assert key.key_size == bits


def test_unknown_algorithm_is_refused_with_the_choices_named():
    with pytest.raises(ValueError, match="rsa-2048, rsa-3072, rsa-4096, ed25519"):
        keymod.generate("rsa-1024")


@pytest.mark.parametrize("algorithm", ["rsa-2048", "ed25519"])
def test_a_message_signed_with_the_keystore_key_file_verifies_against_its_txt_value(
    tmp_path, algorithm
):
    ks = Keystore(tmp_path / "ks", clock=_clock)
    key = ks.ensure_key(DOMAIN, algorithm)
    privkey = keymod.dkimpy_private_key(key.private_key_path.read_bytes())
    sig = dkim.sign(
        MESSAGE,
        key.selector.encode(),
        DOMAIN.encode(),
        privkey,
        signature_algorithm=key.signature_algorithm.encode(),
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    assert f"a={key.signature_algorithm}".encode() in sig
    asked = []

    def dnsfunc(name, timeout=5):
        asked.append(name)
        if name == f"{key.selector}._domainkey.{DOMAIN}.".encode():
            return key.txt_value.encode()
        return None

    assert dkim.verify(sig + MESSAGE, dnsfunc=dnsfunc)
    assert asked == [f"{key.selector}._domainkey.{DOMAIN}.".encode()]


@pytest.mark.parametrize("algorithm", ["rsa-2048", "ed25519"])
def test_a_signature_does_not_verify_against_another_keys_txt_value(tmp_path, algorithm):
    ks = Keystore(tmp_path / "ks", clock=_clock)
    key = ks.ensure_key(DOMAIN, algorithm)
    other = keymod.generate(algorithm)
    privkey = keymod.dkimpy_private_key(key.private_key_path.read_bytes())
    sig = dkim.sign(MESSAGE, key.selector.encode(), DOMAIN.encode(), privkey,
                    signature_algorithm=key.signature_algorithm.encode())
    assert not dkim.verify(sig + MESSAGE, dnsfunc=lambda name, timeout=5: other.txt_value.encode())


def test_in_memory_private_key_never_shows_its_bytes_and_cannot_be_pickled():
    new = keymod.generate("ed25519")
    pem = new.private.to_bytes()
    body = b"".join(pem.split(b"\n")[1:-2]).decode()
    for text in (repr(new), str(new), repr(new.private), str(new.private), f"{new.private}"):
        assert body not in text
        assert body[-44:-4] not in text
    with pytest.raises(TypeError):
        pickle.dumps(new.private)
