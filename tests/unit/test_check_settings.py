"""ACME and blocklist settings: defaults, and clear errors before anything is touched."""

from __future__ import annotations

import pytest

from mailops.inventory import DnsProvider, SettingsError, Tls, parse_mail_settings
from mailops.services.tls import acme_credentials, acme_names

H = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=4$abc$def"


def raw(**tls):
    dns = {"provider": "rfc2136", "server": "192.0.2.53"}
    return {"hostname": "mx1.example.com", "tls": tls,
            "domains": {"example.com": {"dns": dns, "mailboxes": {"a": {"password_hash": H}}},
                        "example.org": {"dns": dns, "mta_sts": {"mode": "none"}}}}


def test_acme_defaults_to_lets_encrypt_production_with_a_60_second_wait():
    s = parse_mail_settings(raw(mode="acme"))
    assert s.tls.acme_server == Tls().acme_server == "https://acme-v02.api.letsencrypt.org/directory"
    assert s.tls.acme_propagation_seconds == 60 and s.blocklists == ()


def test_the_certificate_names_the_host_and_each_policy_domain():
    s = parse_mail_settings(raw(mode="acme"))
    assert acme_names(s) == ["mx1.example.com", "mta-sts.example.com"]


def test_acme_refuses_a_manual_dns_domain_and_a_non_https_server():
    bad = raw(mode="acme", acme_server="http://acme.example/dir")
    bad["domains"]["example.org"]["dns"] = {"provider": "manual"}
    with pytest.raises(SettingsError) as e:
        parse_mail_settings(bad)
    text = str(e.value)
    assert "tls.acme_server" in text and "example.org.dns.provider" in text


def test_acme_refuses_domains_at_two_provider_accounts():
    bad = raw(mode="acme")
    bad["domains"]["example.org"]["dns"] = {"provider": "cloudflare"}
    with pytest.raises(SettingsError, match="same provider"):
        parse_mail_settings(bad)


def test_the_rfc2136_credentials_file_carries_the_tsig_key_from_the_environment_value():
    rfc2136 = DnsProvider(kind="rfc2136", server="192.0.2.53")
    text = acme_credentials(rfc2136, "k1:hmac-sha256:c2VjcmV0", "example.com")
    assert "dns_rfc2136_name = k1" in text and "dns_rfc2136_algorithm = HMAC-SHA256" in text
    assert "dns_rfc2136_secret = c2VjcmV0" in text and "dns_rfc2136_server = 192.0.2.53" in text
    cloudflare = DnsProvider(kind="cloudflare")
    assert acme_credentials(cloudflare, "tok\n", "example.com") == \
        "dns_cloudflare_api_token = tok\n"


def test_a_malformed_tsig_value_is_refused_by_the_one_tsig_parser_without_showing_it():
    from mailops.dns.providers.base import ProviderError

    with pytest.raises(ProviderError) as e:
        acme_credentials(DnsProvider(kind="rfc2136", server="192.0.2.53"),
                         "k1:hmac-sha256:not base64 s3cr3t!", "example.com")
    assert "MAILOPS_TSIG" in str(e.value) and "s3cr3t" not in str(e.value)
