"""The pure verdicts behind `mailops check`: what counts as ✓, ✗ and !, and what is said."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from mailops.checks import records as checks_records
from mailops.checks.report import FAIL, OK, WARN, Finding, render
from mailops.checks.reputation import check_blocklists
from mailops.checks.tls import cert_verdict, policy_verdicts, relay_verdict
from mailops.dns import mta_sts
from mailops.dns.records import records_for_hosts
from mailops.inventory import parse_mail_settings

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
POLICY = mta_sts.policy_text("enforce", ["mx1.example.com"], 604800)


class _Answers:
    """``ctx.dns`` answering one DNSBL query name with fixed A and TXT records."""

    def __init__(self, a: list[str], txt: str = ""):
        self.a, self.txt = a, txt

    def answers(self, name: str, rtype: str):
        assert name == "10.2.0.192.bl.example.net"
        if rtype == "A":
            return [SimpleNamespace(address=x) for x in self.a]
        return [SimpleNamespace(strings=[self.txt.encode()])] if self.txt else []


def _blocklist_verdict(a: list[str], txt: str = "") -> Finding:
    host = SimpleNamespace(settings=SimpleNamespace(
        hostname="mx1.example.com", blocklists=("bl.example.net",), ipv4=("192.0.2.10",),
        ipv6=()))
    [finding] = check_blocklists(SimpleNamespace(dns=_Answers(a, txt)), host)
    return finding


def test_a_blocklist_code_in_127_is_a_listing_with_the_lists_reason():
    f = _blocklist_verdict(["127.0.0.2"], "spam source, see example.net")
    assert (f.status, f.found) == (FAIL, "192.0.2.10 is listed (127.0.0.2: spam source, see "
                                         "example.net)")


def test_a_lists_refusal_code_is_not_a_listing_but_says_nothing_was_checked():
    f = _blocklist_verdict(["127.255.255.254"])
    assert f.status == WARN and "refused 127.255.255.254" in f.found
    assert "public or open resolver" in f.found
    assert _blocklist_verdict(["127.0.0.1"]).status == WARN  # RFC 5782 §5: never a listing


def test_no_answer_is_not_listed():
    f = _blocklist_verdict([])
    assert (f.status, f.found) == (OK, "192.0.2.10 is not listed")


def test_an_accepted_outside_recipient_is_an_open_relay():
    assert relay_verdict(250, "2.1.5 Ok", "x@gmail.com")[0] == FAIL
    assert relay_verdict(554, "5.7.1 <x@gmail.com>: Relay access denied", "x@gmail.com")[0] == OK
    assert relay_verdict(450, "4.1.2 Domain not found", "x@gmail.com")[0] == WARN


def test_certificates_fail_when_expired_invalid_or_expiring_within_14_days():
    assert cert_verdict(NOW - dt.timedelta(days=1), NOW, None)[0] == FAIL
    assert "expired" in cert_verdict(NOW - dt.timedelta(days=1), NOW, "whatever")[1]
    assert cert_verdict(NOW + dt.timedelta(days=90), NOW, "self-signed certificate")[0] == FAIL
    assert cert_verdict(NOW + dt.timedelta(days=5), NOW, None)[0] == FAIL
    assert cert_verdict(NOW + dt.timedelta(days=60), NOW, None)[0] == OK


def verdicts(served, ids, mx=("mx1.example.com",), error=""):
    return {f.check: f for f in policy_verdicts("example.com", POLICY, served, error, list(ids),
                                                list(mx), "inv.py")}


def test_a_served_policy_matching_record_and_mx_is_ok():
    v = verdicts(POLICY, [mta_sts.policy_id(POLICY)])
    assert v["MTA-STS record"].status == OK and v["MTA-STS policy"].status == OK


def test_a_changed_policy_under_an_old_id_is_reported_with_deploy_and_dns_fixes():
    changed = mta_sts.policy_text("testing", ["mx1.example.com"], 604800)
    v = verdicts(changed, [mta_sts.policy_id(POLICY)])
    f = v["MTA-STS policy"]
    assert f.status == FAIL and "id was not bumped" in f.found
    assert "deploy.py" in f.fix and "mailops dns apply" in f.fix


def test_a_policy_whose_mx_lines_miss_the_real_mx_is_reported():
    other = mta_sts.policy_text("enforce", ["mx9.elsewhere.net"], 604800)
    f = verdicts(other, [mta_sts.policy_id(other)])["MTA-STS policy"]
    assert f.status == FAIL and "mx1.example.com matches no policy mx line" in f.found


def test_an_unreachable_policy_or_two_records_fail():
    v = verdicts(None, [], error="HTTP 404 Not Found")
    assert v["MTA-STS record"].status == FAIL and v["MTA-STS policy"].status == FAIL
    assert "404" in v["MTA-STS policy"].found


def test_the_report_shows_symbols_and_details_only_for_problems():
    text = render([Finding("example.com", "MX", OK, "MX mx1"),
                   Finding("example.com", "SPF", FAIL, "bad", "good", "mail fails", "fix it"),
                   Finding("host mx1", "DKIM signing", WARN, "not checked")])
    assert "✓ MX: MX mx1" in text and "✗ SPF: bad" in text and "! DKIM signing" in text
    assert "fix:      fix it" in text and text.endswith("3 checks: 1 ✓, 1 ✗, 1 !")


# --------------------------------------------------------------------------- records


class Servers:
    """Two authoritative servers of every zone; what each serves is set per test."""

    timeout = 1.0

    def servers(self, zone):
        return [("192.0.2.53", 53), ("198.51.100.53", 53)]


def settings():
    return parse_mail_settings({
        "hostname": "mx1.example.com", "ipv4": ["192.0.2.10"],
        "domains": {"example.com": {"dmarc": {"policy": "reject"},
                                    "mta_sts": {"mode": "enforce"}}},
    })


def findings(monkeypatch, served):
    """check_records over the plan's records; ``served(record, server)`` -> values."""
    records = [r for r in records_for_hosts([settings()], {}) if r.type != "TXT"
               or not r.key.owns("v=spf1")]
    monkeypatch.setattr(checks_records, "served_by_each", lambda dns_, r: {
        f"{h}:{p}": served(r, f"{h}:{p}") for h, p in Servers().servers(r.zone)})
    out = checks_records.check_records(Servers(), records, ["mx1.example.com"], "inv.py", {})
    return {(f.subject, f.check): f for f in out}


