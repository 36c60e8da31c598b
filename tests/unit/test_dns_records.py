"""The records a mail host needs, computed from the inventory model."""

from __future__ import annotations

import pytest

from mailops.dns.records import (
    RECOMMENDED,
    REQUIRED,
    RecordError,
    has_version_tag,
    records_for,
    records_for_hosts,
)
from mailops.inventory import SettingsError, parse_mail_settings


def settings(**domain_extra):
    return parse_mail_settings({
        "hostname": "mx1.example.test",
        "ipv4": ["192.0.2.10"],
        "ipv6": ["2001:db8::10"],
        "domains": {
            "example.test": {"dns": {"provider": "rfc2136", "server": "127.0.0.1"},
                             **domain_extra},
            "tenant2.test": {"dns": {"provider": "rfc2136", "server": "127.0.0.1"}},
        },
    })


def by_key(records):
    return {(r.name, r.type): r for r in records}


def value(records, name, rtype):
    (v,) = by_key(records)[(name, rtype)].values
    return v


def test_a_hosted_domain_gets_mx_spf_dmarc_mta_sts_and_tlsrpt_records():
    recs = by_key(records_for(settings(), {}))
    assert recs[("example.test", "MX")].values == ("10 mx1.example.test",)
    for key in [("example.test", "TXT"), ("_dmarc.example.test", "TXT"),
                ("_mta-sts.example.test", "TXT"), ("mta-sts.example.test", "CNAME"),
                ("_smtp._tls.example.test", "TXT"), ("tenant2.test", "MX")]:
        assert key in recs, key


def test_every_record_says_why_in_one_line_and_how_much_it_matters():
    for r in records_for(settings(), {"example.test": [("s1", "v=DKIM1; p=AAAA")]}):
        assert r.reason and "\n" not in r.reason and "RFC" in r.reason
        assert r.level in (REQUIRED, RECOMMENDED)
        assert r.name == r.name.lower() and not r.name.endswith(".")


def test_spf_authorises_the_mx_hosts_and_hard_fails_the_rest_by_default():
    assert value(records_for(settings(), {}), "example.test", "TXT") == "v=spf1 mx -all"


def test_spf_merges_configured_senders_in_order_without_duplicates_and_all_last():
    s = settings(spf={"include": ["spf.provider.test", "spf.provider.test"],
                      "ip4": ["198.51.100.0/24", "198.51.100.7"], "ip6": ["2001:db8:1::/48"],
                      "all": "~all"})
    assert value(records_for(s, {}), "example.test", "TXT") == (
        "v=spf1 mx ip4:198.51.100.0/24 ip4:198.51.100.7 ip6:2001:db8:1::/48 "
        "include:spf.provider.test ~all")


def test_spf_needing_more_than_ten_lookups_is_refused_with_the_rfc_reason():
    # An inventory rule: refused when the inventory loads, before any record is computed.
    with pytest.raises(SettingsError, match=r"11 DNS lookups.*RFC 7208 §4.6.4"):
        settings(spf={"include": [f"spf{i}.provider.test" for i in range(10)]})


def test_spf_record_is_owned_only_by_its_version_tag_at_the_apex():
    spf = by_key(records_for(settings(), {}))[("example.test", "TXT")]
    assert spf.key.owns("v=spf1 a -all") and spf.key.owns("V=SPF1 -all")
    assert not spf.key.owns("google-site-verification=abc")
    assert not spf.key.owns("v=spf10 -all")  # RFC 7208 §4.5: not an SPF record


def test_dmarc_starts_with_v_and_p_and_carries_reports_and_alignment():
    s = settings(dmarc={"policy": "quarantine", "subdomain_policy": "reject",
                        "rua": ["dmarc@example.test", "reports@tenant2.test"],
                        "adkim": "r", "pct": 50})
    assert value(records_for(s, {}), "_dmarc.example.test", "TXT") == (
        "v=DMARC1; p=quarantine; sp=reject; "
        "rua=mailto:dmarc@example.test,mailto:reports@tenant2.test; adkim=r; aspf=s; pct=50")


def test_dmarc_defaults_to_reject_with_reports_to_postmaster():
    assert value(records_for(settings(), {}), "_dmarc.example.test", "TXT") == (
        "v=DMARC1; p=reject; rua=mailto:postmaster@example.test; adkim=s; aspf=s; pct=100")


def test_a_bang_in_a_report_address_is_percent_encoded_so_it_is_not_a_size_limit():
    s = settings(dmarc={"rua": ["a!b@example.test"]})
    assert "rua=mailto:a%21b@example.test;" in value(records_for(s, {}), "_dmarc.example.test",
                                                     "TXT")


