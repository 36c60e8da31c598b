"""Certificates for any number of domains: ACME names split at the CA's limit."""

from __future__ import annotations

from mailops.inventory import parse_mail_settings
from mailops.services.mta_sts import nginx_context
from mailops.services.tls import (
    ACME_MAX_NAMES,
    TLS_CERT,
    TLS_KEY,
    acme_names,
    certificate_for,
    certificates,
)

DNS = {"provider": "rfc2136", "server": "192.0.2.53"}


def host(count: int, mode: str = "acme"):
    tls = {"mode": mode}
    if mode == "files":
        tls.update(cert_file="/x/fullchain.pem", key_file="/x/privkey.pem")
    return parse_mail_settings({
        "hostname": "mx1.example.net", "tls": tls,
        "domains": {f"tenant{i:03d}.example": {"dns": DNS} for i in range(count)}})


def test_250_mta_sts_domains_under_acme_get_certificates_within_the_cas_name_limit():
    s = host(250)
    certs = certificates(s)
    assert [len(c.names) for c in certs] == [100, 100, 51]  # 251 names: host + 250
    assert all(len(c.names) <= ACME_MAX_NAMES for c in certs)
    # Every name exactly once; the host name on the certificate Postfix/Dovecot present.
    assert sorted(n for c in certs for n in c.names) == sorted(acme_names(s))
    assert certs[0].names[0] == "mx1.example.net"
    assert (certs[0].lineage, certs[0].cert, certs[0].key) == ("mailops", TLS_CERT, TLS_KEY)
    assert [c.lineage for c in certs[1:]] == ["mailops-2", "mailops-3"]
    assert certs[2].cert == "/etc/mailops/tls/mailops-3/fullchain.pem"
    assert len({c.directory for c in certs}) == 3


def test_nginx_serves_each_policy_host_with_the_certificate_that_names_it():
    s = host(250)
    sites = {site["domain"]: site for site in nginx_context(s, [
        d.name for d in s.domains])["sites"]}
    for domain, site in sites.items():
        cert = certificate_for(s, f"mta-sts.{domain}")
        assert f"mta-sts.{domain}" in cert.names and site["cert"] == cert.cert
    assert sites["tenant249.example"]["key"] == "/etc/mailops/tls/mailops-3/privkey.pem"
    assert sites["tenant000.example"]["cert"] == TLS_CERT


def test_99_policy_domains_still_fit_one_certificate():
    assert [len(c.names) for c in certificates(host(99))] == [100]


def test_without_acme_the_host_certificate_serves_everything():
    s = host(250, mode="files")
    assert [(c.lineage, c.cert) for c in certificates(s)] == [("mailops", TLS_CERT)]
    assert certificate_for(s, "mta-sts.tenant200.example").cert == TLS_CERT


def test_a_ca_with_a_smaller_limit_gets_smaller_certificates():
    s = parse_mail_settings({
        "hostname": "mx1.example.net",
        "tls": {"mode": "acme", "acme_names_per_certificate": 2},
        "domains": {f"t{i}.example": {"dns": DNS} for i in range(3)}})
    assert [c.names for c in certificates(s)] == [
        ("mx1.example.net", "mta-sts.t0.example"), ("mta-sts.t1.example", "mta-sts.t2.example")]
