"""The pure verdicts behind `mailops check`: what counts as ✓, ✗ and !, and what is said."""

from __future__ import annotations

import datetime as dt

from mailops.checks.posture import (
    FAIL,
    OK,
    WARN,
    Finding,
    blocklist_query,
    cert_verdict,
    drift_verdict,
    is_listing,
    policy_verdicts,
    relay_verdict,
    render,
)
from mailops.dns import mta_sts

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
POLICY = mta_sts.policy_text("enforce", ["mx1.example.com"], 604800)


def test_blocklist_names_reverse_the_address_under_the_zone():
    assert blocklist_query("192.0.2.10", "bl.example.net") == "10.2.0.192.bl.example.net"
    name = blocklist_query("2001:db8::1", "bl.example.net")
    assert name.startswith("1.0.0.0.") and name.endswith(".8.b.d.0.1.0.0.2.bl.example.net")


def test_only_127_answers_are_listings_and_list_error_codes_are_not():
    assert is_listing(["127.0.0.2"])
    assert not is_listing(["127.255.255.254"])  # "query refused" code, not a listing
    assert not is_listing([])


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


def test_a_valid_dmarc_record_that_is_not_the_inventorys_is_reported_with_its_fix():
    want = "v=DMARC1; p=reject; rua=mailto:postmaster@example.com; adkim=s; aspf=s"
    assert drift_verdict("example.com", "DMARC", want, want, "inv.py") is None
    f = drift_verdict("example.com", "DMARC", "v=DMARC1; p=none", want, "inv.py")
    assert f.status == FAIL and "p=reject" in f.expected and "dns apply" in f.fix
