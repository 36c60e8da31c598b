"""The inventory's inbound and resolver keys, and what they become in rspamd, Postfix
(postscreen) and unbound configuration — rendered exactly as the deploy renders them."""

from __future__ import annotations

import pytest
from test_inventory_model import good, problems

from mailops.checks.health import _dnsbl_finding, filter_matches
from mailops.inventory import parse_mail_settings
from mailops.services import postfix, resolver, rspamd
from mailops.services.render import render

SPAMHAUS = "zen.spamhaus.org=127.0.0.[2..11]*3"


def test_defaults_filter_port_25_with_documented_thresholds_and_no_dnsbl():
    s = parse_mail_settings(good())
    assert (s.inbound.spam.reject, s.inbound.spam.junk, s.inbound.spam.greylist) == (15, 6, 4)
    assert s.inbound.greylisting and s.inbound.dmarc_enforce and s.inbound.dnsbl == ()
    assert s.resolver.forwarders == ()
    main = render("postfix/main.cf.j2", **postfix.postfix_context(s))
    assert "postscreen_dnsbl_sites" not in main
    assert "postscreen_greet_action = enforce" in main


@pytest.mark.parametrize("entry", ["zen.spamhaus.org", "zen.spamhaus.org*3",
                                   "zen.spamhaus.org=127.0.0*3", "nodots=127.0.0.2*1"])
def test_a_dnsbl_without_exact_return_codes_is_refused_naming_the_field(entry):
    (line,) = problems(good(inbound={"dnsbl": [entry]}))
    assert line.startswith("mailops.inbound.dnsbl[0]: found a DNSBL entry")
    assert "127.255.255.254" in line and "zen.spamhaus.org=127.0.0.[2..11]*3" in line


def test_spam_thresholds_must_be_ordered():
    (line,) = problems(good(inbound={"spam": {"reject": 5, "junk": 6}}))
    assert "mailops.inbound.spam" in line and "greylist <= junk < reject" in line


def test_a_per_domain_override_must_name_a_hosted_domain():
    (line,) = problems(good(inbound={"domains": {"elsewhere.test": {"filter": False}}}))
    assert line.startswith("mailops.inbound.domains.elsewhere.test: found a domain this host "
                           "does not serve")


def test_thresholds_and_greylisting_reach_rspamd():
    s = parse_mail_settings(good(inbound={"spam": {"reject": 20, "junk": 8, "greylist": 5},
                                          "greylist_delay": "10m"}))
    ctx = rspamd.rspamd_context(s)
    actions = render("rspamd/actions.conf.j2", **ctx)
    assert "reject = 20;" in actions and "add_header = 8;" in actions
    assert "greylist = 5;" in actions
    assert "timeout = 600s;" in render("rspamd/greylist.conf.j2", **ctx)
    off = rspamd.rspamd_context(parse_mail_settings(good(inbound={"greylisting": False})))
    assert "greylist = null;" in render("rspamd/actions.conf.j2", **off)
    assert "enabled = false;" in render("rspamd/greylist.conf.j2", **off)


def test_a_forwarding_domain_can_accept_everything():
    s = parse_mail_settings(good(inbound={"domains": {"tenant2.test": {"filter": False}}}))
    conf = render("rspamd/settings.conf.j2", **rspamd.rspamd_context(s))
    assert 'rcpt = "@tenant2.test";' in conf and "reject = null;" in conf
    assert "example.test" not in conf


def test_rspamd_never_signs_and_local_means_loopback_and_mynetworks():
    s = parse_mail_settings(good(mynetworks=["127.0.0.0/8", "192.0.2.0/24"]))
    ctx = rspamd.rspamd_context(s)
    assert "enabled = false;" in render("rspamd/dkim_signing.conf.j2", **ctx)
    assert "sign_inbound = false;" in render("rspamd/arc.conf.j2", **ctx)
    opts = render("rspamd/override.d/options.inc.j2", **ctx)
    assert "local_addrs = [127.0.0.0/8, ::1, 192.0.2.0/24];" in opts
    assert "soft_reject_on_timeout = true;" in opts


def test_rspamd_is_a_milter_of_port_25_only_and_tempfails_when_down():
    s = parse_mail_settings(good(ipv4=["192.0.2.10"], inbound={
        "dnsbl": [SPAMHAUS], "allow": ["198.51.100.7"]}))
    ctx = postfix.postfix_context(s)
    main = render("postfix/main.cf.j2", **ctx)
    master = render("postfix/master.cf.j2", **ctx)
    assert ("mailops_inbound_milters = unix:opendkim/opendkim.sock, "
            "{ inet:127.0.0.1:11332, default_action=tempfail }") in main
    services = master.split("\n# Port 587")[0]
    assert "smtpd     pass" in services and "-o smtpd_milters=$mailops_inbound_milters" in services
    assert master.count("mailops_inbound_milters") == 1  # not on submission(s)
    assert f"postscreen_dnsbl_sites = {SPAMHAUS}" in main
    cidr = render("postfix/postscreen_access.cidr.j2", **ctx)
    assert "192.0.2.10\tpermit" in cidr and "198.51.100.7\tpermit" in cidr


def test_the_resolver_validates_and_forwards_only_when_told():
    plain = render("unbound/unbound.conf.j2",
                   **resolver.unbound_context(parse_mail_settings(good())))
    assert 'module-config: "validator iterator"' in plain and "forward-zone" not in plain
    assert "interface: 127.0.0.1" in plain and "domain-insecure" not in plain
    s = parse_mail_settings(good(resolver={"forwarders": ["10.0.0.53"],
                                           "insecure": ["corp.example"]}))
    fwd = render("unbound/unbound.conf.j2", **resolver.unbound_context(s))
    assert "forward-addr: 10.0.0.53" in fwd and 'domain-insecure: "corp.example"' in fwd
    assert 'local-zone: "test." nodefault' in fwd  # hosted .test domains are looked up


@pytest.mark.parametrize(("pattern", "address", "match"), [
    ("127.0.0.[2..11]", "127.0.0.2", True), ("127.0.0.[2..11]", "127.0.0.11", True),
    ("127.0.0.[2..11]", "127.255.255.254", False), ("127.0.0.[2;4]", "127.0.0.3", False),
    ("127.0.0.2", "127.0.0.2", True)])
def test_dnsbl_filters_match_exact_return_codes(pattern, address, match):
    assert filter_matches(pattern, address) is match


def test_a_list_refusing_the_resolver_is_a_failure_naming_the_cause():
    f = _dnsbl_finding("host mx", "zen.spamhaus.org", "127.0.0.[2..11]", ["127.255.255.254"],
                       ["127.255.255.254"], "inventories/prod.py")
    assert f.status == "fail" and "refuses this resolver" in f.found
    ok = _dnsbl_finding("host mx", "zen.spamhaus.org", "127.0.0.[2..11]", ["127.0.0.2"], [],
                        "inventories/prod.py")
    assert ok.status == "ok"
