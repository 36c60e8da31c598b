"""MTA-STS policy text and id (RFC 8461 §3.1, §3.2)."""

from __future__ import annotations

import re

from mailops.dns.mta_sts import policy_id, policy_text
from mailops.dns.records import mta_sts_policy, records_for
from mailops.inventory import parse_mail_settings


def settings(mode="testing", max_age=604800, hostname="mx1.example.test", dmarc="reject"):
    return parse_mail_settings({"hostname": hostname, "domains": {"example.test": {
        "mta_sts": {"mode": mode, "max_age": max_age}, "dmarc": {"policy": dmarc}}}})


def sts_txt(s):
    (rec,) = [r for r in records_for(s, {}) if r.name == "_mta-sts.example.test"]
    return rec.values[0]


def test_policy_file_has_version_mode_mx_lines_and_max_age_in_crlf_lines():
    assert policy_text("enforce", ["mx2.example.test", "MX1.example.test."], 86400) == (
        "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: mx2.example.test\r\n"
        "max_age: 86400\r\n")


def test_policy_for_a_domain_lists_its_mail_hosts():
    assert "mx: mx1.example.test\r\n" in mta_sts_policy(settings(), "example.test")


def test_policy_id_is_one_to_thirty_two_alphanumerics():
    assert re.fullmatch(r"[A-Za-z0-9]{1,32}", policy_id(policy_text("testing", ["a.test"], 1)))


def test_txt_announces_the_id_of_the_served_policy():
    s = settings()
    assert sts_txt(s) == f"v=STSv1; id={policy_id(mta_sts_policy(s, 'example.test'))}"


def test_id_is_stable_when_nothing_in_the_policy_changes():
    assert sts_txt(settings()) == sts_txt(settings())
    assert sts_txt(settings()) == sts_txt(settings(dmarc="quarantine"))


def test_id_changes_when_the_mode_the_max_age_or_the_mx_hosts_change():
    base = sts_txt(settings())
    assert sts_txt(settings(mode="enforce")) != base
    assert sts_txt(settings(max_age=86400)) != base
    assert sts_txt(settings(hostname="mx9.example.test")) != base