def test_every_published_record_that_is_served_as_planned_is_ok(monkeypatch):
    got = findings(monkeypatch, lambda r, s: tuple(sorted(r.values)))
    assert {c for _, c in got} >= {"MX", "DMARC", "MTA-STS record", "MTA-STS host",
                                   "A record"}
    assert all(f.status == OK for f in got.values()), got


def test_a_valid_dmarc_record_that_is_not_the_inventorys_is_reported_with_its_fix(monkeypatch):
    got = findings(monkeypatch, lambda r, s: ("v=DMARC1; p=none",) if r.name.startswith(
        "_dmarc.") else tuple(sorted(r.values)))
    f = got[("example.com", "DMARC")]
    assert f.status == FAIL and "p=none" in f.found and "p=reject" in f.expected
    assert "RFC 7489" in f.why and "dns apply" in f.fix


def test_a_deleted_mta_sts_cname_and_a_wrong_host_address_on_one_server_are_failures(
        monkeypatch):
    def served(r, server):
        if r.name == "mta-sts.example.com":
            return ()
        if r.type == "A" and server.startswith("198.51.100."):
            return ("203.0.113.9",)
        return tuple(sorted(r.values))

    got = findings(monkeypatch, served)
    cname = got[("example.com", "MTA-STS host")]
    assert cname.status == FAIL and "mta-sts.example.com CNAME missing" in cname.found
    assert "RFC 8461" in cname.why
    a = got[("host mx1.example.com", "A record")]
    assert a.status == FAIL and "203.0.113.9" in a.found and "198.51.100.53:53" in a.found
    assert "192.0.2.53" not in a.found and "192.0.2.10" in a.expected


def test_a_server_that_does_not_answer_is_not_checked_rather_than_failed(monkeypatch):
    got = findings(monkeypatch, lambda r, s: None if r.type == "MX" else tuple(sorted(r.values)))
    f = got[("example.com", "MX")]
    assert f.status == WARN and "did not answer" in f.found and f.fix == ""