def test_reports_sent_to_another_hosted_domain_get_its_authorisation_record():
    s = settings(dmarc={"rua": ["reports@tenant2.test"]})
    rec = by_key(records_for(s, {}))[("example.test._report._dmarc.tenant2.test", "TXT")]
    assert rec.values == ("v=DMARC1",) and rec.zone == "tenant2.test"


def test_each_published_dkim_selector_gets_its_own_txt_record():
    recs = by_key(records_for(settings(), {"example.test": [("s202611a", "v=DKIM1; p=AA"),
                                                            ("s202611b", "v=DKIM1; p=BB")]}))
    assert recs[("s202611a._domainkey.example.test", "TXT")].values == ("v=DKIM1; p=AA",)
    assert recs[("s202611b._domainkey.example.test", "TXT")].values == ("v=DKIM1; p=BB",)


def test_long_dkim_value_stays_one_whole_string_in_the_record():
    long = "v=DKIM1; k=rsa; p=" + "A" * 392
    rec = by_key(records_for(settings(), {"example.test": [("s1", long)]}))[
        ("s1._domainkey.example.test", "TXT")]
    assert rec.values == (long,)


def test_mail_host_gets_a_and_aaaa_in_its_zone_when_addresses_are_known():
    recs = by_key(records_for(settings(), {}))
    assert recs[("mx1.example.test", "A")].values == ("192.0.2.10",)
    assert recs[("mx1.example.test", "AAAA")].values == ("2001:db8::10",)
    assert recs[("mx1.example.test", "A")].zone == "example.test"


def test_mail_host_outside_the_managed_zones_gets_no_address_record():
    s = parse_mail_settings({"hostname": "mail.elsewhere.test", "ipv4": ["192.0.2.10"],
                             "domains": {"example.test": {}}})
    assert not [r for r in records_for(s, {}) if r.type in ("A", "AAAA")]


def test_unknown_addresses_give_no_address_record():
    s = parse_mail_settings({"hostname": "mx1.example.test", "domains": {"example.test": {}}})
    assert not [r for r in records_for(s, {}) if r.type in ("A", "AAAA")]


def test_two_hosts_serving_a_domain_become_two_mx_and_two_policy_mx_lines():
    a = settings()
    b = parse_mail_settings({"hostname": "mx2.example.test", "ipv4": ["192.0.2.11"],
                             "domains": {"example.test": {"dns": {"provider": "rfc2136",
                                                                   "server": "127.0.0.1"}}}})
    recs = by_key(records_for_hosts([a, b], {}))
    assert recs[("example.test", "MX")].values == ("10 mx1.example.test", "10 mx2.example.test")
    assert recs[("tenant2.test", "MX")].values == ("10 mx1.example.test",)
    assert recs[("mx2.example.test", "A")].values == ("192.0.2.11",)
    assert value(records_for_hosts([a, b], {}), "_mta-sts.example.test", "TXT") != \
        value(records_for(a, {}), "_mta-sts.example.test", "TXT")


def test_hosts_describing_a_domains_dns_differently_is_an_error():
    a = settings()
    b = parse_mail_settings({"hostname": "mx2.example.test",
                             "domains": {"example.test": {"dmarc": {"policy": "none"},
                                                          "dns": {"provider": "rfc2136",
                                                                  "server": "127.0.0.1"}}}})
    with pytest.raises(RecordError, match="differently"):
        records_for_hosts([a, b], {})


def test_mta_sts_mode_none_publishes_no_mta_sts_records():
    names = {r.name for r in records_for(settings(mta_sts={"mode": "none"}), {})}
    assert "_mta-sts.example.test" not in names and "mta-sts.example.test" not in names
    assert "_mta-sts.tenant2.test" in names


def test_mta_sts_host_is_a_cname_to_the_mail_host():
    assert value(records_for(settings(), {}), "mta-sts.example.test", "CNAME") == \
        "mx1.example.test"


def test_tlsrpt_sends_reports_to_the_configured_addresses():
    s = settings(tlsrpt={"rua": ["tls@example.test", "ops@tenant2.test"]})
    assert value(records_for(s, {}), "_smtp._tls.example.test", "TXT") == \
        "v=TLSRPTv1; rua=mailto:tls@example.test,mailto:ops@tenant2.test"


def test_records_use_the_domains_ttl():
    s = settings(dns={"provider": "rfc2136", "server": "127.0.0.1", "ttl": 3600})
    assert {r.ttl for r in records_for(s, {}) if r.domain == "example.test"} == {3600}


def test_version_tags_need_their_terminator():
    assert has_version_tag("v=DMARC1; p=none", "v=DMARC1")
    assert has_version_tag("v=STSv1;id=1", "v=STSv1")
    assert not has_version_tag("v=DMARC10; p=none", "v=DMARC1")
