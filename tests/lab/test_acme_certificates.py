"""More names than the CA puts on one certificate: several certificates, picked by SNI.

The lab's Pebble issues like a public CA; the inventory lowers the per-certificate
limit to 2 so the lab's three names (mx1 and two policy hosts) need two certificates.
"""

from __future__ import annotations

import os
import socket
import ssl

import pytest
from cryptography import x509
from labtools import REPO, deploy, on
from mailclients import MX1

pytestmark = pytest.mark.lab


def served(lab, port: int, name: str) -> x509.Certificate:
    ctx = ssl.create_default_context(cafile=str(lab.ca_cert))
    with socket.create_connection((MX1, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def names(cert: x509.Certificate) -> list[str]:
    return sorted(cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName))


def policy(lab, name: str) -> str:
    """GET the MTA-STS policy from mx1 as a sender would: SNI and a verified certificate."""
    ctx = ssl.create_default_context(cafile=str(lab.ca_cert))
    with socket.create_connection((MX1, 443), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            tls.sendall(f"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {name}\r\n"
                        "Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), head
    return body


@pytest.mark.skipif(os.environ.get("MAILOPS_LAB_TLS", "acme") != "acme",
                    reason="the lab runs with MAILOPS_LAB_TLS=files: no ACME server")
def test_names_beyond_the_limit_get_their_own_certificate_and_nginx_picks_it(lab, deployed,
                                                                            tmp_path):
    split = tmp_path / "split.py"
    split.write_text(
        f"exec(open({str(REPO / 'inventories/lab.py')!r}).read())\n"
        "MAILOPS['tls'] = {**MAILOPS['tls'], 'acme_names_per_certificate': 2}\n"
        "check_here(globals())\n")
    try:
        first = deploy(str(split))
        assert first.returncode == 0, first.output[-4000:]
        host_cert = served(lab, 465, "mx1.example.test")
        assert names(host_cert) == ["mta-sts.example.test", "mx1.example.test"]
        tenant2 = served(lab, 443, "mta-sts.tenant2.test")
        assert names(tenant2) == ["mta-sts.tenant2.test"]
        assert served(lab, 443, "mta-sts.example.test").serial_number == \
            host_cert.serial_number
        assert "mx: mx1.example.test" in policy(lab, "mta-sts.tenant2.test")
        assert "mode: enforce" in policy(lab, "mta-sts.example.test")
        again = deploy(str(split))
        assert again.returncode == 0 and again.changed == 0, again.output[-4000:]
    finally:
        back = deploy()
    assert back.returncode == 0, back.output[-4000:]
    # One certificate again: the extra lineage is gone and the host's names all three.
    assert "mailops-2.conf" not in on("mx1", "ls /etc/letsencrypt/renewal").stdout
    assert served(lab, 443, "mta-sts.tenant2.test").serial_number == \
        served(lab, 465, "mx1.example.test").serial_number
